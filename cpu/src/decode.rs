//! Decode once: an iced-x86 instruction becomes a compact [`Op`] whose handler is chosen here,
//! so executing a cached instruction is one indirect jump (from the op before it, see
//! [`thread`]) with its operands pre-digested.

use iced_x86::{ConditionCode, Instruction, Mnemonic as M, OpKind, Register};

use crate::exception::Exc;
use crate::ops::{alu, bcd, bits, control, data, muldiv, shift, stack, string, system, x87};
use crate::regs::NO_REG;
use crate::{Bus, Cpu};

/// What an instruction does: the operation itself, run on one op.
pub type Handler<B> = fn(&mut Cpu<B>, &Op<B>) -> Result<(), Exc>;

/// What an op runs: its [`Handler`] (inlined where small), then the next op of the block
/// with a jump in tail position (see [`thread`]). `ops` is the rest of the block to run,
/// this op first: two argument registers, not three with an index, leave the handlers one
/// more scratch register, and the next op is one pointer step away.
pub type Exec<B> = fn(&mut Cpu<B>, &[Op<B>]) -> Result<(), Exc>;

/// The [`Exec`] entry point of a handler named by path: threaded dispatch, where each op
/// jumps to the next op's entry point itself, so every handler has its own indirect jump
/// (predicted for what usually follows it) and no call returns to a central loop in between.
macro_rules! threaded {
    ($h:expr) => {
        (|cpu: &mut $crate::Cpu<B>, ops: &[$crate::decode::Op<B>]| {
            $crate::decode::thread(cpu, ops, $h)
        }) as $crate::decode::Exec<B>
    };
}
pub(crate) use threaded;

/// Like [`threaded!`] for a handler `$h` with a fast path `$fast` that either does the
/// whole instruction without calling out (returns true) or declines with nothing changed.
/// Both ways end in a jump (to the next op, or to `$h`'s own entry point, which runs the
/// instruction in full), so the fast path keeps nothing live across a call and saves no
/// registers.
macro_rules! threaded_fast {
    ($fast:expr, $h:expr) => {
        (|cpu: &mut $crate::Cpu<B>, ops: &[$crate::decode::Op<B>]| {
            $crate::decode::thread_fast(cpu, ops, $fast, $h)
        }) as $crate::decode::Exec<B>
    };
}
pub(crate) use threaded_fast;

/// Like [`threaded!`] for a handler that works on registers only: it neither reads nor
/// writes EIP and never stops the block (it may fault: the block loop then sets EIP from
/// the op). Such an op skips setting EIP before it and checking for a stop after it; EIP is
/// set only when it is the block's last op (see [`thread_pure`]).
macro_rules! threaded_pure {
    ($h:expr) => {
        (|cpu: &mut $crate::Cpu<B>, ops: &[$crate::decode::Op<B>]| {
            $crate::decode::thread_pure(cpu, ops, $h)
        }) as $crate::decode::Exec<B>
    };
}
pub(crate) use threaded_pure;

/// A conditional branch that does not end its block: when `$cond` holds, `$taken` runs as a
/// full handler (EIP set, and it stops the block); otherwise the op is register-only, as
/// with [`threaded_pure!`] (see [`thread_branch`]).
macro_rules! threaded_branch {
    ($cond:expr, $taken:expr) => {
        (|cpu: &mut $crate::Cpu<B>, ops: &[$crate::decode::Op<B>]| {
            $crate::decode::thread_branch(cpu, ops, $cond, $taken)
        }) as $crate::decode::Exec<B>
    };
}
pub(crate) use threaded_branch;

/// See [`threaded_fast!`]. A fast path only touches registers and host-TLB-mapped data (no
/// code), so it neither faults nor stops the block. It does not see EIP either, except as
/// the block's last op (a CALL or RET), where EIP is set before it as for a full handler.
#[inline(always)]
pub fn thread_fast<
    B: Bus,
    F: FnOnce(&mut Cpu<B>, &Op<B>) -> bool,
    H: FnOnce(&mut Cpu<B>, &Op<B>) -> Result<(), Exc>,
>(
    cpu: &mut Cpu<B>,
    ops: &[Op<B>],
    fast: F,
    h: H,
) -> Result<(), Exc> {
    debug_assert!(!cpu.stop, "a stop is handled by the op that raised it");
    let Some((op, rest)) = ops.split_first() else {
        return Ok(());
    };
    if rest.is_empty() {
        cpu.eip = cpu.op_eip(op);
    }
    if !fast(cpu, op) {
        return thread_slow(cpu, ops, h);
    }
    run_next(cpu, rest)
}

