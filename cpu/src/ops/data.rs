//! Data movement, conversions, flag instructions, port I/O and miscellany.

use super::{mask, sext};
use crate::access::{ea_form, EA_ANY, EA_BASE};
use crate::decode::{threaded, threaded_fast, threaded_pure};
use crate::decode::{Kind, Op};
use crate::exception::Exc;
use crate::flags::{self, LazyOp};
use crate::regs::{Reg, SegReg};
use crate::{Bus, Cpu};

/// Undefined opcode, or an operand form or prefix the instruction does not allow.
pub fn ud<B: Bus>(_cpu: &mut Cpu<B>, _op: &Op<B>) -> Result<(), Exc> {
    Err(Exc::ud())
}

/// An instruction that decodes but is not implemented: #UD, and its mnemonic (in `imm`,
/// see `decode::select`) is remembered so the front end can report each once.
pub fn unimplemented<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    cpu.ud_logged.insert(op.imm);
    Err(Exc::ud())
}

pub fn gp_fault<B: Bus>(_cpu: &mut Cpu<B>, _op: &Op<B>) -> Result<(), Exc> {
    Err(Exc::gp(0))
}

/// Replays a fault met while fetching the instruction (page fault on its second page).
pub fn fetch_fault<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let e = if op.aux != 0 {
        Exc::with_code(op.imm as u8, op.disp)
    } else {
        Exc::new(op.imm as u8)
    };
    if e.vector() == crate::exception::PF {
        // CR2 names the first byte of the page that could not be fetched.
        let m = if cpu.code32() { u32::MAX } else { 0xFFFF };
        let start = cpu.eip.wrapping_sub(op.len as u32) & m;
        let lin = cpu.cs().base.wrapping_add(start);
        cpu.cr2 = (lin | 0xFFF).wrapping_add(1);
    }
    Err(e)
}

pub fn nop<B: Bus>(_cpu: &mut Cpu<B>, _op: &Op<B>) -> Result<(), Exc> {
    Ok(())
}

pub fn mov<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let v = cpu.read_b(op)?;
    cpu.write_a(op, v)
}

fn mov_rr<B: Bus, const S: u8>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let v = cpu.get_reg(S, op.rb);
    cpu.set_reg(S, op.ra, v);
    Ok(())
}

fn mov_ri<B: Bus, const S: u8>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    cpu.set_reg(S, op.ra, op.imm);
    Ok(())
}

fn mov_load<B: Bus, const S: u8, const F: u8>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let v = cpu.read_mem(op.seg, cpu.ea_as::<F>(op), S)?;
    cpu.set_reg(S, op.ra, v);
    Ok(())
}

/// The fast paths of [`mov_load`], [`mov_store`] and [`mov_store_imm`] (see
/// `decode::threaded_fast!`).
fn mov_load_fast<B: Bus, const S: u8, const F: u8>(cpu: &mut Cpu<B>, op: &Op<B>) -> bool {
    match cpu.read_fast(op.seg, cpu.ea_as::<F>(op), S) {
        Some(v) => {
            cpu.set_reg(S, op.ra, v);
            true
        }
        None => false,
    }
}

fn mov_store_fast<B: Bus, const S: u8, const F: u8>(cpu: &mut Cpu<B>, op: &Op<B>) -> bool {
    let v = cpu.get_reg(S, op.rb);
    cpu.write_fast(op.seg, cpu.ea_as::<F>(op), S, v)
}

fn mov_store_imm_fast<B: Bus, const S: u8, const F: u8>(cpu: &mut Cpu<B>, op: &Op<B>) -> bool {
    cpu.write_fast(op.seg, cpu.ea_as::<F>(op), S, op.imm)
}

fn mov_store<B: Bus, const S: u8, const F: u8>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let v = cpu.get_reg(S, op.rb);
    cpu.write_mem(op.seg, cpu.ea_as::<F>(op), S, v)
}

fn mov_store_imm<B: Bus, const S: u8, const F: u8>(
    cpu: &mut Cpu<B>,
    op: &Op<B>,
) -> Result<(), Exc> {
    cpu.write_mem(op.seg, cpu.ea_as::<F>(op), S, op.imm)
}

