//! Guest memory and operand access: segment limit checks, linear to physical translation,
//! register views by size, the stack.

use emu_mmu::{paging, tlb, Access};

use crate::decode::{Kind, Op};
use crate::exception::{self, Exc};
use crate::regs::{Reg, SegReg, SEG_READ, SEG_WRITE};
use crate::{Bus, Cpu};

/// Where an operand lives, resolved once so a read-modify-write computes its address once.
#[derive(Clone, Copy, Debug)]
pub enum Loc {
    Reg(u8),
    /// Linear address (segment base + offset, limit already checked).
    Mem(u32),
}

/// Any address form (see [`Cpu::ea_as`]).
pub const EA_ANY: u8 = 0;
/// 32-bit addressing, a base register (or none) plus displacement, no index.
pub const EA_BASE: u8 = 1;

/// The address form of an op's memory operand, for choosing a specialised handler.
pub fn ea_form<B: Bus>(op: &Op<B>) -> u8 {
    if op.amask() == u32::MAX && op.index == crate::regs::NO_REG {
        EA_BASE
    } else {
        EA_ANY
    }
}

impl<B: Bus> Cpu<B> {
    // ---- registers -------------------------------------------------------------------------

    #[inline]
    pub fn get_reg(&self, size: u8, i: u8) -> u32 {
        let i = i as usize & 7;
        match size {
            1 => {
                if i < 4 {
                    self.r[i] & 0xFF
                } else {
                    (self.r[i - 4] >> 8) & 0xFF
                }
            }
            2 => self.r[i] & 0xFFFF,
            _ => self.r[i],
        }
    }

    #[inline]
    pub fn set_reg(&mut self, size: u8, i: u8, v: u32) {
        let i = i as usize & 7;
        match size {
            1 => {
                if i < 4 {
                    self.r[i] = (self.r[i] & !0xFF) | (v & 0xFF);
                } else {
                    self.r[i - 4] = (self.r[i - 4] & !0xFF00) | ((v & 0xFF) << 8);
                }
            }
            2 => self.r[i] = (self.r[i] & 0xFFFF_0000) | (v & 0xFFFF),
            _ => self.r[i] = v,
        }
    }

    // ---- linear addresses ------------------------------------------------------------------

    /// The effective address (offset) of the op's memory operand.
    #[inline]
    pub fn ea(&self, op: &Op<B>) -> u32 {
        self.r[op.base as usize & 15]
            .wrapping_add(self.r[op.index as usize & 15] << op.scale)
            .wrapping_add(op.disp)
            & op.amask()
    }

    /// The effective address for a handler specialised by address form (`EA_*`): the
    /// commonest, a 32-bit base plus displacement, skips the index, scale and size mask.
    #[inline(always)]
    pub fn ea_as<const F: u8>(&self, op: &Op<B>) -> u32 {
        if F == EA_BASE {
            self.r[op.base as usize & 15].wrapping_add(op.disp)
        } else {
            self.ea(op)
        }
    }

    /// Checks a read of `size` bytes at `off` against the segment and returns the linear
    /// address.
    #[inline]
    pub fn lin_r(&self, seg: u8, off: u32, size: u32) -> Result<u32, Exc> {
        self.seg_check(seg, off, size, SEG_READ)
    }

    /// Like [`Cpu::lin_r`] for a write (or a read-modify-write).
    #[inline]
    pub fn lin_w(&self, seg: u8, off: u32, size: u32) -> Result<u32, Exc> {
        self.seg_check(seg, off, size, SEG_WRITE)
    }

    #[inline(always)]
    fn seg_check(&self, seg: u8, off: u32, size: u32, need: u8) -> Result<u32, Exc> {
        // Decoded ops only name segments 0-5; a plain bounds check beats `% 6` here.
        let Some(s) = self.seg.get(seg as usize) else {
            return Err(self.limit_fault(seg));
        };
        if s.rw & need == 0 || off < s.lo || (off as u64 + size as u64 - 1) > s.hi as u64 {
            return Err(self.limit_fault(seg));
        }
        Ok(s.base.wrapping_add(off))
    }