/// The full path of a [`threaded_fast!`] op, kept out of line: inlined, its calls would make
/// the fast path save and restore registers too.
#[inline(never)]
pub fn thread_slow<B: Bus, H: FnOnce(&mut Cpu<B>, &Op<B>) -> Result<(), Exc>>(
    cpu: &mut Cpu<B>,
    ops: &[Op<B>],
    h: H,
) -> Result<(), Exc> {
    thread(cpu, ops, h)
}

/// Jumps to the first op of `rest`; at the end of the block, returns.
#[inline(always)]
fn run_next<B: Bus>(cpu: &mut Cpu<B>, rest: &[Op<B>]) -> Result<(), Exc> {
    match rest.first() {
        Some(next) => (next.exec)(cpu, rest),
        None => Ok(()),
    }
}

/// Runs the first op of `ops` with `h`, then hands over to the next. EIP is set first, to
/// the block's entry EIP plus the op's end offset (what the handler sees as the next
/// instruction's address). A fault or a stop (taken branch, write to code, state the run
/// loop must see) returns with the number of ops from this one to the block's end in
/// `Cpu::op_left`; the end of the block returns too. Depth without the tail call (debug
/// builds) is bounded by the block's length.
#[inline(always)]
pub fn thread<B: Bus, F: FnOnce(&mut Cpu<B>, &Op<B>) -> Result<(), Exc>>(
    cpu: &mut Cpu<B>,
    ops: &[Op<B>],
    h: F,
) -> Result<(), Exc> {
    let Some((op, rest)) = ops.split_first() else {
        return Ok(());
    };
    cpu.eip = cpu.op_eip(op);
    if let Err(e) = h(cpu, op) {
        cpu.op_left = ops.len();
        return Err(e);
    }
    if cpu.stop {
        cpu.op_left = ops.len();
        return Ok(());
    }
    run_next(cpu, rest)
}

/// See [`threaded_pure!`]: runs the first op of `ops` with `h` and hands over to the next
/// with no EIP update and no stop check; the block's last op leaves EIP after itself.
#[inline(always)]
pub fn thread_pure<B: Bus, F: FnOnce(&mut Cpu<B>, &Op<B>) -> Result<(), Exc>>(
    cpu: &mut Cpu<B>,
    ops: &[Op<B>],
    h: F,
) -> Result<(), Exc> {
    let Some((op, rest)) = ops.split_first() else {
        return Ok(());
    };
    if let Err(e) = h(cpu, op) {
        cpu.op_left = ops.len();
        return Err(e);
    }
    debug_assert!(!cpu.stop, "a register-only op stopped the block");
    match rest.first() {
        Some(next) => (next.exec)(cpu, rest),
        None => {
            cpu.eip = cpu.op_eip(op);
            Ok(())
        }
    }
}

/// See [`threaded_branch!`].
#[inline(always)]
pub fn thread_branch<
    B: Bus,
    C: FnOnce(&Cpu<B>) -> bool,
    F: FnOnce(&mut Cpu<B>, &Op<B>) -> Result<(), Exc>,
>(
    cpu: &mut Cpu<B>,
    ops: &[Op<B>],
    cond: C,
    taken: F,
) -> Result<(), Exc> {
    if cond(cpu) {
        return thread(cpu, ops, taken);
    }
    thread_pure(cpu, ops, |_, _| Ok(()))
}

/// What an operand is. Registers are numbered in encoding order within their size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    None,
    Reg,
    Mem,
    Imm,
    Seg,
    /// Control register (MOV CRn).
    Cr,
    /// Debug register (MOV DRn).
    Dr,
}

/// One decoded instruction.
pub struct Op<B: Bus> {
    pub exec: Exec<B>,
    /// Memory displacement; without a memory operand, the far selector of a direct far
    /// JMP/CALL, ENTER's nesting level or a fetch fault's error code.
    pub disp: u32,
    /// Immediate, branch displacement (relative to the next instruction) or far offset; the
    /// third operand's immediate (IMUL r,r/m,imm, SHLD/SHRD count); an x87 escape's
    /// [`crate::fpu::op_word`]; an unimplemented instruction's mnemonic (for reporting it).
    pub imm: u32,
    /// Address size as a shift of [`Op::amask`]: 0 (32-bit) or 16 (16-bit).
    pub ashift: u8,
    pub len: u8,
    /// Offset of the next instruction from the start of the op's block: the block loop sets
    /// EIP from the block's entry EIP and this, so no op waits on the previous op's EIP.
    pub next_off: u16,
    /// Size in bytes of operand A and operand B.
    pub size: u8,
    pub size2: u8,
    /// Operand-size attribute (2 or 4) for stack and control transfers.
    pub osize: u8,
    pub a: Kind,
    pub b: Kind,
    pub ra: u8,
    pub rb: u8,
    /// Segment of the memory operand (after overrides).
    pub seg: u8,
    pub base: u8,
    pub index: u8,
    pub scale: u8,
    /// Condition code (0-15), repeat prefix (1 = REP/REPE, 2 = REPNE) or a sub-operation.
    pub aux: u8,
}

