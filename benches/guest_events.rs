//! Guest programs that repeat one virtualization event in a loop, in paged protected mode.
//!
//! Every program counts EBP down to zero, one event per count, then raises
//! [`pm::EXIT_VECTOR`] (see `emu_suite::pm` for the machine). [`EventMachine::time`] sets EBP
//! to the number of events wanted and returns the wall time of that run alone, so criterion's
//! time per iteration is the time per event. The loop's own bookkeeping (`DEC EBP; JNZ`) is
//! included: two cheap instructions next to events that cost tens to thousands.

use std::time::{Duration, Instant};

use emu_cpu::{Bus, Cpu, Exit, NullBus, Reg};
use emu_suite::pm::{self, EXIT_VECTOR, KERNEL, KSTACK_TOP, USER, USTACK_TOP};
use emu_suite::{load_code, run_until_stop};
use iced_x86::code_asm::*;
use iced_x86::BlockEncoderOptions;

use crate::board_bus::{self, BoardBus};

const RAM: usize = 4 << 20;
/// EFLAGS for ring-3 code that does port I/O: IOPL 3.
const IOPL3: u32 = 0x3002;
/// EFLAGS with interrupts enabled.
const IF: u32 = 0x0202;
/// Pages touched after each CR3 reload.
pub const CR3_PAGES: u32 = 16;
/// PIT channel 0 count for the interrupt benches: 12 ticks of 1.193182 MHz, about 10 us.
pub const PIT_COUNT: u16 = 12;
/// The two pages the page-fault program touches in turn.
const FAULT_A: u32 = pm::DATA + 0x1_0000;
const FAULT_B: u32 = FAULT_A + 0x1000;
/// Kernel variable: the page the #PF handler mapped last.
const LAST_MAPPED: u32 = KERNEL + 0xF000;
/// The routine the self-modifying program rewrites: `MOV EAX, imm32; RET`, on its own page.
const PATCHED: u32 = USER + 0x1000;

/// A machine that runs one kind of event in a loop.
pub struct EventMachine<B: Bus> {
    pub cpu: Cpu<B>,
    ring: u8,
    entry: u32,
    eflags: u32,
    /// Puts memory back in the state a run starts from (before the clock starts).
    prepare: fn(&mut Cpu<B>),
    run: fn(&mut Cpu<B>) -> Exit,
}

impl<B: Bus> EventMachine<B> {
    /// Runs `events` events; returns the wall time of the guest run.
    pub fn time(&mut self, events: u64) -> Duration {
        let n = u32::try_from(events)
            .ok()
            .filter(|&n| n > 0)
            .expect("1 to 2^32-1 events");
        (self.prepare)(&mut self.cpu);
        let stack = if self.ring == 0 {
            KSTACK_TOP
        } else {
            USTACK_TOP
        };
        pm::enter(&mut self.cpu, self.ring, self.entry, stack, self.eflags);
        self.cpu.r[Reg::Ebp as usize] = n;
        let start = Instant::now();
        let exit = (self.run)(&mut self.cpu);
        let dt = start.elapsed();
        let cpu = &self.cpu;
        let v = pm::halted_vector(cpu);
        assert!(
            exit == Exit::Halted && v == Some(EXIT_VECTOR) && cpu.r[Reg::Ebp as usize] == 0,
            "event loop did not finish: {exit:?}, vector {v:?}, eip {:08X}, ebp {}, cr2 {:08X}",
            cpu.eip,
            cpu.r[Reg::Ebp as usize],
            cpu.cr2
        );
        dt
    }
}

/// A bus with one trivial device: every port read returns a counter.
#[derive(Default)]
pub struct CounterBus(u32);

impl Bus for CounterBus {
    fn io_read(&mut self, _port: u16, _size: u8) -> u32 {
        self.0 = self.0.wrapping_add(1);
        self.0
    }
    fn io_write(&mut self, _port: u16, _size: u8, _value: u32) {}
}

type Asm = CodeAssembler;

/// Assembles `body` as 32-bit code for address `base`.
fn asm(base: u32, body: impl FnOnce(&mut Asm) -> Result<(), IcedError>) -> Vec<u8> {
    let mut a = Asm::new(32).unwrap();
    body(&mut a).unwrap();
    a.assemble(base as u64).unwrap()
}