    /// [`Cpu::seg_check`] without the fault: the linear address, or None.
    #[inline(always)]
    pub(crate) fn seg_ok(&self, seg: u8, off: u32, size: u32, need: u8) -> Option<u32> {
        // A flat segment needs no test here: an access wrapping past 4 GiB cannot hit the
        // host TLB (its last byte's page is not the slot's), and the full path faults it.
        if (self.flat as u32 >> (seg as u32 & 31)) & 1 != 0 {
            return Some(off);
        }
        let s = self.seg.get(seg as usize)?;
        if s.rw & need == 0 || off < s.lo || (off as u64 + size as u64 - 1) > s.hi as u64 {
            return None;
        }
        Some(s.base.wrapping_add(off))
    }

    #[cold]
    #[inline(never)]
    fn limit_fault(&self, seg: u8) -> Exc {
        if seg == SegReg::Ss as u8 {
            Exc::ss(0)
        } else {
            Exc::gp(0)
        }
    }

    // ---- linear memory: paging -------------------------------------------------------------

    /// Translates a linear address for a data access of the current privilege.
    #[inline(always)]
    pub fn translate(&mut self, lin: u32, write: bool) -> Result<u32, Exc> {
        self.translate_as(lin, write, self.user())
    }

    /// Translates a linear address for an access checked as a user access (`user`) or as a
    /// supervisor one.
    #[inline(always)]
    fn translate_as(&mut self, lin: u32, write: bool, user: bool) -> Result<u32, Exc> {
        if !self.paging {
            return Ok(lin);
        }
        if let Some(p) = self.tlb_hit(lin, write, user) {
            return Ok(p);
        }
        self.walk(lin, write, user)
    }

    /// Whether data accesses of the current privilege are user accesses for paging.
    #[inline(always)]
    fn user(&self) -> bool {
        // `self.cpl` is kept equal to `cpl()` (0 in real mode, 3 in virtual-8086 mode).
        debug_assert_eq!(self.cpl, self.cpl(), "cached CPL out of step");
        self.cpl == 3
    }

    /// The physical address of `lin` if the TLB holds it with the permission needed.
    #[inline(always)]
    fn tlb_hit(&mut self, lin: u32, write: bool, user: bool) -> Option<u32> {
        Some(self.tlb.lookup(lin, tlb::need(write, user))? | (lin & 0xFFF))
    }

    #[cold]
    #[inline(never)]
    fn walk(&mut self, lin: u32, write: bool, user: bool) -> Result<u32, Exc> {
        self.stats.page_walks += 1;
        match paging::walk(&mut self.mem, self.pmode, lin, Access { write, user }) {
            Ok(t) => {
                self.tlb.insert(lin, &t);
                Ok(t.page | (lin & 0xFFF))
            }
            Err(code) => {
                self.cr2 = lin;
                Err(Exc::with_code(exception::PF, code))
            }
        }
    }

    /// A data read at the current privilege: the host TLB, else the full path, which then
    /// fills it.
    #[inline(always)]
    pub fn lin_read(&mut self, lin: u32, size: u8) -> Result<u32, Exc> {
        match self.host_read_hit(lin, size) {
            Some(v) => Ok(v),
            None => self.lin_read_fill(lin, size),
        }
    }

    /// The fast path of a data read at the current privilege: the segment check passes and
    /// the host TLB maps the bytes. None, with nothing changed, sends the caller to the full
    /// path ([`Cpu::read_mem`]), which repeats the checks and faults or fills.
    #[inline(always)]
    pub fn read_fast(&mut self, seg: u8, off: u32, size: u8) -> Option<u32> {
        let lin = self.seg_ok(seg, off, size as u32, SEG_READ)?;
        self.host_read_hit(lin, size)
    }