/// MOV between registers, memory and immediates, specialised by form, size and (for memory)
/// address form.
pub fn select_mov<B: Bus>(op: &Op<B>) -> crate::decode::Exec<B> {
    macro_rules! by_size {
        ($f:ident) => {
            match op.size {
                1 => threaded_pure!($f::<B, 1>),
                2 => threaded_pure!($f::<B, 2>),
                _ => threaded_pure!($f::<B, 4>),
            }
        };
    }
    macro_rules! by_size_ea {
        ($f:ident, $fast:ident) => {
            match (op.size, ea_form(op)) {
                (1, EA_BASE) => threaded_fast!($fast::<B, 1, EA_BASE>, $f::<B, 1, EA_BASE>),
                (2, EA_BASE) => threaded_fast!($fast::<B, 2, EA_BASE>, $f::<B, 2, EA_BASE>),
                (_, EA_BASE) => threaded_fast!($fast::<B, 4, EA_BASE>, $f::<B, 4, EA_BASE>),
                (1, _) => threaded_fast!($fast::<B, 1, EA_ANY>, $f::<B, 1, EA_ANY>),
                (2, _) => threaded_fast!($fast::<B, 2, EA_ANY>, $f::<B, 2, EA_ANY>),
                _ => threaded_fast!($fast::<B, 4, EA_ANY>, $f::<B, 4, EA_ANY>),
            }
        };
    }
    match (op.a, op.b) {
        (Kind::Reg, Kind::Reg) if op.size == op.size2 => by_size!(mov_rr),
        (Kind::Reg, Kind::Imm) => by_size!(mov_ri),
        (Kind::Reg, Kind::Mem) if op.size == op.size2 => by_size_ea!(mov_load, mov_load_fast),
        (Kind::Mem, Kind::Reg) if op.size == op.size2 => by_size_ea!(mov_store, mov_store_fast),
        (Kind::Mem, Kind::Imm) => by_size_ea!(mov_store_imm, mov_store_imm_fast),
        _ => threaded!(mov),
    }
}

pub fn mov_to_seg<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    if op.ra == SegReg::Cs as u8 {
        return Err(Exc::ud());
    }
    let sel = cpu.read_b(op)? as u16;
    cpu.load_seg(SegReg::from_index(op.ra), sel)?;
    if op.ra == SegReg::Ss as u8 {
        // The run loop applies the interrupt shadow at the block boundary.
        cpu.int_shadow = true;
        cpu.stop = true;
    }
    Ok(())
}

/// MOV r/m, Sreg: a 32-bit register destination gets the selector zero-extended (P6 and
/// later); a memory destination is always written as 16 bits.
pub fn mov_from_seg<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let v = cpu.seg[op.rb as usize % 6].sel as u32;
    match op.a {
        Kind::Mem => cpu.write_mem(op.seg, cpu.ea(op), 2, v),
        _ => {
            cpu.set_reg(op.size, op.ra, v);
            Ok(())
        }
    }
}

/// MOVZX/MOVSX by source size and kind (the decompressors and string code live on these).
pub fn select_movx<B: Bus>(signed: bool, op: &Op<B>) -> crate::decode::Exec<B> {
    use crate::decode::Kind;
    // By destination size too: a 32-bit destination is one store, so the fast path inlines
    // into its entry point.
    macro_rules! pick {
        ($d:literal) => {
            match (signed, op.b, op.size2) {
                (false, Kind::Reg, 1) => threaded_pure!(movx_reg::<B, false, 1, $d>),
                (false, Kind::Reg, 2) => threaded_pure!(movx_reg::<B, false, 2, $d>),
                (true, Kind::Reg, 1) => threaded_pure!(movx_reg::<B, true, 1, $d>),
                (true, Kind::Reg, 2) => threaded_pure!(movx_reg::<B, true, 2, $d>),
                (false, Kind::Mem, 1) if ea_form(op) == EA_BASE => {
                    movx_mem_for::<B, false, 1, $d, EA_BASE>()
                }
                (false, Kind::Mem, 2) if ea_form(op) == EA_BASE => {
                    movx_mem_for::<B, false, 2, $d, EA_BASE>()
                }
                (true, Kind::Mem, 1) if ea_form(op) == EA_BASE => {
                    movx_mem_for::<B, true, 1, $d, EA_BASE>()
                }
                (true, Kind::Mem, 2) if ea_form(op) == EA_BASE => {
                    movx_mem_for::<B, true, 2, $d, EA_BASE>()
                }
                (false, Kind::Mem, 1) => movx_mem_for::<B, false, 1, $d, EA_ANY>(),
                (false, Kind::Mem, 2) => movx_mem_for::<B, false, 2, $d, EA_ANY>(),
                (true, Kind::Mem, 1) => movx_mem_for::<B, true, 1, $d, EA_ANY>(),
                (true, Kind::Mem, 2) => movx_mem_for::<B, true, 2, $d, EA_ANY>(),
                (false, ..) => threaded!(movzx::<B>),
                (true, ..) => threaded!(movsx::<B>),
            }
        };
    }
    if op.size == 4 {
        pick!(4)
    } else {
        pick!(2)
    }
}

