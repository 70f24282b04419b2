//! x87 instructions: the CPU side of [`crate::fpu`]. Decoding keeps the escape opcode (D8-DF,
//! in `aux` as 0-7) and the ModR/M byte (`imm2`, inside the [`crate::fpu::op_word`]); this module reads memory operands, checks
//! CR0.EM/TS and pending exceptions, calls the FPU model and writes results back.

use crate::decode::{threaded, threaded_fast};
use crate::decode::{Kind, Op};
use crate::exception::{self, Exc};
use crate::flags;
use crate::fpu::{Const, EnvMode, FOp, Fpu, IntSize, Src, F80};
use crate::{Bus, Cpu};

const CR0_MP: u32 = 1 << 1;
const CR0_EM: u32 = 1 << 2;
const CR0_TS: u32 = 1 << 3;
const CR0_NE: u32 = 1 << 5;

impl<B: Bus> Cpu<B> {
    /// Raises a pending unmasked x87 exception: #MF when CR0.NE is set, else FERR# (IRQ 13
    /// on a PC) and the instruction goes on.
    fn fpu_pending(&mut self) -> Result<(), Exc> {
        if self.fpu.exception_pending() {
            if self.cr0 & CR0_NE != 0 {
                return Err(Exc::new(exception::MF));
            }
            self.bus.ferr();
        }
        Ok(())
    }

    /// Checks that a store can complete before the FPU state changes (a fault must leave the
    /// instruction restartable).
    fn probe_write(&mut self, seg: u8, off: u32, size: u32) -> Result<u32, Exc> {
        let lin = self.lin_w(seg, off, size)?;
        if self.mem.host_writable(lin, self.cpl, size) {
            return Ok(lin);
        }
        self.translate(lin, true)?;
        let last = lin.wrapping_add(size - 1);
        if (last ^ lin) & !0xFFF != 0 {
            self.translate(last, true)?;
        }
        Ok(lin)
    }

    /// Reads `out.len()` bytes from `lin` on: a dword at a time where four bytes are left
    /// and fit in the page, a byte otherwise. Each access starts at the first byte not yet
    /// read, so a fault reports the same address as byte-by-byte reads would. FNSAVE and
    /// FRSTOR move 108 bytes at every guest context switch (27 accesses instead of 108).
    fn read_bytes_at(&mut self, lin: u32, out: &mut [u8]) -> Result<(), Exc> {
        let mut i = 0;
        while i < out.len() {
            let a = lin.wrapping_add(i as u32);
            if out.len() - i >= 4 && a & 0xFFF <= 0xFFC {
                let v = self.lin_read(a, 4)?;
                out[i..i + 4].copy_from_slice(&v.to_le_bytes());
                i += 4;
            } else {
                out[i] = self.lin_read(a, 1)? as u8;
                i += 1;
            }
        }
        Ok(())
    }

    /// Writes `data` from `lin` on, split as [`Cpu::read_bytes_at`] splits reads.
    fn write_bytes_at(&mut self, lin: u32, data: &[u8]) -> Result<(), Exc> {
        let mut i = 0;
        while i < data.len() {
            let a = lin.wrapping_add(i as u32);
            if data.len() - i >= 4 && a & 0xFFF <= 0xFFC {
                let v = u32::from_le_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]);
                self.lin_write(a, 4, v)?;
                i += 4;
            } else {
                self.lin_write(a, 1, data[i] as u32)?;
                i += 1;
            }
        }
        Ok(())
    }

    /// A 64-bit store whose pages were already checked: two dword writes, or bytes when it
    /// straddles a page.
    #[inline(always)]
    fn write_u64_at(&mut self, lin: u32, v: u64) -> Result<(), Exc> {
        if self.mem.host_write64(lin, self.cpl, v) {
            self.count_host_hit();
            return Ok(());
        }
        self.write_u64_slow(lin, v)
    }

    /// [`Cpu::write_u64_at`] when the host TLB does not map the destination.
    #[inline(never)]
    fn write_u64_slow(&mut self, lin: u32, v: u64) -> Result<(), Exc> {
        if lin & 0xFFF <= 0xFF8 {
            self.lin_write(lin, 4, v as u32)?;
            self.lin_write(lin.wrapping_add(4), 4, (v >> 32) as u32)
        } else {
            self.write_bytes_at(lin, &v.to_le_bytes())
        }
    }

    fn env_mode(&self, osize: u8) -> EnvMode {
        let pm = self.pe() && !self.flags.vm();
        match (osize == 4, pm) {
            (false, false) => EnvMode::Real16,
            (false, true) => EnvMode::Prot16,
            (true, false) => EnvMode::Real32,
            (true, true) => EnvMode::Prot32,
        }
    }
}