    /// [`Cpu::read_mem64`]'s fast path: the 8 bytes inside the segment, the address size
    /// and one host TLB page.
    #[inline(always)]
    pub fn read_fast64(&mut self, seg: u8, off: u32, amask: u32) -> Option<u64> {
        if off > amask - 7 {
            return None;
        }
        let lin = self.seg_ok(seg, off, 8, SEG_READ)?;
        let v = self.mem.host_read64(lin, self.cpl)?;
        self.count_host_hit();
        Some(v)
    }

    /// Like [`Cpu::read_fast`] for a write: false, with nothing changed, sends the caller to
    /// [`Cpu::write_mem`]. The host TLB never maps decoded code, so a hit needs no check.
    #[inline(always)]
    pub fn write_fast(&mut self, seg: u8, off: u32, size: u8, v: u32) -> bool {
        match self.seg_ok(seg, off, size as u32, SEG_WRITE) {
            Some(lin) => self.host_write_hit(lin, size, v),
            None => false,
        }
    }

    /// A write through the host TLB, counted for `--stats`; false on a miss.
    #[inline(always)]
    pub(crate) fn host_write_hit(&mut self, lin: u32, size: u8, v: u32) -> bool {
        let hit = match size {
            1 => self.mem.host_write::<1>(lin, self.cpl, v),
            2 => self.mem.host_write::<2>(lin, self.cpl, v),
            _ => self.mem.host_write::<4>(lin, self.cpl, v),
        };
        if hit {
            self.count_host_hit();
        }
        hit
    }

    /// A read through the host TLB, counted for `--stats`; None on a miss.
    #[inline(always)]
    pub(crate) fn host_read_hit(&mut self, lin: u32, size: u8) -> Option<u32> {
        let v = match size {
            1 => self.mem.host_read::<1>(lin, self.cpl),
            2 => self.mem.host_read::<2>(lin, self.cpl),
            _ => self.mem.host_read::<4>(lin, self.cpl),
        }?;
        self.count_host_hit();
        Some(v)
    }

    /// `--stats` counts a host TLB hit with paging on as a TLB hit.
    #[inline(always)]
    pub(crate) fn count_host_hit(&mut self) {
        if self.tlb.count_hits && self.paging {
            self.tlb.hits += 1;
        }
    }

    /// A read the host TLB does not map: the full path, then a fill for the next one.
    #[cold]
    #[inline(never)]
    fn lin_read_fill(&mut self, lin: u32, size: u8) -> Result<u32, Exc> {
        self.stats.host_misses += 1;
        let user = self.user();
        let v = self.lin_read_as(lin, size, user)?;
        self.host_fill(lin, user, false);
        Ok(v)
    }

    /// Puts `lin`'s page into the host TLB after the full path has just accessed it (so
    /// with paging on, the TLB holds it with the permission needed).
    fn host_fill(&mut self, lin: u32, user: bool, write: bool) {
        let phys = if !self.paging {
            Some((lin, false))
        } else {
            self.tlb.peek(lin, tlb::need(write, user))
        };
        if let Some((p, global)) = phys {
            self.mem.host_fill(lin, self.cpl, p, write, global);
        }
    }

    /// Drops the TLB and the host TLB (all but global entries when `keep_global`).
    pub fn flush_tlb(&mut self, keep_global: bool) {
        self.tlb.flush(keep_global);
        self.mem.host_flush(keep_global);
    }

    /// Drops `lin`'s page from the TLB and the host TLB (INVLPG).
    pub fn flush_tlb_page(&mut self, lin: u32) {
        self.tlb.flush_page(lin);
        self.mem.host_flush_page(lin);
    }