impl<B: Bus> Clone for Op<B> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<B: Bus> Copy for Op<B> {}

impl<B: Bus> Op<B> {
    /// Address-size mask: 0xFFFF or 0xFFFF_FFFF. Kept as a shift so that an op fits in 32
    /// bytes: the block loop streams through ops, and kernel code runs through ~1 MiB of
    /// them (see DESIGN.md, "Op size").
    #[inline(always)]
    pub fn amask(&self) -> u32 {
        u32::MAX >> self.ashift
    }

    fn empty(exec: Exec<B>) -> Self {
        Op {
            exec,
            disp: 0,
            imm: 0,
            ashift: 16,
            len: 1,
            next_off: 0,
            size: 2,
            size2: 2,
            osize: 2,
            a: Kind::None,
            b: Kind::None,
            ra: 0,
            rb: 0,
            seg: 3,
            base: NO_REG,
            index: NO_REG,
            scale: 0,
            aux: 0,
        }
    }

    /// Runs this op alone (tests, and the specialised-handler checks).
    pub fn run(&self, cpu: &mut Cpu<B>) -> Result<(), Exc> {
        // A block of this op alone, entered so that the op's end is the current EIP.
        cpu.block_entry = cpu.eip.wrapping_sub(self.next_off as u32);
        (self.exec)(cpu, std::slice::from_ref(self))
    }

    /// A one-byte pseudo-op that raises `#UD` (undecodable bytes).
    pub fn invalid(len: u8) -> Self {
        Op {
            len: len.max(1),
            ..Op::empty(threaded!(data::ud))
        }
    }

    /// A pseudo-op for an instruction that runs past the CS limit: #GP(0) when reached.
    pub fn fault_gp(len: u8) -> Self {
        Op {
            len: len.max(1),
            ..Op::empty(threaded!(data::gp_fault))
        }
    }

    /// A pseudo-op for an instruction whose bytes could not be fetched: raises that fault.
    pub fn fault(len: u8, e: Exc) -> Self {
        Op {
            len: len.max(1),
            imm: e.vector() as u32,
            disp: e.code().unwrap_or(0),
            aux: e.code().is_some() as u8,
            ..Op::empty(threaded!(data::fetch_fault))
        }
    }
}

/// Whether `op` (decoded from `ins`) must be the last of its block: control flow, or a state
/// change the run loop must see before the next instruction (interrupt shadow, IF, port I/O
/// that may raise an interrupt, mode and table registers, segment loads).
pub fn ends_block<B: Bus>(ins: &Instruction, op: &Op<B>) -> bool {
    ins.is_invalid()
        // Jcc is the exception: its handler stops the block when taken (see `control::jcc_to`).
        || (ins.flow_control() != iced_x86::FlowControl::Next && !ins.is_jcc_short_or_near())
        || matches!(
            ins.mnemonic(),
            M::Hlt
                | M::Sti
                | M::Popf
                | M::Popfd
                | M::Bound
                | M::In
                | M::Out
                | M::Insb
                | M::Insw
                | M::Insd
                | M::Outsb
                | M::Outsw
                | M::Outsd
                | M::Lss
                | M::Lgdt
                | M::Lidt
                | M::Lldt
                | M::Ltr
                | M::Lmsw
                | M::Clts
                | M::Invlpg
                | M::Wrmsr
                | M::Rdmsr
                | M::Rdtsc
                | M::Sysenter
                | M::Sysexit
        )
        // SS sets the stack size (part of the block key) and an interrupt shadow; a data
        // segment register changes nothing that decoded ops depend on.
        || (op.a == Kind::Seg
            && op.ra == crate::regs::SegReg::Ss as u8
            && matches!(ins.mnemonic(), M::Mov | M::Pop))
        || matches!(op.a, Kind::Cr | Kind::Dr)
}

/// Segment register number (ES=0 .. GS=5) of an iced register.
fn seg_index(r: Register) -> u8 {
    match r {
        Register::ES => 0,
        Register::CS => 1,
        Register::SS => 2,
        Register::FS => 4,
        Register::GS => 5,
        _ => 3,
    }
}

