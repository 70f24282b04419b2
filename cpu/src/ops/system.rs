//! System instructions: control and debug registers, descriptor-table registers, LDTR/TR,
//! MSW, descriptor queries (LAR/LSL/VERR/VERW/ARPL), TLB and cache control, MSRs and
//! SYSENTER/SYSEXIT.

use crate::decode::{Kind, Op};
use crate::exception::{Exc, GP, NP};
use crate::flags::ZF;
use crate::regs::{Reg, Seg, SegReg, SEG_READ, SEG_WRITE};
use crate::segment::{self, sel_fault, Desc};
use crate::{Bus, Cpu};

/// Privileged instructions need CPL 0 (real mode counts as CPL 0; V86 is CPL 3).
fn need_cpl0<B: Bus>(cpu: &Cpu<B>) -> Result<(), Exc> {
    if cpu.cpl() != 0 {
        return Err(Exc::gp(0));
    }
    Ok(())
}

/// Instructions that exist only in protected mode raise #UD in real and V86 mode.
fn need_pm<B: Bus>(cpu: &Cpu<B>) -> Result<(), Exc> {
    if !cpu.pe() || cpu.flags.vm() {
        return Err(Exc::ud());
    }
    Ok(())
}

pub fn mov_to_cr<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    need_cpl0(cpu)?;
    let v = cpu.r[op.rb as usize & 7];
    match op.ra {
        0 => cpu.set_cr0(v),
        2 => {
            cpu.cr2 = v;
            Ok(())
        }
        3 => {
            cpu.set_cr3(v);
            Ok(())
        }
        4 => cpu.set_cr4(v),
        _ => Err(Exc::ud()),
    }
}

pub fn mov_from_cr<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    need_cpl0(cpu)?;
    let v = match op.rb {
        0 => cpu.cr0,
        2 => cpu.cr2,
        3 => cpu.cr3,
        4 => cpu.cr4,
        _ => return Err(Exc::ud()),
    };
    cpu.r[op.ra as usize & 7] = v;
    Ok(())
}

/// DR4/DR5 alias DR6/DR7 unless CR4.DE is set, when they raise #UD.
fn dr_index<B: Bus>(cpu: &Cpu<B>, n: u8) -> Result<usize, Exc> {
    match n {
        4 | 5 if cpu.cr4 & (1 << 3) != 0 => Err(Exc::ud()),
        4 | 5 => Ok(n as usize + 2),
        0..=7 => Ok(n as usize),
        _ => Err(Exc::ud()),
    }
}

pub fn mov_to_dr<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    need_cpl0(cpu)?;
    let i = dr_index(cpu, op.ra)?;
    let v = cpu.r[op.rb as usize & 7];
    cpu.dr[i] = match i {
        6 => (v & 0xE00F) | 0xFFFF_0FF0,
        7 => (v & 0xFFFF_2BFF) | 0x400,
        _ => v,
    };
    Ok(())
}

pub fn mov_from_dr<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    need_cpl0(cpu)?;
    let i = dr_index(cpu, op.rb)?;
    cpu.r[op.ra as usize & 7] = cpu.dr[i];
    Ok(())
}

/// LGDT/LIDT: a 16-bit operand size loads only 24 bits of base.
fn load_table<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(u32, u32), Exc> {
    need_cpl0(cpu)?;
    if op.a != Kind::Mem {
        return Err(Exc::ud());
    }
    let ea = cpu.ea(op);
    let limit = cpu.read_mem(op.seg, ea, 2)?;
    let base = cpu.read_mem(op.seg, ea.wrapping_add(2) & op.amask(), 4)?;
    let base = if op.osize == 2 {
        base & 0xFF_FFFF
    } else {
        base
    };
    Ok((base, limit))
}

pub fn lgdt<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let (base, limit) = load_table(cpu, op)?;
    cpu.gdtr = crate::TableReg { base, limit };
    Ok(())
}

pub fn lidt<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let (base, limit) = load_table(cpu, op)?;
    cpu.idtr = crate::TableReg { base, limit };
    Ok(())
}

/// SGDT/SIDT store limit and base; with a 16-bit operand the base's top byte is stored as 0.
fn store_table<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>, t: crate::TableReg) -> Result<(), Exc> {
    if op.a != Kind::Mem {
        return Err(Exc::ud());
    }
    let ea = cpu.ea(op);
    let base = if op.osize == 2 {
        t.base & 0xFF_FFFF
    } else {
        t.base
    };
    cpu.lin_w(op.seg, ea, 6)?;
    cpu.write_mem(op.seg, ea, 2, t.limit)?;
    cpu.write_mem(op.seg, ea.wrapping_add(2) & op.amask(), 4, base)
}

pub fn sgdt<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let t = cpu.gdtr;
    store_table(cpu, op, t)
}