/// WAIT/FWAIT: #NM when both TS and MP are set, then pending exceptions.
pub fn wait<B: Bus>(cpu: &mut Cpu<B>, _op: &Op<B>) -> Result<(), Exc> {
    if cpu.cr0 & (CR0_TS | CR0_MP) == (CR0_TS | CR0_MP) {
        return Err(Exc::nm());
    }
    cpu.fpu_pending()
}

/// Control instructions that do not wait for pending exceptions (FN* forms).
fn no_wait(esc: u8, modrm: u8) -> bool {
    let reg = (modrm >> 3) & 7;
    let mem = modrm < 0xC0;
    match esc {
        1 => mem && (reg == 6 || reg == 7),
        3 => !mem && matches!(modrm, 0xE0..=0xE4),
        5 => mem && (reg == 6 || reg == 7),
        7 => !mem && modrm == 0xE0,
        _ => false,
    }
}

/// The handler for an escape and ModR/M: the hot forms (register arithmetic, FXCH, FLD/FSTP
/// of a register, FLD/FST/FSTP and arithmetic on m32/m64) get their own entry points so they
/// skip the general decode in [`esc`]; everything else goes through it.
pub fn select<B: Bus>(esc_op: u8, modrm: u8, mem: bool) -> crate::decode::Exec<B> {
    special(esc_op, modrm, mem).unwrap_or(threaded!(esc))
}

fn special<B: Bus>(esc_op: u8, modrm: u8, mem: bool) -> Option<crate::decode::Exec<B>> {
    let reg = (modrm >> 3) & 7;
    Some(match (esc_op, reg, mem) {
        (0, 0 | 1 | 4..=7, false) => arith_reg_for::<B, false, false>(reg, modrm & 7),
        (4, 0 | 1 | 4..=7, false) => arith_reg_for::<B, true, false>(reg, modrm & 7),
        (6, 0 | 1 | 4..=7, false) => arith_reg_for::<B, true, true>(reg, modrm & 7),
        (1, 0, false) => threaded_fast!(fld_sti_fast, fld_sti_general),
        (1, 1, false) => fxch_for(modrm & 7),
        (1, 7, false) if modrm == 0xFA => threaded_fast!(fsqrt_fast, fsqrt_general),
        (5, 2 | 3, false) => threaded!(fst_sti),
        (0, 0 | 1 | 4..=7, true) => arith_mem_for::<B, false>(reg),
        (4, 0 | 1 | 4..=7, true) => arith_mem_for::<B, true>(reg),
        (1, 0, true) => threaded_fast!(fld_mem_fast::<B, false>, fld_mem::<B, false>),
        (5, 0, true) => threaded_fast!(fld_mem_fast::<B, true>, fld_mem::<B, true>),
        (5, 2, true) => threaded_fast!(fst_m64_fast::<B, false>, fst_mem_real),
        (5, 3, true) => threaded_fast!(fst_m64_fast::<B, true>, fst_mem_real),
        (1, 2 | 3, true) => threaded!(fst_mem_real),
        _ => return None,
    })
}

/// #NM for EM/TS, then any pending exception: the common entry of waiting x87 instructions.
#[inline(always)]
fn enter<B: Bus>(cpu: &mut Cpu<B>) -> Result<(), Exc> {
    if cpu.cr0 & (CR0_EM | CR0_TS) != 0 {
        return Err(Exc::nm());
    }
    if cpu.fpu.exception_pending() {
        cpu.fpu_pending()?;
    }
    Ok(())
}

/// The register-form arithmetic handler for reg field `reg` (not 2 or 3): D8 (`STI` false),
/// DC (`STI`) or DE (`STI` and `POP`).
fn arith_reg_for<B: Bus, const STI: bool, const POP: bool>(
    reg: u8,
    i: u8,
) -> crate::decode::Exec<B> {
    match reg {
        0 => arith_reg_i::<B, 0, STI, POP>(i),
        1 => arith_reg_i::<B, 1, STI, POP>(i),
        4 => arith_reg_i::<B, 4, STI, POP>(i),
        5 => arith_reg_i::<B, 5, STI, POP>(i),
        6 => arith_reg_i::<B, 6, STI, POP>(i),
        _ => arith_reg_i::<B, 7, STI, POP>(i),
    }
}

fn arith_reg_i<B: Bus, const REG: u8, const STI: bool, const POP: bool>(
    i: u8,
) -> crate::decode::Exec<B> {
    match i {
        0 => arith_reg_t::<B, REG, STI, POP, 0>(),
        1 => arith_reg_t::<B, REG, STI, POP, 1>(),
        2 => arith_reg_t::<B, REG, STI, POP, 2>(),
        3 => arith_reg_t::<B, REG, STI, POP, 3>(),
        4 => arith_reg_t::<B, REG, STI, POP, 4>(),
        5 => arith_reg_t::<B, REG, STI, POP, 5>(),
        6 => arith_reg_t::<B, REG, STI, POP, 6>(),
        _ => arith_reg_t::<B, REG, STI, POP, 7>(),
    }
}