    #[inline(always)]
    fn lin_read_as(&mut self, lin: u32, size: u8, user: bool) -> Result<u32, Exc> {
        if !self.paging {
            return Ok(match size {
                1 => self.mem.read_u8(lin) as u32,
                2 => self.mem.read_u16(lin) as u32,
                _ => self.mem.read_u32(lin),
            });
        }
        if (lin & 0xFFF) + size as u32 > 0x1000 {
            return self.lin_read_split(lin, size, user);
        }
        match self.tlb_hit(lin, false, user) {
            Some(p) => Ok(self.read_in_page(p, size)),
            None => self.lin_read_miss(lin, size, user),
        }
    }

    #[inline(always)]
    fn read_in_page(&self, p: u32, size: u8) -> u32 {
        match size {
            1 => self.mem.read_in_page::<1>(p),
            2 => self.mem.read_in_page::<2>(p),
            _ => self.mem.read_in_page::<4>(p),
        }
    }

    /// A paged read the TLB does not hold: walk, then read. Out of line, so the hit path
    /// carries no `Result` from the walk.
    #[cold]
    #[inline(never)]
    fn lin_read_miss(&mut self, lin: u32, size: u8, user: bool) -> Result<u32, Exc> {
        let p = self.walk(lin, false, user)?;
        Ok(self.read_in_page(p, size))
    }

    #[cold]
    #[inline(never)]
    fn lin_read_split(&mut self, lin: u32, size: u8, user: bool) -> Result<u32, Exc> {
        let mut v = 0u32;
        for i in 0..size as u32 {
            let p = self.translate_as(lin.wrapping_add(i), false, user)?;
            v |= (self.mem.read_u8(p) as u32) << (8 * i);
        }
        Ok(v)
    }

    /// A data write at the current privilege: the host TLB (which never maps code, so the
    /// store needs no code check), else the full path, which then fills it.
    #[inline(always)]
    pub fn lin_write(&mut self, lin: u32, size: u8, v: u32) -> Result<(), Exc> {
        if self.host_write_hit(lin, size, v) {
            return Ok(());
        }
        self.lin_write_fill(lin, size, v)
    }

    /// A write the host TLB does not map: the full path, then a fill for the next one.
    #[cold]
    #[inline(never)]
    fn lin_write_fill(&mut self, lin: u32, size: u8, v: u32) -> Result<(), Exc> {
        self.stats.host_misses += 1;
        let user = self.user();
        self.lin_write_as(lin, size, v, user)?;
        self.host_fill(lin, user, true);
        Ok(())
    }

    #[inline(always)]
    fn lin_write_as(&mut self, lin: u32, size: u8, v: u32, user: bool) -> Result<(), Exc> {
        if !self.paging {
            match size {
                1 => self.mem.write_u8(lin, v as u8),
                2 => self.mem.write_u16(lin, v as u16),
                _ => self.mem.write_u32(lin, v),
            }
        } else if (lin & 0xFFF) + size as u32 > 0x1000 {
            return self.lin_write_split(lin, size, v, user);
        } else {
            match self.tlb_hit(lin, true, user) {
                Some(p) => self.write_in_page(p, size, v),
                None => return self.lin_write_miss(lin, size, v, user),
            }
        }
        if self.mem.code_written {
            self.stop = true;
        }
        Ok(())
    }

    /// A store to physical `p`: Memory's own stores, whose direct-to-RAM test also keeps a
    /// store inside its page and so cannot fail on any address.
    #[inline(always)]
    fn write_in_page(&mut self, p: u32, size: u8, v: u32) {
        match size {
            1 => self.mem.write_u8(p, v as u8),
            2 => self.mem.write_u16(p, v as u16),
            _ => self.mem.write_u32(p, v),
        }
    }

    /// A paged write the TLB does not hold (or holds clean): walk, then write.
    #[cold]
    #[inline(never)]
    fn lin_write_miss(&mut self, lin: u32, size: u8, v: u32, user: bool) -> Result<(), Exc> {
        let p = self.walk(lin, true, user)?;
        self.write_in_page(p, size, v);
        if self.mem.code_written {
            self.stop = true;
        }
        Ok(())
    }