/// (kind, register number, size in bytes) of a general or segment register.
fn reg_info(r: Register) -> (Kind, u8, u8) {
    if r.is_segment_register() {
        return (Kind::Seg, seg_index(r), 2);
    }
    let n = r as u32;
    if r.is_cr() {
        return (Kind::Cr, (n - Register::CR0 as u32) as u8, 4);
    }
    if r.is_dr() {
        return (Kind::Dr, (n - Register::DR0 as u32) as u8, 4);
    }
    if r.is_gpr8() {
        (Kind::Reg, (n - Register::AL as u32) as u8 & 7, 1)
    } else if r.is_gpr16() {
        (Kind::Reg, (n - Register::AX as u32) as u8 & 7, 2)
    } else if r.is_gpr32() {
        (Kind::Reg, (n - Register::EAX as u32) as u8 & 7, 4)
    } else {
        (Kind::None, 0, 0)
    }
}

fn addr_reg(r: Register) -> u8 {
    if r == Register::None {
        NO_REG
    } else {
        reg_info(r).1
    }
}

/// Prefix facts iced does not expose directly: operand- and address-size overrides.
struct Prefixes {
    opsize: bool,
    addrsize: bool,
}

fn scan_prefixes(bytes: &[u8]) -> Prefixes {
    let mut p = Prefixes {
        opsize: false,
        addrsize: false,
    };
    for &b in bytes.iter().take(15) {
        match b {
            0x66 => p.opsize = true,
            0x67 => p.addrsize = true,
            0x26 | 0x2E | 0x36 | 0x3E | 0x64 | 0x65 | 0xF0 | 0xF2 | 0xF3 => {}
            _ => break,
        }
    }
    p
}

const LOCKABLE: &[M] = &[
    M::Add,
    M::Adc,
    M::And,
    M::Btc,
    M::Btr,
    M::Bts,
    M::Cmpxchg,
    M::Cmpxchg8b,
    M::Dec,
    M::Inc,
    M::Neg,
    M::Not,
    M::Or,
    M::Sbb,
    M::Sub,
    M::Xor,
    M::Xadd,
    M::Xchg,
];