#[inline(always)]
fn arith_operands<const REG: u8, const STI: bool>(i: u8) -> (FOp, u8, u8) {
    let f = match REG {
        0 => FOp::Add,
        1 => FOp::Mul,
        4 => FOp::Sub,
        5 => FOp::SubR,
        6 => FOp::Div,
        _ => FOp::DivR,
    };
    if STI {
        (f.for_sti_dest(), i, 0)
    } else {
        (f, 0, i)
    }
}

#[inline(never)]
fn arith_reg_general<B: Bus, const REG: u8, const STI: bool, const POP: bool>(
    cpu: &mut Cpu<B>,
    op: &Op<B>,
) -> Result<(), Exc> {
    let (f, dst, src) = arith_operands::<REG, STI>(op.imm as u8 & 7);
    general(cpu, op, |fpu| fpu.farith(f, dst, src, STI && POP))
}

/// No #NM, and the control word is the default one (all exceptions masked, so none is
/// pending; 64-bit precision, rounding to nearest): see [`crate::fpu::Fpu::fast_ready`].
#[inline(always)]
fn fast_ready<B: Bus>(cpu: &Cpu<B>) -> bool {
    cpu.cr0 & (CR0_EM | CR0_TS) == 0 && cpu.fpu.fast_ready()
}

/// The shared shape of the register forms' fast paths (`decode::threaded_fast!`): with EM/TS
/// clear and the default control word, `fast` does the whole instruction or declines with
/// nothing changed. The instruction is recorded first (fewer values live across the
/// arithmetic): should the fast path not apply, the general handler goes ahead without an
/// exception (nothing is pending under the default control word) and records the same.
#[inline(always)]
fn fast_only<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>, fast: impl FnOnce(&mut Fpu) -> bool) -> bool {
    if !fast_ready(cpu) {
        return false;
    }
    record(cpu, op, None);
    fast(&mut cpu.fpu)
}

fn arith_reg_t<B: Bus, const REG: u8, const STI: bool, const POP: bool, const I: u8>(
) -> crate::decode::Exec<B> {
    threaded_fast!(
        arith_reg_fast::<B, REG, STI, POP, I>,
        arith_reg_general::<B, REG, STI, POP>
    )
}

/// D8 C0+i..F8+i: ST(0) = ST(0) op ST(i); DC/DE C0+i..F8+i: ST(i) = ST(i) op ST(0) (DE
/// pops), with SUB/SUBR and DIV/DIVR swapped in the encoding. `REG` is the reg field and `I`
/// the register number, so each operation and register gets its own fast path with no
/// variable shifts; any other case (#NM, a pending exception, special operands or results,
/// other precision or rounding) goes to [`arith_reg_general`] with nothing changed.
fn arith_reg_fast<B: Bus, const REG: u8, const STI: bool, const POP: bool, const I: u8>(
    cpu: &mut Cpu<B>,
    op: &Op<B>,
) -> bool {
    let (f, dst, src) = arith_operands::<REG, STI>(I);
    fast_only(cpu, op, |fpu| fpu.farith_fast_default(f, dst, src, POP))
}

/// D9 C0+i: FLD ST(i) when ST(i) is full and ST(7) empty.
fn fld_sti_fast<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> bool {
    fast_only(cpu, op, |fpu| fpu.fld_st_fast(op.imm as u8 & 7))
}

/// D9 FA: FSQRT of a positive normal ST(0).
fn fsqrt_fast<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> bool {
    fast_only(cpu, op, Fpu::fsqrt_fast_default)
}

/// D9 C8+i: FXCH ST(i), one per register (`I`): FXCH is a few loads and stores, and a
/// constant register number saves a good part of the rest.
fn fxch_fast<B: Bus, const I: u8>(cpu: &mut Cpu<B>, op: &Op<B>) -> bool {
    fast_only(cpu, op, |fpu| fpu.fxch_fast(I))
}

/// FADD/FMUL/FSUB/FSUBR/FDIV/FDIVR m32/m64 with the operation and size fixed, the fast path
/// ([`arith_mem_real`] is the full one): the operand read through the host TLB.
fn arith_mem_fast<B: Bus, const REG: u8, const DBL: bool>(cpu: &mut Cpu<B>, op: &Op<B>) -> bool {
    let Some(src) = mem_operand_fast::<B, DBL>(cpu, op) else {
        return false;
    };
    let (f, _, _) = arith_operands::<REG, false>(0);
    cpu.fpu.farith_mem_fast_default(f, src)
}