    /// A write straddling two pages: both are translated (and may fault) before any byte is
    /// written.
    #[cold]
    #[inline(never)]
    fn lin_write_split(&mut self, lin: u32, size: u8, v: u32, user: bool) -> Result<(), Exc> {
        let end = lin.wrapping_add(size as u32 - 1);
        let p0 = self.translate_as(lin, true, user)?;
        // CR2 names the first byte on the second page if that one faults.
        let p1 = self.translate_as(end & !0xFFF, true, user)?;
        for i in 0..size as u32 {
            let a = lin.wrapping_add(i);
            let p = if a & !0xFFF == lin & !0xFFF {
                p0 + (a - lin)
            } else {
                (p1 & !0xFFF) | (a & 0xFFF)
            };
            self.mem.write_u8(p, (v >> (8 * i)) as u8);
        }
        if self.mem.code_written {
            self.stop = true;
        }
        Ok(())
    }

    /// Implicit supervisor reads and writes (descriptor tables, TSS, IDT): privilege checks
    /// of paging treat them as CPL 0 whatever the current level.
    pub fn sys_read(&mut self, lin: u32, size: u8) -> Result<u32, Exc> {
        self.lin_read_as(lin, size, false)
    }

    pub fn sys_write(&mut self, lin: u32, size: u8, v: u32) -> Result<(), Exc> {
        self.lin_write_as(lin, size, v, false)
    }

    /// Translates a linear code address for an instruction fetch at the current privilege.
    #[inline]
    pub fn code_phys(&mut self, lin: u32) -> Result<u32, Exc> {
        let p = self.translate(lin, false)?;
        Ok(p & self.mem.a20_mask())
    }

    /// The physical address of code at `lin` when no page walk is needed (paging off, or a
    /// TLB hit), so blocks chain across pages without the run loop; `None` leaves the walk
    /// and its faults to [`Cpu::code_phys`].
    #[inline(always)]
    pub(crate) fn code_phys_cached(&mut self, lin: u32) -> Option<u32> {
        let p = if self.paging {
            let (page, _) = self.tlb.peek(lin, tlb::need(false, self.user()))?;
            if self.tlb.count_hits {
                self.tlb.hits += 1;
            }
            page | (lin & 0xFFF)
        } else {
            lin
        };
        Some(p & self.mem.a20_mask())
    }

    /// Reads instruction bytes from one physical page for the decoder.
    pub fn fetch_phys(&self, phys: u32, buf: &mut [u8]) {
        for (i, b) in buf.iter_mut().enumerate() {
            *b = self.mem.read_u8(phys.wrapping_add(i as u32));
        }
    }

    // ---- segment:offset memory ---------------------------------------------------------------

    #[inline(always)]
    pub fn read_mem(&mut self, seg: u8, off: u32, size: u8) -> Result<u32, Exc> {
        let lin = self.lin_r(seg, off, size as u32)?;
        self.lin_read(lin, size)
    }

    #[inline(always)]
    pub fn write_mem(&mut self, seg: u8, off: u32, size: u8, v: u32) -> Result<(), Exc> {
        let lin = self.lin_w(seg, off, size as u32)?;
        self.lin_write(lin, size, v)
    }

    /// A 64-bit read (x87 m64 operands) as two dwords at `off` and `off + 4` (wrapped by
    /// `amask`): the same faults, in the same order, as the two dword reads, with one
    /// segment check and, when the host TLB maps the 8 bytes, one lookup.
    #[inline(always)]
    pub fn read_mem64(&mut self, seg: u8, off: u32, amask: u32) -> Result<u64, Exc> {
        if off <= amask - 7 {
            let lin = self.lin_r(seg, off, 8)?;
            if let Some(v) = self.mem.host_read64(lin, self.cpl) {
                self.count_host_hit();
                return Ok(v);
            }
            let lo = self.lin_read(lin, 4)?;
            let hi = self.lin_read(lin.wrapping_add(4), 4)?;
            return Ok(lo as u64 | (hi as u64) << 32);
        }
        let lo = self.read_mem(seg, off, 4)?;
        let hi = self.read_mem(seg, off.wrapping_add(4) & amask, 4)?;
        Ok(lo as u64 | (hi as u64) << 32)
    }