fn movx_reg<B: Bus, const SIGNED: bool, const S2: u8, const D: u8>(
    cpu: &mut Cpu<B>,
    op: &Op<B>,
) -> Result<(), Exc> {
    let v = cpu.get_reg(S2, op.rb);
    let v = if SIGNED { sext(S2, v) as u32 } else { v };
    cpu.set_reg(D, op.ra, v);
    Ok(())
}

fn movx_mem_for<B: Bus, const SIGNED: bool, const S2: u8, const D: u8, const F: u8>(
) -> crate::decode::Exec<B> {
    threaded_fast!(
        movx_mem_fast::<B, SIGNED, S2, D, F>,
        movx_mem::<B, SIGNED, S2, D, F>
    )
}

fn movx_mem_fast<B: Bus, const SIGNED: bool, const S2: u8, const D: u8, const F: u8>(
    cpu: &mut Cpu<B>,
    op: &Op<B>,
) -> bool {
    let Some(v) = cpu.read_fast(op.seg, cpu.ea_as::<F>(op), S2) else {
        return false;
    };
    let v = if SIGNED { sext(S2, v) as u32 } else { v };
    cpu.set_reg(D, op.ra, v);
    true
}

fn movx_mem<B: Bus, const SIGNED: bool, const S2: u8, const D: u8, const F: u8>(
    cpu: &mut Cpu<B>,
    op: &Op<B>,
) -> Result<(), Exc> {
    let v = cpu.read_mem(op.seg, cpu.ea_as::<F>(op), S2)?;
    let v = if SIGNED { sext(S2, v) as u32 } else { v };
    cpu.set_reg(D, op.ra, v);
    Ok(())
}

pub fn movzx<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let v = cpu.read_b(op)? & mask(op.size2);
    cpu.set_reg(op.size, op.ra, v);
    Ok(())
}

pub fn movsx<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let v = sext(op.size2, cpu.read_b(op)?) as u32;
    cpu.set_reg(op.size, op.ra, v);
    Ok(())
}

/// LEA by operand size, the 32-bit base+displacement form apart (`MOV reg, reg + disp`).
pub fn select_lea<B: Bus>(op: &Op<B>) -> crate::decode::Exec<B> {
    match (op.size, ea_form(op)) {
        (4, EA_BASE) => threaded_pure!(lea::<B, 4, EA_BASE>),
        (4, _) => threaded_pure!(lea::<B, 4, EA_ANY>),
        _ => threaded_pure!(lea::<B, 2, EA_ANY>),
    }
}

fn lea<B: Bus, const S: u8, const F: u8>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let ea = cpu.ea_as::<F>(op);
    cpu.set_reg(S, op.ra, ea);
    Ok(())
}

pub fn xchg<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let loc = cpu.loc_a(op, op.size)?;
    let a = cpu.read_loc(loc, op.size)?;
    let b = cpu.get_reg(op.size, op.rb);
    cpu.write_loc(loc, op.size, b)?;
    cpu.set_reg(op.size, op.rb, a);
    Ok(())
}

pub fn xadd<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let loc = cpu.loc_a(op, op.size)?;
    let d = cpu.read_loc(loc, op.size)?;
    let s = cpu.get_reg(op.size, op.rb);
    let r = d.wrapping_add(s) & mask(op.size);
    cpu.write_loc(loc, op.size, r)?;
    cpu.set_reg(op.size, op.rb, d);
    cpu.flags.set_lazy(LazyOp::Add, op.size, d, s, r);
    Ok(())
}

pub fn cmpxchg<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let loc = cpu.loc_a(op, op.size)?;
    let d = cpu.read_loc(loc, op.size)?;
    let acc = cpu.get_reg(op.size, 0);
    let r = acc.wrapping_sub(d) & mask(op.size);
    cpu.flags.set_lazy(LazyOp::Sub, op.size, acc, d, r);
    if acc == d {
        let s = cpu.get_reg(op.size, op.rb);
        cpu.write_loc(loc, op.size, s)
    } else {
        // The processor always writes the destination (the old value back to memory).
        cpu.write_loc(loc, op.size, d)?;
        cpu.set_reg(op.size, 0, d);
        Ok(())
    }
}