/// The fast path of [`fld_mem`]: under the default control word nothing is pending and a
/// load cannot fault once its operand is read (a full stack is a masked invalid operation).
fn fld_mem_fast<B: Bus, const DBL: bool>(cpu: &mut Cpu<B>, op: &Op<B>) -> bool {
    let Some(src) = mem_operand_fast::<B, DBL>(cpu, op) else {
        return false;
    };
    cpu.fpu.fld(src);
    true
}

/// The m32/m64 operand of a fast path, read through the host TLB under the default control
/// word, and the instruction recorded; None, with nothing changed, otherwise.
#[inline(always)]
fn mem_operand_fast<B: Bus, const DBL: bool>(cpu: &mut Cpu<B>, op: &Op<B>) -> Option<Src> {
    if !fast_ready(cpu) {
        return None;
    }
    let ea = cpu.ea(op);
    let src = read_real_fast::<B, DBL>(cpu, op, ea)?;
    record_mem(cpu, op, ea);
    Some(src)
}

/// [`read_real_as`] through the host TLB only: None where it would take the full path.
#[inline(always)]
fn read_real_fast<B: Bus, const DBL: bool>(cpu: &mut Cpu<B>, op: &Op<B>, ea: u32) -> Option<Src> {
    Some(if DBL {
        Src::F64(cpu.read_fast64(op.seg, ea, op.amask())?)
    } else {
        Src::F32(cpu.read_fast(op.seg, ea, 4)?)
    })
}

/// The general path of a register form: #NM and pending exceptions, the operation, the
/// last-instruction record.
#[inline(always)]
fn general<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>, f: impl FnOnce(&mut Fpu)) -> Result<(), Exc> {
    enter(cpu)?;
    f(&mut cpu.fpu);
    finish(cpu, op)
}

#[inline(never)]
fn fld_sti_general<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    general(cpu, op, |fpu| fpu.fld_st(op.imm as u8 & 7))
}

#[inline(never)]
fn fsqrt_general<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    general(cpu, op, Fpu::fsqrt)
}

/// The FXCH ST(i) handler for `i`.
fn fxch_for<B: Bus>(i: u8) -> crate::decode::Exec<B> {
    match i {
        0 => threaded_fast!(fxch_fast::<B, 0>, fxch_general),
        1 => threaded_fast!(fxch_fast::<B, 1>, fxch_general),
        2 => threaded_fast!(fxch_fast::<B, 2>, fxch_general),
        3 => threaded_fast!(fxch_fast::<B, 3>, fxch_general),
        4 => threaded_fast!(fxch_fast::<B, 4>, fxch_general),
        5 => threaded_fast!(fxch_fast::<B, 5>, fxch_general),
        6 => threaded_fast!(fxch_fast::<B, 6>, fxch_general),
        _ => threaded_fast!(fxch_fast::<B, 7>, fxch_general),
    }
}

#[inline(never)]
fn fxch_general<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    general(cpu, op, |fpu| fpu.fxch(op.imm as u8 & 7))
}

/// DD D0+i / D8+i: FST / FSTP ST(i).
fn fst_sti<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    enter(cpu)?;
    let modrm = op.imm as u8;
    cpu.fpu.fst_st(modrm & 7, modrm & 0x08 != 0);
    finish(cpu, op)
}

/// Reads a 32-bit (D8/D9) or 64-bit (DC/DD) real operand.
#[inline(always)]
fn read_real<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>, ea: u32) -> Result<Src, Exc> {
    if op.aux & 4 == 0 {
        read_real_as::<B, false>(cpu, op, ea)
    } else {
        read_real_as::<B, true>(cpu, op, ea)
    }
}

/// Reads a 32-bit or (`DBL`) 64-bit real operand, the size fixed at decode.
#[inline(always)]
fn read_real_as<B: Bus, const DBL: bool>(
    cpu: &mut Cpu<B>,
    op: &Op<B>,
    ea: u32,
) -> Result<Src, Exc> {
    Ok(if DBL {
        Src::F64(cpu.read_mem64(op.seg, ea, op.amask())?)
    } else {
        Src::F32(cpu.read_mem(op.seg, ea, 4)?)
    })
}

/// The m32 (D8) or m64 (DC, `DBL`) arithmetic handler for reg field `reg` (not 2 or 3).
fn arith_mem_for<B: Bus, const DBL: bool>(reg: u8) -> crate::decode::Exec<B> {
    match reg {
        0 => threaded_fast!(arith_mem_fast::<B, 0, DBL>, arith_mem_real),
        1 => threaded_fast!(arith_mem_fast::<B, 1, DBL>, arith_mem_real),
        4 => threaded_fast!(arith_mem_fast::<B, 4, DBL>, arith_mem_real),
        5 => threaded_fast!(arith_mem_fast::<B, 5, DBL>, arith_mem_real),
        6 => threaded_fast!(arith_mem_fast::<B, 6, DBL>, arith_mem_real),
        _ => threaded_fast!(arith_mem_fast::<B, 7, DBL>, arith_mem_real),
    }
}