/// Builds the op for one decoded instruction. `bytes` starts at the instruction.
pub fn build<B: Bus>(ins: &Instruction, bytes: &[u8], code32: bool) -> Op<B> {
    let len = ins.len() as u8;
    if ins.is_invalid() {
        if too_long(bytes, code32) {
            return Op::fault_gp(15);
        }
        return Op::invalid(len);
    }
    let px = scan_prefixes(bytes);
    let mut op = Op::empty(threaded!(data::ud));
    op.len = len;
    op.osize = if code32 ^ px.opsize { 4 } else { 2 };
    let a32 = code32 ^ px.addrsize;
    op.ashift = if a32 { 0 } else { 16 };

    // Operands A and B from iced operands 0 and 1; a third operand is always an immediate
    // (IMUL r,r/m,imm; SHLD/SHRD r/m,r,imm) or CL.
    let mut has_mem = false;
    for i in 0..ins.op_count().min(3) {
        let (kind, reg, size) = match ins.op_kind(i) {
            OpKind::Register => reg_info(ins.op_register(i)),
            OpKind::Memory => {
                has_mem = true;
                op.seg = seg_index(ins.memory_segment());
                op.base = addr_reg(ins.memory_base());
                op.index = addr_reg(ins.memory_index());
                op.scale = ins.memory_index_scale().trailing_zeros() as u8;
                op.disp = ins.memory_displacement32();
                (Kind::Mem, 0, ins.memory_size().size() as u8)
            }
            OpKind::Immediate8
            | OpKind::Immediate16
            | OpKind::Immediate32
            | OpKind::Immediate8to16
            | OpKind::Immediate8to32 => {
                if i == 2 {
                    // Operands 0 and 1 are not immediates here: `imm` is free.
                    op.imm = ins.immediate(i) as u32;
                    continue;
                }
                op.imm = ins.immediate(i) as u32;
                (Kind::Imm, 0, 0)
            }
            OpKind::Immediate8_2nd => {
                op.disp = ins.immediate8_2nd() as u32;
                continue;
            }
            OpKind::NearBranch16 | OpKind::NearBranch32 => {
                op.imm = (ins.near_branch_target() as u32).wrapping_sub(ins.next_ip32());
                (Kind::Imm, 0, 0)
            }
            OpKind::FarBranch16 => {
                op.imm = ins.far_branch16() as u32;
                op.disp = ins.far_branch_selector() as u32;
                (Kind::Imm, 0, 0)
            }
            OpKind::FarBranch32 => {
                op.imm = ins.far_branch32();
                op.disp = ins.far_branch_selector() as u32;
                (Kind::Imm, 0, 0)
            }
            OpKind::MemorySegSI
            | OpKind::MemorySegESI
            | OpKind::MemorySegDI
            | OpKind::MemorySegEDI
            | OpKind::MemoryESDI
            | OpKind::MemoryESEDI => {
                op.seg = seg_index(ins.memory_segment());
                op.ashift = if matches!(
                    ins.op_kind(i),
                    OpKind::MemorySegESI | OpKind::MemorySegEDI | OpKind::MemoryESEDI
                ) {
                    0
                } else {
                    16
                };
                (Kind::None, 0, ins.memory_size().size() as u8)
            }
            _ => (Kind::None, 0, 0),
        };
        match i {
            0 => {
                op.a = kind;
                op.ra = reg;
                op.size = size;
            }
            1 => {
                op.b = kind;
                op.rb = reg;
                op.size2 = size;
            }
            _ => {
                // Third operand as a register: SHLD/SHRD by CL.
                op.aux = 1;
            }
        }
    }
    if op.size == 0 {
        op.size = op.size2.max(1);
    }
    if op.size2 == 0 {
        op.size2 = op.size;
    }
    if op.a == Kind::Imm && op.b == Kind::None {
        op.size = op.osize;
    }

    // A REP/REPNE prefix on a conditional (Jcc, SETcc, CMOVcc; F2 is BND on branches) is
    // ignored: the condition code wins.
    if let Some(cc) = cond(ins.condition_code()) {
        op.aux = cc;
    } else if ins.has_rep_prefix() || ins.has_repe_prefix() {
        op.aux = 1;
    } else if ins.has_repne_prefix() {
        op.aux = 2;
    }

    if ins.has_lock_prefix() && !(has_mem && lock_allowed(ins)) {
        op.exec = threaded!(data::ud);
        return op;
    }
    op.exec = select::<B>(ins, &mut op);
    // D8-DF are x87 escapes in every mode this CPU decodes; the x87 layer decodes them itself.
    if let Some((esc, modrm)) = x87_bytes(bytes) {
        op.aux = esc;
        op.imm = crate::fpu::op_word(esc, modrm, op.len, code32);
        op.exec = x87::select(esc, modrm, has_mem);
    }
    op
}

/// The escape (D8-DF, as 0-7) and ModR/M of an x87 instruction, skipping prefixes.
fn x87_bytes(bytes: &[u8]) -> Option<(u8, u8)> {
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            0x26 | 0x2E | 0x36 | 0x3E | 0x64 | 0x65 | 0x66 | 0x67 | 0xF0 | 0xF2 | 0xF3 | 0x9B => {
                i += 1
            }
            0xD8..=0xDF => return Some((b & 7, *bytes.get(i + 1)?)),
            _ => return None,
        }
        if i >= 15 {
            return None;
        }
    }
    None
}

/// An instruction that would be valid but for being longer than 15 bytes (redundant
/// prefixes): #GP(0), not #UD (SDM Vol. 2, 2.3.11).
fn too_long(bytes: &[u8], code32: bool) -> bool {
    let n = bytes
        .iter()
        .take_while(|b| {
            matches!(
                b,
                0x26 | 0x2E | 0x36 | 0x3E | 0x64 | 0x65 | 0x66 | 0x67 | 0xF0 | 0xF2 | 0xF3
            )
        })
        .count();
    if n == 0 || n >= bytes.len() {
        return n >= 15;
    }
    let mut d = iced_x86::Decoder::new(
        if code32 { 32 } else { 16 },
        &bytes[n..],
        iced_x86::DecoderOptions::NO_INVALID_CHECK,
    );
    let rest = d.decode();
    !rest.is_invalid() && n + rest.len() > 15
}

/// Whether a LOCK prefix is legal on this instruction: a lockable read-modify-write with a
/// memory destination. Anything else with LOCK raises #UD on a 386 or later.
pub fn lock_allowed(ins: &Instruction) -> bool {
    ins.op_count() > 0 && ins.op_kind(0) == OpKind::Memory && LOCKABLE.contains(&ins.mnemonic())
}

fn cond(c: ConditionCode) -> Option<u8> {
    match c {
        ConditionCode::None => None,
        c => Some(c as u8 - 1),
    }
}