    #[inline]
    pub fn read8(&mut self, seg: u8, off: u32) -> Result<u8, Exc> {
        Ok(self.read_mem(seg, off, 1)? as u8)
    }

    #[inline]
    pub fn read16(&mut self, seg: u8, off: u32) -> Result<u16, Exc> {
        Ok(self.read_mem(seg, off, 2)? as u16)
    }

    // ---- operands ----------------------------------------------------------------------------

    /// Resolves operand A (the destination) to a location.
    #[inline]
    pub fn loc_a(&self, op: &Op<B>, size: u8) -> Result<Loc, Exc> {
        match op.a {
            Kind::Mem => Ok(Loc::Mem(self.lin_w(op.seg, self.ea(op), size as u32)?)),
            _ => Ok(Loc::Reg(op.ra)),
        }
    }

    /// Resolves operand A for reading only (CMP, TEST, BT).
    #[inline]
    pub fn loc_a_read(&self, op: &Op<B>, size: u8) -> Result<Loc, Exc> {
        match op.a {
            Kind::Mem => Ok(Loc::Mem(self.lin_r(op.seg, self.ea(op), size as u32)?)),
            _ => Ok(Loc::Reg(op.ra)),
        }
    }

    #[inline]
    pub fn read_loc(&mut self, loc: Loc, size: u8) -> Result<u32, Exc> {
        match loc {
            Loc::Reg(r) => Ok(self.get_reg(size, r)),
            Loc::Mem(lin) => self.lin_read(lin, size),
        }
    }

    #[inline]
    pub fn write_loc(&mut self, loc: Loc, size: u8, v: u32) -> Result<(), Exc> {
        match loc {
            Loc::Reg(r) => {
                self.set_reg(size, r, v);
                Ok(())
            }
            Loc::Mem(lin) => self.lin_write(lin, size, v),
        }
    }

    #[inline]
    pub fn read_a(&mut self, op: &Op<B>) -> Result<u32, Exc> {
        self.read_kind(op, op.a, op.ra, op.size)
    }

    #[inline]
    pub fn read_b(&mut self, op: &Op<B>) -> Result<u32, Exc> {
        self.read_kind(op, op.b, op.rb, op.size2)
    }

    #[inline]
    fn read_kind(&mut self, op: &Op<B>, k: Kind, r: u8, size: u8) -> Result<u32, Exc> {
        match k {
            Kind::Reg => Ok(self.get_reg(size, r)),
            Kind::Mem => self.read_mem(op.seg, self.ea(op), size),
            Kind::Imm => Ok(op.imm),
            Kind::Seg => Ok(self.seg[r as usize % 6].sel as u32),
            Kind::None | Kind::Cr | Kind::Dr => Ok(0),
        }
    }

    #[inline]
    pub fn write_a(&mut self, op: &Op<B>, v: u32) -> Result<(), Exc> {
        match op.a {
            Kind::Mem => self.write_mem(op.seg, self.ea(op), op.size, v),
            _ => {
                self.set_reg(op.size, op.ra, v);
                Ok(())
            }
        }
    }

    // ---- stack ---------------------------------------------------------------------------------

    #[inline]
    pub fn stack32(&self) -> bool {
        self.seg[SegReg::Ss as usize].big
    }

    #[inline]
    pub fn sp(&self) -> u32 {
        if self.stack32() {
            self.r[Reg::Esp as usize]
        } else {
            self.r[Reg::Esp as usize] & 0xFFFF
        }
    }