pub fn sidt<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let t = cpu.idtr;
    store_table(cpu, op, t)
}

/// Stores a selector or MSW: a register destination takes the operand size (zero-extended),
/// memory always 16 bits.
fn store_word<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>, v: u32) -> Result<(), Exc> {
    match op.a {
        Kind::Mem => cpu.write_mem(op.seg, cpu.ea(op), 2, v),
        _ => {
            cpu.set_reg(op.size, op.ra, v);
            Ok(())
        }
    }
}

pub fn sldt<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    need_pm(cpu)?;
    let v = cpu.ldtr.sel as u32;
    store_word(cpu, op, v)
}

pub fn str_<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    need_pm(cpu)?;
    let v = cpu.tr.sel as u32;
    store_word(cpu, op, v)
}

pub fn smsw<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let v = cpu.cr0;
    store_word(cpu, op, v)
}

/// LMSW: loads PE, MP, EM and TS; it can set PE but never clear it.
pub fn lmsw<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    need_cpl0(cpu)?;
    let v = cpu.read_a(op)? & 0xF;
    let cr0 = (cpu.cr0 & !0xE) | v | (cpu.cr0 & 1);
    cpu.set_cr0(cr0)
}

pub fn clts<B: Bus>(cpu: &mut Cpu<B>, _op: &Op<B>) -> Result<(), Exc> {
    need_cpl0(cpu)?;
    cpu.cr0 &= !crate::system::CR0_TS;
    Ok(())
}

pub fn lldt<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    need_pm(cpu)?;
    need_cpl0(cpu)?;
    let sel = cpu.read_a(op)? as u16;
    if sel & !3 == 0 {
        cpu.ldtr = Seg::null(sel);
        return Ok(());
    }
    if sel & 4 != 0 {
        return Err(sel_fault(GP, sel));
    }
    let d = cpu.read_desc(sel, GP)?;
    if d.s() || d.typ() != segment::LDT {
        return Err(sel_fault(GP, sel));
    }
    if !d.present() {
        return Err(sel_fault(NP, sel));
    }
    cpu.ldtr = d.to_seg(sel);
    Ok(())
}

pub fn ltr<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    need_pm(cpu)?;
    need_cpl0(cpu)?;
    let sel = cpu.read_a(op)? as u16;
    if sel & !3 == 0 {
        return Err(Exc::gp(0));
    }
    if sel & 4 != 0 {
        return Err(sel_fault(GP, sel));
    }
    let d = cpu.read_desc(sel, GP)?;
    if d.s() || !matches!(d.typ(), segment::TSS16_AVAIL | segment::TSS32_AVAIL) {
        return Err(sel_fault(GP, sel));
    }
    if !d.present() {
        return Err(sel_fault(NP, sel));
    }
    let a = cpu.desc_addr(sel, GP)?.wrapping_add(5);
    let b = cpu.sys_read(a, 1)?;
    cpu.sys_write(a, 1, b | 2)?;
    let busy = Desc(d.0 | (2 << 40));
    cpu.tr = busy.to_seg(sel);
    Ok(())
}

/// The descriptor a LAR/LSL/VERR/VERW selector names, if it is visible at CPL and RPL.
fn visible<B: Bus>(cpu: &mut Cpu<B>, sel: u16, system_ok: fn(u8) -> bool) -> Option<Desc> {
    if sel & !3 == 0 {
        return None;
    }
    let d = cpu.read_desc(sel, GP).ok()?;
    if !d.s() && !system_ok(d.typ()) {
        return None;
    }
    let rpl = (sel & 3) as u8;
    if !d.conforming() && (d.dpl() < cpu.cpl() || d.dpl() < rpl) {
        return None;
    }
    Some(d)
}

pub fn lar<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    need_pm(cpu)?;
    let sel = cpu.read_b(op)? as u16;
    let ok = |t: u8| matches!(t, 1 | 2 | 3 | 4 | 5 | 9 | 11 | 12);
    match visible(cpu, sel, ok) {
        Some(d) => {
            let v = ((d.0 >> 32) as u32) & if op.size == 4 { 0x00FF_FF00 } else { 0xFF00 };
            cpu.set_reg(op.size, op.ra, v);
            cpu.flags.assign(ZF, true);
        }
        None => cpu.flags.assign(ZF, false),
    }
    Ok(())
}

pub fn lsl<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    need_pm(cpu)?;
    let sel = cpu.read_b(op)? as u16;
    let ok = |t: u8| matches!(t, 1 | 2 | 3 | 9 | 11);
    match visible(cpu, sel, ok) {
        Some(d) => {
            cpu.set_reg(op.size, op.ra, d.limit());
            cpu.flags.assign(ZF, true);
        }
        None => cpu.flags.assign(ZF, false),
    }
    Ok(())
}