/// D8 /r, DC /r (not the compares): ST(0) = ST(0) op m32/m64 real.
fn arith_mem_real<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    enter(cpu)?;
    let ea = cpu.ea(op);
    let src = read_real(cpu, op, ea)?;
    record_mem(cpu, op, ea);
    if let Some(f) = FOp::from_reg(op.imm as u8 >> 3) {
        cpu.fpu.farith_mem(f, src);
    }
    Ok(())
}

/// D9 /0, DD /0 (`DBL`): FLD m32/m64 real, the size fixed at decode.
fn fld_mem<B: Bus, const DBL: bool>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    enter(cpu)?;
    let ea = cpu.ea(op);
    let src = read_real_as::<B, DBL>(cpu, op, ea)?;
    record_mem(cpu, op, ea);
    cpu.fpu.fld(src);
    Ok(())
}

/// D9 /2 /3, DD /2 /3: FST/FSTP m32/m64 real; the destination is checked first.
fn fst_mem_real<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    enter(cpu)?;
    let ea = cpu.ea(op);
    let pop = op.imm & 0x08 != 0;
    if op.aux & 4 == 0 {
        let lin = cpu.probe_write(op.seg, ea, 4)?;
        record_mem(cpu, op, ea);
        if let Some(v) = cpu.fpu.fst_f32(pop) {
            cpu.lin_write(lin, 4, v)?;
        }
    } else {
        let lin = cpu.probe_write(op.seg, ea, 8)?;
        record_mem(cpu, op, ea);
        let fast = if fast_ready(cpu) {
            cpu.fpu.fst_f64_fast_default(pop)
        } else {
            None
        };
        if let Some(v) = fast.or_else(|| cpu.fpu.fst_f64(pop)) {
            cpu.write_u64_at(lin, v)?;
        }
    }
    Ok(())
}

/// DD /2, DD /3: FST/FSTP m64 real, the fast path ([`fst_mem_real`] is the full one): the destination inside the segment and writable through
/// the host TLB (checked first, so the store cannot miss once ST(0) is converted).
fn fst_m64_fast<B: Bus, const POP: bool>(cpu: &mut Cpu<B>, op: &Op<B>) -> bool {
    if !fast_ready(cpu) {
        return false;
    }
    let ea = cpu.ea(op);
    let Some(lin) = cpu.seg_ok(op.seg, ea, 8, crate::regs::SEG_WRITE) else {
        return false;
    };
    if !cpu.mem.host_writable(lin, cpu.cpl, 8) {
        return false;
    }
    record_mem(cpu, op, ea);
    let Some(v) = cpu.fpu.fst_f64_fast_default(POP) else {
        return false;
    };
    let stored = cpu.mem.host_write64(lin, cpu.cpl, v);
    debug_assert!(stored, "host_writable said the store would hit");
    cpu.count_host_hit();
    true
}

fn record_mem<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>, ea: u32) {
    let ds = cpu.seg[op.seg as usize % 6].sel;
    record(cpu, op, Some((ds, ea as u64)));
}

/// Every x87 escape (D8-DF).
pub fn esc<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    if cpu.cr0 & (CR0_EM | CR0_TS) != 0 {
        return Err(Exc::nm());
    }
    let esc = op.aux & 7;
    let modrm = op.imm as u8;
    if !no_wait(esc, modrm) {
        cpu.fpu_pending()?;
    }
    let reg = (modrm >> 3) & 7;
    if op.a == Kind::Mem {
        mem_form(cpu, op, esc, reg)
    } else {
        reg_form(cpu, op, esc, reg, modrm & 7)
    }
}

/// Records the last instruction (and its memory operand) for FNSTENV/FNSAVE. `op.imm`
/// holds the instruction's [`crate::fpu::op_word`], so this is a few stores.
#[inline(always)]
fn record<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>, data: Option<(u16, u64)>) {
    let cs = cpu.seg[crate::SegReg::Cs as usize].sel;
    cpu.fpu.record(cs, cpu.op_eip(op), op.imm);
    if let Some((ds, dp)) = data {
        cpu.fpu.set_last_data(ds, dp);
    }
}