pub fn cmpxchg8b<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let ea = cpu.ea(op);
    let lin = cpu.lin_w(op.seg, ea, 8)?;
    let lo = cpu.lin_read(lin, 4)?;
    let hi = cpu.lin_read(lin.wrapping_add(4), 4)?;
    let eq = lo == cpu.r[Reg::Eax as usize] && hi == cpu.r[Reg::Edx as usize];
    let (wl, wh) = if eq {
        (cpu.r[Reg::Ebx as usize], cpu.r[Reg::Ecx as usize])
    } else {
        (lo, hi)
    };
    cpu.lin_write(lin, 4, wl)?;
    cpu.lin_write(lin.wrapping_add(4), 4, wh)?;
    if !eq {
        cpu.r[Reg::Eax as usize] = lo;
        cpu.r[Reg::Edx as usize] = hi;
    }
    cpu.flags.assign(flags::ZF, eq);
    Ok(())
}

pub fn cbw<B: Bus>(cpu: &mut Cpu<B>, _op: &Op<B>) -> Result<(), Exc> {
    let v = cpu.r[0] as u8 as i8 as i16 as u16;
    cpu.set_reg(2, 0, v as u32);
    Ok(())
}

pub fn cwde<B: Bus>(cpu: &mut Cpu<B>, _op: &Op<B>) -> Result<(), Exc> {
    cpu.r[0] = cpu.r[0] as u16 as i16 as i32 as u32;
    Ok(())
}

pub fn cwd<B: Bus>(cpu: &mut Cpu<B>, _op: &Op<B>) -> Result<(), Exc> {
    let v = if cpu.r[0] & 0x8000 != 0 { 0xFFFF } else { 0 };
    cpu.set_reg(2, Reg::Edx as u8, v);
    Ok(())
}

pub fn cdq<B: Bus>(cpu: &mut Cpu<B>, _op: &Op<B>) -> Result<(), Exc> {
    cpu.r[Reg::Edx as usize] = ((cpu.r[0] as i32) >> 31) as u32;
    Ok(())
}

/// The flag bits LAHF/SAHF move: SF ZF 0 AF 0 PF 1 CF.
const AH_FLAGS: u32 = flags::SF | flags::ZF | flags::AF | flags::PF | flags::CF;

pub fn lahf<B: Bus>(cpu: &mut Cpu<B>, _op: &Op<B>) -> Result<(), Exc> {
    let f = (cpu.flags.get() & AH_FLAGS) | 2;
    cpu.set_reg(1, 4, f);
    Ok(())
}

pub fn sahf<B: Bus>(cpu: &mut Cpu<B>, _op: &Op<B>) -> Result<(), Exc> {
    let ah = cpu.get_reg(1, 4);
    cpu.flags.set_masked(ah, AH_FLAGS);
    Ok(())
}

pub fn xlat<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let off = cpu.r[Reg::Ebx as usize].wrapping_add(cpu.r[0] & 0xFF) & op.amask();
    let v = cpu.read8(op.seg, off)?;
    cpu.set_reg(1, 0, v as u32);
    Ok(())
}

/// LDS/LES/LSS/LFS/LGS: offset then selector from memory; the segment load comes first so
/// a faulting selector leaves the register untouched.
pub fn load_far_ptr<B: Bus, const SEG: u8>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let size = op.size;
    let ea = cpu.ea(op);
    let off = cpu.read_mem(op.seg, ea, size)?;
    let sel = cpu.read16(op.seg, ea.wrapping_add(size as u32) & op.amask())?;
    cpu.load_seg(SegReg::from_index(SEG), sel)?;
    cpu.set_reg(size, op.ra, off);
    Ok(())
}