fn verify<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>, write: bool) -> Result<(), Exc> {
    need_pm(cpu)?;
    let sel = cpu.read_a(op)? as u16;
    let ok = match visible(cpu, sel, |_| false) {
        Some(d) if write => d.writable(),
        Some(d) => d.readable(),
        None => false,
    };
    cpu.flags.assign(ZF, ok);
    Ok(())
}

pub fn verr<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    verify(cpu, op, false)
}

pub fn verw<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    verify(cpu, op, true)
}

pub fn arpl<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    need_pm(cpu)?;
    // Only a destination that changes is checked for writing (386 hardware: ARPL on a
    // read-only segment faults only when it would write).
    let loc = cpu.loc_a_read(op, 2)?;
    let d = cpu.read_loc(loc, 2)?;
    let s = cpu.get_reg(2, op.rb);
    if d & 3 < s & 3 {
        let loc = cpu.loc_a(op, 2)?;
        cpu.write_loc(loc, 2, (d & !3) | (s & 3))?;
        cpu.flags.assign(ZF, true);
    } else {
        cpu.flags.assign(ZF, false);
    }
    Ok(())
}

pub fn invlpg<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    need_cpl0(cpu)?;
    if op.a != Kind::Mem {
        return Err(Exc::ud());
    }
    let lin = cpu.seg[op.seg as usize % 6].base.wrapping_add(cpu.ea(op));
    cpu.flush_tlb_page(lin);
    cpu.stop = true;
    Ok(())
}

/// INVD/WBINVD: no caches are modelled, only the privilege check.
pub fn cache_ctl<B: Bus>(cpu: &mut Cpu<B>, _op: &Op<B>) -> Result<(), Exc> {
    need_cpl0(cpu)
}

pub fn rdmsr<B: Bus>(cpu: &mut Cpu<B>, _op: &Op<B>) -> Result<(), Exc> {
    need_cpl0(cpu)?;
    let v = cpu.rdmsr(cpu.r[Reg::Ecx as usize])?;
    cpu.r[Reg::Eax as usize] = v as u32;
    cpu.r[Reg::Edx as usize] = (v >> 32) as u32;
    Ok(())
}

pub fn wrmsr<B: Bus>(cpu: &mut Cpu<B>, _op: &Op<B>) -> Result<(), Exc> {
    need_cpl0(cpu)?;
    let v = (cpu.r[Reg::Edx as usize] as u64) << 32 | cpu.r[Reg::Eax as usize] as u64;
    cpu.wrmsr(cpu.r[Reg::Ecx as usize], v)
}

/// A flat 4 GiB segment as SYSENTER/SYSEXIT load it.
fn flat(sel: u16, code: bool, dpl: u8) -> Seg {
    let typ: u16 = if code { 0xB } else { 0x3 };
    Seg {
        sel,
        base: 0,
        limit: u32::MAX,
        attr: typ | 0x10 | ((dpl as u16) << 5) | 0x80 | 0xC000,
        big: true,
        lo: 0,
        hi: u32::MAX,
        rw: if code { SEG_READ } else { SEG_READ | SEG_WRITE },
    }
}

pub fn sysenter<B: Bus>(cpu: &mut Cpu<B>, _op: &Op<B>) -> Result<(), Exc> {
    let cs = cpu.sysenter[0] as u16 & 0xFFFC;
    if !cpu.pe() || cs == 0 {
        return Err(Exc::gp(0));
    }
    let f = cpu.flags.get() & !(crate::flags::VM | crate::flags::IF | crate::flags::RF);
    cpu.flags.set(f);
    cpu.put_seg(SegReg::Cs as usize, flat(cs, true, 0));
    cpu.put_seg(SegReg::Ss as usize, flat(cs.wrapping_add(8), false, 0));
    cpu.cpl = 0;
    cpu.r[Reg::Esp as usize] = cpu.sysenter[1];
    cpu.eip = cpu.sysenter[2];
    cpu.stop = true;
    Ok(())
}

pub fn sysexit<B: Bus>(cpu: &mut Cpu<B>, _op: &Op<B>) -> Result<(), Exc> {
    let cs = cpu.sysenter[0] as u16 & 0xFFFC;
    if !cpu.pe() || cs == 0 || cpu.cpl() != 0 {
        return Err(Exc::gp(0));
    }
    cpu.put_seg(SegReg::Cs as usize, flat(cs.wrapping_add(16) | 3, true, 3));
    cpu.put_seg(SegReg::Ss as usize, flat(cs.wrapping_add(24) | 3, false, 3));
    cpu.cpl = 3;
    cpu.r[Reg::Esp as usize] = cpu.r[Reg::Ecx as usize];
    cpu.eip = cpu.r[Reg::Edx as usize];
    cpu.stop = true;
    Ok(())
}