fn mem_form<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>, esc: u8, reg: u8) -> Result<(), Exc> {
    let ea = cpu.ea(op);
    let seg = op.seg;
    let ds = cpu.seg[seg as usize % 6].sel;
    let rd = |cpu: &mut Cpu<B>, size: u8| cpu.read_mem(seg, ea, size);
    let arith_like = matches!(esc, 0 | 2 | 4 | 6);
    if arith_like {
        let src = match esc {
            0 => Src::F32(rd(cpu, 4)?),
            2 => Src::I32(rd(cpu, 4)? as i32),
            4 => {
                let lo = rd(cpu, 4)? as u64;
                let hi = cpu.read_mem(seg, ea.wrapping_add(4) & op.amask(), 4)? as u64;
                Src::F64(lo | hi << 32)
            }
            _ => Src::I16(rd(cpu, 2)? as u16 as i16),
        };
        record(cpu, op, Some((ds, ea as u64)));
        match reg {
            2 => cpu.fpu.fcom_mem(src, false),
            3 => cpu.fpu.fcom_mem(src, true),
            r => {
                if let Some(f) = FOp::from_reg(r) {
                    cpu.fpu.farith_mem(f, src);
                }
            }
        }
        return Ok(());
    }
    let data = Some((ds, ea as u64));
    match (esc, reg) {
        // Loads.
        (1, 0) => {
            let v = rd(cpu, 4)?;
            record(cpu, op, data);
            cpu.fpu.fld(Src::F32(v));
        }
        (5, 0) => {
            let lo = rd(cpu, 4)? as u64;
            let hi = cpu.read_mem(seg, ea.wrapping_add(4) & op.amask(), 4)? as u64;
            record(cpu, op, data);
            cpu.fpu.fld(Src::F64(lo | hi << 32));
        }
        (3, 5) | (7, 4) => {
            let lin = cpu.lin_r(seg, ea, 10)?;
            let mut b = [0u8; 10];
            cpu.read_bytes_at(lin, &mut b)?;
            record(cpu, op, data);
            if esc == 3 {
                cpu.fpu.fld(Src::F80(F80::from_bytes(&b)));
            } else {
                cpu.fpu.fbld(&b);
            }
        }
        (3, 0) => {
            let v = rd(cpu, 4)? as i32;
            record(cpu, op, data);
            cpu.fpu.fld(Src::I32(v));
        }
        (7, 0) => {
            let v = rd(cpu, 2)? as u16 as i16;
            record(cpu, op, data);
            cpu.fpu.fld(Src::I16(v));
        }
        (7, 5) => {
            let lo = rd(cpu, 4)? as u64;
            let hi = cpu.read_mem(seg, ea.wrapping_add(4) & op.amask(), 4)? as u64;
            record(cpu, op, data);
            cpu.fpu.fld(Src::I64((lo | hi << 32) as i64));
        }
        // Stores: the destination is checked before the FPU state changes.
        (1, 2) | (1, 3) => {
            let lin = cpu.probe_write(seg, ea, 4)?;
            record(cpu, op, data);
            if let Some(v) = cpu.fpu.fst_f32(reg == 3) {
                cpu.lin_write(lin, 4, v)?;
            }
        }
        (5, 2) | (5, 3) => {
            let lin = cpu.probe_write(seg, ea, 8)?;
            record(cpu, op, data);
            if let Some(v) = cpu.fpu.fst_f64(reg == 3) {
                cpu.write_u64_at(lin, v)?;
            }
        }
        (3, 7) => {
            let lin = cpu.probe_write(seg, ea, 10)?;
            record(cpu, op, data);
            if let Some(v) = cpu.fpu.fst_f80(true) {
                cpu.write_bytes_at(lin, &v.to_bytes())?;
            }
        }
        (3, 2) | (3, 3) | (7, 2) | (7, 3) | (7, 7) => {
            let (size, isz) = match (esc, reg) {
                (3, _) => (4, IntSize::I32),
                (7, 7) => (8, IntSize::I64),
                _ => (2, IntSize::I16),
            };
            let lin = cpu.probe_write(seg, ea, size)?;
            record(cpu, op, data);
            let pop = reg == 3 || reg == 7;
            if let Some(v) = cpu.fpu.fist(isz, pop) {
                cpu.write_bytes_at(lin, &v.to_le_bytes()[..size as usize])?;
            }
        }
        (7, 6) => {
            let lin = cpu.probe_write(seg, ea, 10)?;
            record(cpu, op, data);
            if let Some(v) = cpu.fpu.fbstp() {
                cpu.write_bytes_at(lin, &v)?;
            }
        }
        // Control word, status word, environment and full state.
        (1, 5) => {
            let v = rd(cpu, 2)? as u16;
            cpu.fpu.fldcw(v);
        }
        (1, 7) => {
            let v = cpu.fpu.fstcw() as u32;
            cpu.write_mem(seg, ea, 2, v)?;
        }
        (5, 7) => {
            let v = cpu.fpu.fstsw() as u32;
            cpu.write_mem(seg, ea, 2, v)?;
        }
        (1, 4) | (5, 4) => {
            let mode = cpu.env_mode(op.osize);
            let len = if esc == 1 {
                mode.env_len()
            } else {
                mode.save_len()
            };
            let lin = cpu.lin_r(seg, ea, len as u32)?;
            let mut img = vec![0u8; len];
            cpu.read_bytes_at(lin, &mut img)?;
            if esc == 1 {
                cpu.fpu.fldenv(mode, &img);
            } else {
                cpu.fpu.frstor(mode, &img);
            }
        }
        (1, 6) | (5, 6) => {
            let mode = cpu.env_mode(op.osize);
            let len = if esc == 1 {
                mode.env_len()
            } else {
                mode.save_len()
            };
            let lin = cpu.probe_write(seg, ea, len as u32)?;
            let mut img = vec![0u8; len];
            if esc == 1 {
                cpu.fpu.fstenv(mode, &mut img);
            } else {
                cpu.fpu.fsave(mode, &mut img);
            }
            cpu.write_bytes_at(lin, &img)?;
        }
        // FISTTP (SSE3) and the undefined slots.
        _ => return Err(Exc::ud()),
    }
    Ok(())
}