/// User code: `body` once per event (EBP counts down), then the exit.
fn user_loop(body: impl FnOnce(&mut Asm) -> Result<(), IcedError>) -> Vec<u8> {
    asm(USER, |a| {
        let mut top = a.create_label();
        a.set_label(&mut top)?;
        body(a)?;
        a.dec(ebp)?;
        a.jnz(top)?;
        a.int(EXIT_VECTOR as u32)
    })
}

fn run_plain<B: Bus>(cpu: &mut Cpu<B>) -> Exit {
    run_until_stop(cpu, u64::MAX / 2)
}

fn no_prepare<B: Bus>(_: &mut Cpu<B>) {}

/// The paged machine with `kernel` at [`KERNEL`] and `user` at [`USER`].
fn machine<B: Bus>(bus: B, kernel: &[u8], user: &[u8]) -> Cpu<B> {
    let mut cpu = pm::paged_cpu(RAM, bus);
    load_code(&mut cpu, KERNEL, kernel);
    load_code(&mut cpu, USER, user);
    cpu
}

fn ring3<B: Bus>(cpu: Cpu<B>, eflags: u32, run: fn(&mut Cpu<B>) -> Exit) -> EventMachine<B> {
    EventMachine {
        cpu,
        ring: 3,
        entry: USER,
        eflags,
        prepare: no_prepare,
        run,
    }
}

/// `INT 0x80` from ring 3 through a DPL-3 trap gate to a ring-0 handler that only IRETs.
pub fn int80() -> EventMachine<NullBus> {
    let kernel = asm(KERNEL, |a| a.iretd());
    let user = user_loop(|a| a.int(0x80));
    let mut cpu = machine(NullBus, &kernel, &user);
    pm::set_gate(&mut cpu, 0x80, KERNEL, true, 3);
    ring3(cpu, 0x0002, run_plain)
}

/// `SYSENTER` from ring 3 to a ring-0 entry that only does `SYSEXIT` back.
pub fn sysenter() -> EventMachine<NullBus> {
    let kernel = asm(KERNEL, |a| a.sysexit());
    // SYSEXIT continues at EDX: assemble once to learn where the loop resumes, then again
    // with that address (MOV EDX, imm32 has a fixed length, so nothing moves).
    let build = |resume: u32| {
        let mut a = Asm::new(32).unwrap();
        let mut top = a.create_label();
        let mut back = a.create_label();
        a.set_label(&mut top).unwrap();
        a.mov(ecx, esp).unwrap();
        a.mov(edx, resume).unwrap();
        a.sysenter().unwrap();
        a.set_label(&mut back).unwrap();
        a.dec(ebp).unwrap();
        a.jnz(top).unwrap();
        a.int(EXIT_VECTOR as u32).unwrap();
        let r = a
            .assemble_options(
                USER as u64,
                BlockEncoderOptions::RETURN_NEW_INSTRUCTION_OFFSETS,
            )
            .unwrap();
        (
            r.inner.code_buffer.clone(),
            r.label_ip(&back).unwrap() as u32,
        )
    };
    let (_, resume) = build(0);
    let (user, again) = build(resume);
    assert_eq!(resume, again);
    let mut cpu = machine(NullBus, &kernel, &user);
    cpu.sysenter = [pm::KCODE as u32, KSTACK_TOP, KERNEL];
    ring3(cpu, 0x0002, run_plain)
}

/// User code reading port 40h (IOPL 3, so no bitmap lookup), on any bus.
fn port_in_program<B: Bus>(bus: B, run: fn(&mut Cpu<B>) -> Exit) -> EventMachine<B> {
    let user = user_loop(|a| a.in_(al, 0x40));
    let cpu = machine(bus, &[], &user);
    ring3(cpu, IOPL3, run)
}

/// `IN AL, 40h` answered by a one-line device in the bench: the CPU's exit path alone.
pub fn port_in_device() -> EventMachine<CounterBus> {
    port_in_program(CounterBus::default(), run_plain)
}