/// Whether `m` is a SETcc (false) or a CMOVcc (true).
pub(crate) fn setcc_or_cmovcc(m: M) -> Option<bool> {
    match m {
        M::Seto
        | M::Setno
        | M::Setb
        | M::Setae
        | M::Sete
        | M::Setne
        | M::Setbe
        | M::Seta
        | M::Sets
        | M::Setns
        | M::Setp
        | M::Setnp
        | M::Setl
        | M::Setge
        | M::Setle
        | M::Setg => Some(false),
        M::Cmovo
        | M::Cmovno
        | M::Cmovb
        | M::Cmovae
        | M::Cmove
        | M::Cmovne
        | M::Cmovbe
        | M::Cmova
        | M::Cmovs
        | M::Cmovns
        | M::Cmovp
        | M::Cmovnp
        | M::Cmovl
        | M::Cmovge
        | M::Cmovle
        | M::Cmovg => Some(true),
        _ => None,
    }
}

/// The handler for an instruction; anything a 686 does not run (or not yet) raises #UD.
fn select<B: Bus>(ins: &Instruction, op: &mut Op<B>) -> crate::decode::Exec<B> {
    let mem_a = op.a == Kind::Mem;
    match ins.mnemonic() {
        M::Add | M::Or | M::Adc | M::Sbb | M::And | M::Sub | M::Xor | M::Cmp | M::Test => {
            alu::select(ins.mnemonic(), op)
        }
        M::Inc => alu::select_incdec(true, op),
        M::Dec => alu::select_incdec(false, op),
        M::Neg => alu::select_neg_not(true, op),
        M::Not => alu::select_neg_not(false, op),

        M::Mul => muldiv::select(muldiv::Form::Mul, op),
        M::Imul => muldiv::select(
            match ins.op_count() {
                1 => muldiv::Form::Imul1,
                2 => muldiv::Form::Imul2,
                _ => muldiv::Form::Imul3,
            },
            op,
        ),
        M::Div => muldiv::select(muldiv::Form::Div, op),
        M::Idiv => muldiv::select(muldiv::Form::Idiv, op),

        M::Rol => shift::select(0, op),
        M::Ror => shift::select(1, op),
        M::Rcl => shift::select(2, op),
        M::Rcr => shift::select(3, op),
        M::Shl | M::Sal => shift::select(4, op),
        M::Shr => shift::select(5, op),
        M::Sar => shift::select(6, op),
        M::Shld => threaded!(shift::shld),
        M::Shrd => threaded!(shift::shrd),

        M::Daa => threaded!(bcd::daa),
        M::Das => threaded!(bcd::das),
        M::Aaa => threaded!(bcd::aaa),
        M::Aas => threaded!(bcd::aas),
        M::Aam => threaded!(bcd::aam),
        M::Aad => threaded!(bcd::aad),

        M::Bt => threaded!(bits::bt),
        M::Bts => threaded!(bits::bts),
        M::Btr => threaded!(bits::btr),
        M::Btc => threaded!(bits::btc),
        // Without BMI/ABM the F3 prefix of TZCNT/LZCNT is ignored: they run as BSF/BSR.
        M::Bsf | M::Tzcnt => threaded!(bits::bsf),
        M::Bsr | M::Lzcnt => threaded!(bits::bsr),
        M::Bswap => threaded!(bits::bswap),
        m if setcc_or_cmovcc(m).is_some() => bits::select_cc(setcc_or_cmovcc(m) == Some(true), op),

        M::Mov => match (op.a, op.b) {
            (Kind::Cr, Kind::Reg) => threaded!(system::mov_to_cr),
            (Kind::Reg, Kind::Cr) => threaded!(system::mov_from_cr),
            (Kind::Dr, Kind::Reg) => threaded!(system::mov_to_dr),
            (Kind::Reg, Kind::Dr) => threaded!(system::mov_from_dr),
            (Kind::Seg, _) => threaded!(data::mov_to_seg),
            (_, Kind::Seg) => threaded!(data::mov_from_seg),
            (Kind::Reg | Kind::Mem, Kind::Reg | Kind::Mem | Kind::Imm) => data::select_mov(op),
            _ => threaded!(data::ud),
        },
        M::Movzx => data::select_movx(false, op),
        M::Movsx => data::select_movx(true, op),
        M::Lea if !mem_a && op.b == Kind::Mem => data::select_lea(op),
        M::Xchg => threaded!(data::xchg),
        M::Xadd => threaded!(data::xadd),
        M::Cmpxchg => threaded!(data::cmpxchg),
        M::Cmpxchg8b if mem_a => threaded!(data::cmpxchg8b),
        M::Cbw => threaded!(data::cbw),
        M::Cwde => threaded!(data::cwde),
        M::Cwd => threaded!(data::cwd),
        M::Cdq => threaded!(data::cdq),
        M::Lahf => threaded!(data::lahf),
        M::Sahf => threaded!(data::sahf),
        M::Xlatb => threaded!(data::xlat),
        M::Les if op.b == Kind::Mem => {
            threaded!(data::load_far_ptr::<B, { crate::SegReg::Es as u8 }>)
        }
        M::Lds if op.b == Kind::Mem => {
            threaded!(data::load_far_ptr::<B, { crate::SegReg::Ds as u8 }>)
        }
        M::Lss if op.b == Kind::Mem => {
            threaded!(data::load_far_ptr::<B, { crate::SegReg::Ss as u8 }>)
        }
        M::Lfs if op.b == Kind::Mem => {
            threaded!(data::load_far_ptr::<B, { crate::SegReg::Fs as u8 }>)
        }
        M::Lgs if op.b == Kind::Mem => {
            threaded!(data::load_far_ptr::<B, { crate::SegReg::Gs as u8 }>)
        }
        M::Clc => threaded!(data::clc),
        M::Stc => threaded!(data::stc),
        M::Cmc => threaded!(data::cmc),
        M::Cld => threaded!(data::cld),
        M::Std => threaded!(data::std),
        M::Cli => threaded!(data::cli),
        M::Sti => threaded!(data::sti),
        // The hint-NOP space (0F 18-0F 1F) of a P6 without SSE or CET: ENDBR32 and RDSSP on
        // CPUs without CET, and the prefetch hints, execute as NOPs without touching memory.
        M::Nop
        | M::Pause
        | M::Reservednop
        | M::Endbr32
        | M::Endbr64
        | M::Rdsspd
        | M::Prefetchnta
        | M::Prefetcht0
        | M::Prefetcht1
        | M::Prefetcht2 => threaded_pure!(data::nop),
        M::Salc => threaded!(data::salc),
        M::Bound if op.b == Kind::Mem => threaded!(data::bound),
        M::Wait => threaded!(x87::wait),
        M::Cpuid => threaded!(data::cpuid),
        M::Rdtsc => threaded!(data::rdtsc),

        M::Push => match (op.a, op.size) {
            (Kind::Seg, _) => threaded!(stack::push_seg),
            (Kind::Reg, 4) => stack::push_reg_for::<B, 4>(),
            (Kind::Reg, 2) => stack::push_reg_for::<B, 2>(),
            _ => threaded!(stack::push),
        },
        M::Pop => match (op.a, op.size) {
            (Kind::Seg, _) if op.ra != 1 => threaded!(stack::pop_seg),
            (Kind::Reg, 4) => stack::pop_reg_for::<B, 4>(),
            (Kind::Reg, 2) => stack::pop_reg_for::<B, 2>(),
            (Kind::Reg | Kind::Mem, _) => threaded!(stack::pop),
            _ => threaded!(data::ud),
        },
        M::Pusha | M::Pushad => threaded!(stack::pusha),
        M::Popa | M::Popad => threaded!(stack::popa),
        M::Pushf | M::Pushfd => threaded!(stack::pushf),
        M::Popf | M::Popfd => threaded!(stack::popf),
        M::Enter => threaded!(stack::enter),
        M::Leave => threaded!(stack::leave),

        M::Jmp => match op.a {
            Kind::Imm if is_far(ins) => threaded!(control::jmp_far),
            Kind::Imm => control::select_jmp_rel(op.osize),
            Kind::Mem if is_far_mem(ins) => threaded!(control::jmp_far_mem),
            _ => threaded!(control::jmp_near_rm),
        },
        M::Call => match op.a {
            Kind::Imm if is_far(ins) => threaded!(control::call_far),
            Kind::Imm => control::select_call_rel(op.osize),
            Kind::Mem if is_far_mem(ins) => threaded!(control::call_far_mem),
            _ => threaded!(control::call_near_rm),
        },
        M::Ret => control::select_ret(op),
        M::Retf => threaded!(control::retf),
        M::Jo
        | M::Jno
        | M::Jb
        | M::Jae
        | M::Je
        | M::Jne
        | M::Jbe
        | M::Ja
        | M::Js
        | M::Jns
        | M::Jp
        | M::Jnp
        | M::Jl
        | M::Jge
        | M::Jle
        | M::Jg => control::select_jcc(op.aux, op.osize),
        M::Jcxz | M::Jecxz => threaded!(control::jcxz),
        M::Loop => threaded!(control::loop_),
        M::Loope => threaded!(control::loope),
        M::Loopne => threaded!(control::loopne),
        M::Int => threaded!(control::int),
        M::Int3 => threaded!(control::int3),
        M::Int1 => threaded!(control::int1),
        M::Into => threaded!(control::into),
        M::Iret | M::Iretd => threaded!(control::iret),
        M::Hlt => threaded!(control::hlt),
        M::Lgdt => threaded!(system::lgdt),
        M::Lidt => threaded!(system::lidt),
        M::Sgdt => threaded!(system::sgdt),
        M::Sidt => threaded!(system::sidt),
        M::Lldt => threaded!(system::lldt),
        M::Ltr => threaded!(system::ltr),
        M::Sldt => threaded!(system::sldt),
        M::Str => threaded!(system::str_),
        M::Lmsw => threaded!(system::lmsw),
        M::Smsw => threaded!(system::smsw),
        M::Clts => threaded!(system::clts),
        M::Lar => threaded!(system::lar),
        M::Lsl => threaded!(system::lsl),
        M::Verr => threaded!(system::verr),
        M::Verw => threaded!(system::verw),
        M::Arpl => threaded!(system::arpl),
        M::Invlpg => threaded!(system::invlpg),
        M::Invd | M::Wbinvd => threaded!(system::cache_ctl),
        M::Rdmsr => threaded!(system::rdmsr),
        M::Wrmsr => threaded!(system::wrmsr),
        M::Sysenter => threaded!(system::sysenter),
        M::Sysexit => threaded!(system::sysexit),
        M::In => threaded!(data::in_),
        M::Out => threaded!(data::out),

        M::Movsb | M::Movsw | M::Movsd if is_string(ins) => threaded!(string::movs),
        M::Cmpsb | M::Cmpsw | M::Cmpsd if is_string(ins) => threaded!(string::cmps),
        M::Stosb | M::Stosw | M::Stosd => threaded!(string::stos),
        M::Lodsb | M::Lodsw | M::Lodsd => threaded!(string::lods),
        M::Scasb | M::Scasw | M::Scasd => threaded!(string::scas),
        M::Insb | M::Insw | M::Insd => threaded!(string::ins),
        M::Outsb | M::Outsw | M::Outsd => threaded!(string::outs),
        _ => {
            op.imm = ins.mnemonic() as u32;
            threaded!(data::unimplemented)
        }
    }
}