fn reg_form<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>, esc: u8, reg: u8, i: u8) -> Result<(), Exc> {
    let modrm = op.imm as u8;
    let fpu = &mut cpu.fpu;
    match (esc, reg) {
        (0, 2) | (4, 2) => fpu.fcom_st(i, false, 0),
        (0, 3) | (4, 3) | (6, 2) => fpu.fcom_st(i, false, 1),
        (0, r) => {
            if let Some(f) = FOp::from_reg(r) {
                fpu.farith(f, 0, i, false);
            }
        }
        (4, r) | (6, r) => {
            // The st(i), st forms swap SUB/SUBR and DIV/DIVR in their encoding.
            let f = match r {
                0 => FOp::Add,
                1 => FOp::Mul,
                4 => FOp::SubR,
                5 => FOp::Sub,
                6 => FOp::DivR,
                7 => FOp::Div,
                _ if esc == 6 && modrm == 0xD9 => {
                    fpu.fcom_st(1, false, 2);
                    return finish(cpu, op);
                }
                _ => return Err(Exc::ud()),
            };
            fpu.farith(f, i, 0, esc == 6);
        }
        (1, 0) => fpu.fld_st(i),
        (1, 1) | (5, 1) | (7, 1) => fpu.fxch(i),
        (1, 2) if modrm == 0xD0 => {}
        (1, 3) | (7, 2) | (7, 3) => fpu.fst_st(i, true),
        (1, 4) => match modrm {
            0xE0 => fpu.fchs(),
            0xE1 => fpu.fabs(),
            0xE4 => fpu.ftst(),
            0xE5 => fpu.fxam(),
            _ => return Err(Exc::ud()),
        },
        (1, 5) => {
            let c = match modrm {
                0xE8 => Const::One,
                0xE9 => Const::L2T,
                0xEA => Const::L2E,
                0xEB => Const::Pi,
                0xEC => Const::Lg2,
                0xED => Const::Ln2,
                0xEE => Const::Zero,
                _ => return Err(Exc::ud()),
            };
            fpu.fld_const(c);
        }
        (1, 6) => match modrm {
            0xF0 => fpu.f2xm1(),
            0xF1 => fpu.fyl2x(),
            0xF2 => fpu.fptan(),
            0xF3 => fpu.fpatan(),
            0xF4 => fpu.fxtract(),
            0xF5 => fpu.fprem(true),
            0xF6 => fpu.fdecstp(),
            _ => fpu.fincstp(),
        },
        (1, 7) => match modrm {
            0xF8 => fpu.fprem(false),
            0xF9 => fpu.fyl2xp1(),
            0xFA => fpu.fsqrt(),
            0xFB => fpu.fsincos(),
            0xFC => fpu.frndint(),
            0xFD => fpu.fscale(),
            0xFE => fpu.fsin(),
            _ => fpu.fcos(),
        },
        (2, 0..=3) | (3, 0..=3) => {
            let f = &cpu.flags;
            let c = match reg {
                0 => f.cf(),
                1 => f.zf(),
                2 => f.cf() || f.zf(),
                _ => f.pf(),
            };
            let cond = if esc == 3 { !c } else { c };
            cpu.fpu.fcmov(cond, i);
        }
        (2, 5) if modrm == 0xE9 => fpu.fcom_st(1, true, 2),
        (3, 4) => match modrm {
            0xE2 => {
                fpu.fclex();
                return Ok(());
            }
            0xE3 => {
                fpu.finit();
                return Ok(());
            }
            // FNENI/FNDISI/FNSETPM: 8087/287 leftovers, no-ops on a 387 or later.
            0xE0 | 0xE1 | 0xE4 => return Ok(()),
            _ => return Err(Exc::ud()),
        },
        (3, 5) | (3, 6) | (7, 5) | (7, 6) => {
            let pop = esc == 7;
            {
                let r = fpu.fcomi(i, reg == 5, pop);
                let mut v = cpu.flags.get()
                    & !(flags::ZF | flags::PF | flags::CF | flags::OF | flags::SF | flags::AF);
                if r.zf {
                    v |= flags::ZF;
                }
                if r.pf {
                    v |= flags::PF;
                }
                if r.cf {
                    v |= flags::CF;
                }
                cpu.flags.set(v);
            }
        }
        (5, 0) => fpu.ffree(i),
        (5, 2) => fpu.fst_st(i, false),
        (5, 3) => fpu.fst_st(i, true),
        (5, 4) => fpu.fcom_st(i, true, 0),
        (5, 5) => fpu.fcom_st(i, true, 1),
        (7, 0) => fpu.ffreep(i),
        (7, 4) if modrm == 0xE0 => {
            let v = fpu.fstsw() as u32;
            cpu.set_reg(2, 0, v);
            return Ok(());
        }
        _ => return Err(Exc::ud()),
    }
    finish(cpu, op)
}