/// `IN AL, 40h` answered by the board's 8254 (channel 0 count, brought to the current time).
pub fn port_in_pit() -> EventMachine<BoardBus> {
    port_in_program(board_bus::bus(), board_bus::run)
}

/// A CMOS register read as Linux does it: `OUT 70h` (index: status A) then `IN 71h`.
pub fn cmos_read() -> EventMachine<BoardBus> {
    let user = user_loop(|a| {
        a.mov(al, 0x0A)?;
        a.out(0x70, al)?;
        a.in_(al, 0x71)
    });
    let cpu = machine(board_bus::bus(), &[], &user);
    ring3(cpu, IOPL3, board_bus::run)
}

/// Ring 3 touches two pages in turn; each touch faults. The #PF handler maps the faulting
/// page (writes its PTE, INVLPG), unmaps the page it mapped before (PTE, INVLPG) and IRETs
/// to the access, which then completes.
pub fn page_fault() -> EventMachine<NullBus> {
    let kernel = asm(KERNEL, |a| {
        a.push(eax)?;
        a.push(ebx)?;
        a.mov(eax, cr2)?;
        a.and(eax, !0xFFFi32)?;
        a.mov(ebx, eax)?;
        a.shr(ebx, 10)?; // PTE offset: page number * 4
        a.or(eax, (pm::PTE_P | pm::PTE_W | pm::PTE_U) as i32)?;
        a.mov(dword_ptr(ebx + pm::PT), eax)?;
        a.and(eax, !0xFFFi32)?;
        a.invlpg(byte_ptr(eax))?;
        a.mov(ebx, dword_ptr(LAST_MAPPED))?;
        a.mov(dword_ptr(LAST_MAPPED), eax)?;
        a.invlpg(byte_ptr(ebx))?;
        a.shr(ebx, 10)?;
        a.mov(dword_ptr(ebx + pm::PT), 0)?;
        a.pop(ebx)?;
        a.pop(eax)?;
        a.add(esp, 4)?; // the error code
        a.iretd()
    });
    let user = asm(USER, |a| {
        let mut top = a.create_label();
        let mut done = a.create_label();
        a.set_label(&mut top)?;
        a.mov(eax, dword_ptr(FAULT_A))?;
        a.dec(ebp)?;
        a.jz(done)?;
        a.mov(eax, dword_ptr(FAULT_B))?;
        a.dec(ebp)?;
        a.jnz(top)?;
        a.set_label(&mut done)?;
        a.int(EXIT_VECTOR as u32)
    });
    let mut cpu = machine(NullBus, &kernel, &user);
    pm::set_gate(&mut cpu, 14, KERNEL, false, 0);
    EventMachine {
        prepare: |cpu| {
            pm::set_pte(cpu, FAULT_A, 0);
            pm::set_pte(cpu, FAULT_B, 0);
            cpu.mem.write_u32(LAST_MAPPED, FAULT_B);
        },
        ..ring3(cpu, 0x0002, run_plain)
    }
}

/// Ring 0 reloads CR3 with its own value (dropping every TLB entry) and reads one dword from
/// each of [`CR3_PAGES`] pages, so each reload is followed by that many page walks.
pub fn cr3_reload() -> EventMachine<NullBus> {
    let kernel = asm(KERNEL, |a| {
        let mut top = a.create_label();
        a.set_label(&mut top)?;
        a.mov(eax, cr3)?;
        a.mov(cr3, eax)?;
        for i in 0..CR3_PAGES {
            a.mov(ebx, dword_ptr(pm::DATA + 0x1000 * i))?;
        }
        a.dec(ebp)?;
        a.jnz(top)?;
        a.int(EXIT_VECTOR as u32)
    });
    let cpu = machine(NullBus, &kernel, &[]);
    EventMachine {
        ring: 0,
        entry: KERNEL,
        ..ring3(cpu, 0x0002, run_plain)
    }
}

/// Where the interrupt programs keep their parts in the kernel area.
const IRQ_HANDLER: u32 = KERNEL;
const IRQ_INIT: u32 = KERNEL + 0x100;
const IDLE: u32 = KERNEL + 0x200;