fn is_far(ins: &Instruction) -> bool {
    matches!(ins.op_kind(0), OpKind::FarBranch16 | OpKind::FarBranch32)
}

fn is_far_mem(ins: &Instruction) -> bool {
    ins.op_kind(0) == OpKind::Memory
        && matches!(
            ins.memory_size(),
            iced_x86::MemorySize::SegPtr16 | iced_x86::MemorySize::SegPtr32
        )
}

fn is_string(ins: &Instruction) -> bool {
    (0..ins.op_count()).all(|i| {
        matches!(
            ins.op_kind(i),
            OpKind::MemorySegSI
                | OpKind::MemorySegESI
                | OpKind::MemorySegDI
                | OpKind::MemorySegEDI
                | OpKind::MemoryESDI
                | OpKind::MemoryESEDI
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Cpu, NullBus};

    /// The block loop streams through ops: keep two per 64-byte cache line.
    #[test]
    fn an_op_is_32_bytes() {
        assert_eq!(std::mem::size_of::<Op<NullBus>>(), 32);
    }

    /// An instruction this CPU does not implement raises #UD and is reported by name, once;
    /// a form the instruction does not allow (LOCK on a register MOV) raises #UD unreported.
    #[test]
    fn unimplemented_instructions_are_reported() {
        let mut cpu = Cpu::new(emu_mmu::Memory::new(1 << 20).unwrap(), NullBus);
        for bytes in [
            &[0x0Fu8, 0x58, 0xC1][..],
            &[0xF0, 0x89, 0xC8],
            &[0x0F, 0x58, 0xC1],
        ] {
            let mut dec = iced_x86::Decoder::new(32, bytes, iced_x86::DecoderOptions::NONE);
            let op = build::<NullBus>(&dec.decode(), bytes, true);
            let e = op.run(&mut cpu).err().map(|e| e.vector());
            assert_eq!(e, Some(crate::exception::UD), "{bytes:02X?}");
        }
        assert_eq!(cpu.unimplemented(), vec!["addps".to_string()]);
    }
}