pub fn clc<B: Bus>(cpu: &mut Cpu<B>, _op: &Op<B>) -> Result<(), Exc> {
    cpu.flags.assign(flags::CF, false);
    Ok(())
}
pub fn stc<B: Bus>(cpu: &mut Cpu<B>, _op: &Op<B>) -> Result<(), Exc> {
    cpu.flags.assign(flags::CF, true);
    Ok(())
}
pub fn cmc<B: Bus>(cpu: &mut Cpu<B>, _op: &Op<B>) -> Result<(), Exc> {
    let c = cpu.flags.cf();
    cpu.flags.assign(flags::CF, !c);
    Ok(())
}
pub fn cld<B: Bus>(cpu: &mut Cpu<B>, _op: &Op<B>) -> Result<(), Exc> {
    cpu.flags.assign(flags::DF, false);
    Ok(())
}
pub fn std<B: Bus>(cpu: &mut Cpu<B>, _op: &Op<B>) -> Result<(), Exc> {
    cpu.flags.assign(flags::DF, true);
    Ok(())
}

pub fn cli<B: Bus>(cpu: &mut Cpu<B>, _op: &Op<B>) -> Result<(), Exc> {
    cpu.check_iopl()?;
    cpu.flags.assign(flags::IF, false);
    Ok(())
}

/// STI: interrupts stay inhibited until after the next instruction.
pub fn sti<B: Bus>(cpu: &mut Cpu<B>, _op: &Op<B>) -> Result<(), Exc> {
    cpu.check_iopl()?;
    if !cpu.flags.iff() {
        cpu.int_shadow = true;
    }
    cpu.flags.assign(flags::IF, true);
    cpu.stop = true;
    Ok(())
}

/// SALC (undocumented D6): AL = CF ? FF : 00.
pub fn salc<B: Bus>(cpu: &mut Cpu<B>, _op: &Op<B>) -> Result<(), Exc> {
    let v = if cpu.flags.cf() { 0xFF } else { 0 };
    cpu.set_reg(1, 0, v);
    Ok(())
}

/// BOUND r, m: #BR unless lower <= r <= upper (signed).
pub fn bound<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let size = op.size;
    let ea = cpu.ea(op);
    let lo = sext(size, cpu.read_mem(op.seg, ea, size)?);
    let hi = sext(
        size,
        cpu.read_mem(op.seg, ea.wrapping_add(size as u32) & op.amask(), size)?,
    );
    let v = sext(size, cpu.get_reg(size, op.ra));
    if v < lo || v > hi {
        return Err(Exc::br());
    }
    Ok(())
}

pub fn cpuid<B: Bus>(cpu: &mut Cpu<B>, _op: &Op<B>) -> Result<(), Exc> {
    let (a, b, c, d) = cpu.cpuid_leaf(cpu.r[Reg::Eax as usize]);
    cpu.r[Reg::Eax as usize] = a;
    cpu.r[Reg::Ebx as usize] = b;
    cpu.r[Reg::Ecx as usize] = c;
    cpu.r[Reg::Edx as usize] = d;
    Ok(())
}

pub fn rdtsc<B: Bus>(cpu: &mut Cpu<B>, _op: &Op<B>) -> Result<(), Exc> {
    if cpu.cr4 & 4 != 0 && cpu.cpl() != 0 && cpu.pe() {
        return Err(Exc::gp(0));
    }
    let t = cpu.tsc();
    cpu.r[Reg::Eax as usize] = t as u32;
    cpu.r[Reg::Edx as usize] = (t >> 32) as u32;
    Ok(())
}

/// The port of IN/OUT: an immediate or DX.
fn port<B: Bus>(cpu: &Cpu<B>, k: Kind, op: &Op<B>) -> u16 {
    if k == Kind::Imm {
        op.imm as u16
    } else {
        cpu.r[Reg::Edx as usize] as u16
    }
}

pub fn in_<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let p = port(cpu, op.b, op);
    cpu.check_io(p, op.size)?;
    let v = {
        cpu.bus.sync(cpu.clock.now_ns(cpu.icount));
        cpu.bus.io_read(p, op.size)
    };
    cpu.set_reg(op.size, 0, v);
    cpu.stats.io_exits += 1;
    cpu.stop = true;
    Ok(())
}

pub fn out<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let p = port(cpu, op.a, op);
    cpu.check_io(p, op.size2)?;
    let v = cpu.get_reg(op.size2, 0);
    if let Some(at) = cpu.firmware_trap(p, op) {
        cpu.trap = Some(at);
        cpu.stop = true;
        return Ok(());
    }
    cpu.bus.sync(cpu.clock.now_ns(cpu.icount));
    cpu.bus.io_write(p, op.size2, v);
    cpu.stats.io_exits += 1;
    cpu.stop = true;
    Ok(())
}