/// The board with its PICs initialised as a PC OS does (IRQ 0-7 at vectors 20h-27h, only
/// IRQ 0 unmasked), PIT channel 0 in mode 2 with count [`PIT_COUNT`], and an IRQ 0 handler
/// that sends EOI, counts one event and IRETs.
fn pit_machine() -> Cpu<BoardBus> {
    let handler = asm(IRQ_HANDLER, |a| {
        let mut done = a.create_label();
        a.push(eax)?;
        a.mov(al, 0x20)?;
        a.out(0x20, al)?; // non-specific EOI
        a.pop(eax)?;
        a.dec(ebp)?;
        a.jz(done)?;
        a.iretd()?;
        a.set_label(&mut done)?;
        a.int(EXIT_VECTOR as u32)
    });
    let init = asm(IRQ_INIT, |a| {
        let out = |a: &mut Asm, port: u32, v: u32| -> Result<(), IcedError> {
            a.mov(al, v)?;
            a.out(port, al)
        };
        for (port, v) in [(0x20, 0x11), (0x21, 0x20), (0x21, 0x04), (0x21, 0x01)] {
            out(a, port, v)?;
        }
        for (port, v) in [(0xA0, 0x11), (0xA1, 0x28), (0xA1, 0x02), (0xA1, 0x01)] {
            out(a, port, v)?;
        }
        out(a, 0x21, 0xFE)?; // mask all but IRQ 0
        out(a, 0xA1, 0xFF)?;
        out(a, 0x43, 0x34)?; // channel 0, low then high byte, mode 2
        out(a, 0x40, (PIT_COUNT & 0xFF) as u32)?;
        out(a, 0x40, (PIT_COUNT >> 8) as u32)?;
        a.int(EXIT_VECTOR as u32)
    });
    let idle = asm(IDLE, |a| {
        let mut top = a.create_label();
        a.set_label(&mut top)?;
        a.hlt()?;
        a.jmp(top)
    });
    let busy = asm(USER, |a| {
        let mut top = a.create_label();
        a.set_label(&mut top)?;
        a.add(eax, 1)?;
        a.jmp(top)
    });
    let mut cpu = machine(board_bus::bus(), &handler, &busy);
    load_code(&mut cpu, IRQ_INIT, &init);
    load_code(&mut cpu, IDLE, &idle);
    pm::set_gate(&mut cpu, 0x20, IRQ_HANDLER, false, 0);
    pm::enter(&mut cpu, 0, IRQ_INIT, KSTACK_TOP, 0x0002);
    let exit = board_bus::run(&mut cpu);
    assert_eq!(
        (exit, pm::halted_vector(&cpu)),
        (Exit::Halted, Some(EXIT_VECTOR)),
        "PIC/PIT setup"
    );
    cpu
}

/// PIT interrupts while the guest idles in `HLT` at ring 0: time skips to each interrupt, so
/// this is the cost of the board event, the PIC, IDT delivery, the handler and IRET.
pub fn pit_irq_hlt() -> EventMachine<BoardBus> {
    EventMachine {
        ring: 0,
        entry: IDLE,
        ..ring3(pit_machine(), IF, board_bus::run)
    }
}

/// PIT interrupts while ring 3 busy-loops: wall time per interrupt, including the ~10,000 guest
/// instructions of the loop that run in each 10 us period (unpaced guest time: 1 ns per instruction).
pub fn pit_irq_busy() -> EventMachine<BoardBus> {
    ring3(pit_machine(), IF, board_bus::run)
}

/// Ring 3 stores a new immediate into `MOV EAX, imm32` on another code page, then calls it:
/// the store drops that page's decoded blocks, the call decodes them again.
pub fn smc() -> EventMachine<NullBus> {
    let patched = asm(PATCHED, |a| {
        a.mov(eax, 0x1234_5678)?;
        a.ret()
    });
    let user = user_loop(|a| {
        a.mov(dword_ptr(PATCHED + 1), ebp)?;
        a.call(PATCHED as u64)
    });
    let mut cpu = machine(NullBus, &[], &user);
    load_code(&mut cpu, PATCHED, &patched);
    ring3(cpu, 0x0002, run_plain)
}