    #[inline]
    pub fn set_sp(&mut self, v: u32) {
        if self.stack32() {
            self.r[Reg::Esp as usize] = v;
        } else {
            self.set_reg16(Reg::Esp, v as u16);
        }
    }

    #[inline]
    fn sp_mask(&self) -> u32 {
        if self.stack32() {
            u32::MAX
        } else {
            0xFFFF
        }
    }

    /// Pushes a value of `size` bytes (2 or 4). SP changes only if the write succeeds. A
    /// 32-bit stack is tested for once and takes the inline path; a 16-bit one (real mode,
    /// 16-bit protected-mode code) a call.
    #[inline]
    pub fn push(&mut self, size: u8, v: u32) -> Result<(), Exc> {
        if !self.stack32() {
            return self.push_sp16(size, v);
        }
        let sp = self.r[Reg::Esp as usize].wrapping_sub(size as u32);
        self.write_mem(SegReg::Ss as u8, sp, size, v)?;
        self.r[Reg::Esp as usize] = sp;
        Ok(())
    }

    /// The fast path of [`Cpu::push`] on a 32-bit stack (see [`Cpu::write_fast`]): false,
    /// with nothing changed, sends the caller to the full path.
    #[inline(always)]
    pub fn push_fast(&mut self, size: u8, v: u32) -> bool {
        if !self.stack32() {
            return false;
        }
        let sp = self.r[Reg::Esp as usize].wrapping_sub(size as u32);
        if !self.write_fast(SegReg::Ss as u8, sp, size, v) {
            return false;
        }
        self.r[Reg::Esp as usize] = sp;
        true
    }

    /// The fast path of [`Cpu::pop`] on a 32-bit stack; None, with nothing changed, sends
    /// the caller to the full path.
    #[inline(always)]
    pub fn pop_fast(&mut self, size: u8) -> Option<u32> {
        if !self.stack32() {
            return None;
        }
        let sp = self.r[Reg::Esp as usize];
        let v = self.read_fast(SegReg::Ss as u8, sp, size)?;
        self.r[Reg::Esp as usize] = sp.wrapping_add(size as u32);
        Some(v)
    }

    #[inline(never)]
    fn push_sp16(&mut self, size: u8, v: u32) -> Result<(), Exc> {
        let sp = self.r[Reg::Esp as usize].wrapping_sub(size as u32) & 0xFFFF;
        self.write_mem(SegReg::Ss as u8, sp, size, v)?;
        self.set_reg16(Reg::Esp, sp as u16);
        Ok(())
    }

    /// Pops a value of `size` bytes (2 or 4); 32-bit stacks inline as for [`Cpu::push`].
    #[inline]
    pub fn pop(&mut self, size: u8) -> Result<u32, Exc> {
        if !self.stack32() {
            return self.pop_sp16(size);
        }
        let sp = self.r[Reg::Esp as usize];
        let v = self.read_mem(SegReg::Ss as u8, sp, size)?;
        self.r[Reg::Esp as usize] = sp.wrapping_add(size as u32);
        Ok(v)
    }

    #[inline(never)]
    fn pop_sp16(&mut self, size: u8) -> Result<u32, Exc> {
        let sp = self.r[Reg::Esp as usize] & 0xFFFF;
        let v = self.read_mem(SegReg::Ss as u8, sp, size)?;
        self.set_reg16(Reg::Esp, sp.wrapping_add(size as u32) as u16);
        Ok(v)
    }

    /// Reads the stack at `SP + off` without popping (for RET imm, IRET and far returns,
    /// which check everything before committing).
    #[inline]
    pub fn peek(&mut self, off: u32, size: u8) -> Result<u32, Exc> {
        let a = self.sp().wrapping_add(off) & self.sp_mask();
        self.read_mem(SegReg::Ss as u8, a, size)
    }

    #[inline]
    pub fn add_sp(&mut self, n: u32) {
        let sp = self.sp().wrapping_add(n) & self.sp_mask();
        self.set_sp(sp);
    }
}