fn finish<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    record(cpu, op, None);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Cpu, NullBus};
    use emu_mmu::Memory;
    use iced_x86::{Decoder, DecoderOptions};

    use crate::test_rng::Rng;

    impl Rng {
        fn f80(&mut self) -> F80 {
            let r = self.next();
            let sign = r & 1 != 0;
            match (r >> 1) % 8 {
                0 => F80::new(sign, 0, 0),
                1 => F80::new(sign, 0x7FFF, 1 << 63),
                2 => F80::new(sign, 0x7FFF, 3 << 62 | self.next() >> 2),
                3 => F80::new(sign, 0, self.next() >> 1),
                4 => F80::new(sign, 0x7FFE, self.next() | 1 << 63),
                _ => F80::new(sign, 0x3FF0 + (r >> 8) as u16 % 32, self.next() | 1 << 63),
            }
        }
    }

    fn cpu() -> Cpu<NullBus> {
        let mut c = Cpu::new(Memory::new(1 << 20).unwrap(), NullBus);
        c.cr0 |= CR0_NE;
        c
    }

    /// The specialised entry points behave exactly like the general escape decoder, for every
    /// register form they take and the memory forms (with the page in the host TLB and not),
    /// over random FPU states (normal, zero, infinite, NaN, denormal operands; empty
    /// registers; random control words).
    #[test]
    fn specialised_handlers_match_esc() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut checked = 0;
        for esc_op in 0..8u8 {
            for modrm in 0..=255u8 {
                let mem = modrm < 0xC0;
                if mem && (modrm & 7 != 6 || modrm >= 0x40) {
                    continue; // one memory form per reg field: [disp16]
                }
                if special::<NullBus>(esc_op, modrm, mem).is_none() {
                    continue;
                }
                let bytes = [0xD8 | esc_op, modrm, 0x00, 0x10];
                let mut dec = Decoder::new(16, &bytes, DecoderOptions::NONE);
                let ins = dec.decode();
                let op = crate::decode::build::<NullBus>(&ins, &bytes, false);
                for i in 0..100 {
                    let mut a = cpu();
                    if i % 2 == 0 {
                        // The page is in the host TLB, as it is after a first access: the
                        // handlers' inline fast paths run.
                        a.mem.host_fill(0x1000, a.cpl, 0x1000, true, false);
                    }
                    for p in 0..8 {
                        a.fpu.set_reg(p, rng.f80());
                    }
                    a.fpu.valid = rng.next() as u8 | 0x81;
                    a.fpu.top = rng.next() as u8 & 7;
                    a.fpu.cw = if rng.next() & 1 == 0 {
                        0x037F
                    } else {
                        0x0040 | (rng.next() as u16 & 0x0F3F)
                    };
                    let v = rng.next();
                    a.mem.write_u32(0x1000, v as u32);
                    a.mem.write_u32(0x1004, (v >> 32) as u32);
                    let mut b = cpu();
                    b.fpu = a.fpu.clone();
                    b.mem.write_u32(0x1000, v as u32);
                    b.mem.write_u32(0x1004, (v >> 32) as u32);
                    let ra = op.run(&mut a);
                    // `esc` runs outside a block: enter one as `Op::run` does.
                    b.block_entry = b.eip.wrapping_sub(op.next_off as u32);
                    let rb = esc(&mut b, &op);
                    assert_eq!(ra.is_ok(), rb.is_ok(), "{esc_op} {modrm:02x}");
                    assert_eq!(a.fpu, b.fpu, "escape {esc_op} modrm {modrm:02x}");
                    assert_eq!(a.mem.read_u32(0x1000), b.mem.read_u32(0x1000));
                    assert_eq!(a.mem.read_u32(0x1004), b.mem.read_u32(0x1004));
                    checked += 1;
                }
            }
        }
        assert!(checked > 100 * 150, "only {checked} cases");
    }
}
