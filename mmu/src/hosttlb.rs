//! The host TLB: the CPU's fast path from a linear address straight to guest RAM, for data
//! accesses at the current privilege, with paging on or off.
//!
//! Each slot maps one linear page to the offset of its RAM page in the guest mapping, with
//! one tag for reads and one for writes. A tag is the linear page address with the CPL that
//! filled it in its low bits, so a hit is one compare (which also rules out an access
//! crossing the page end): the permission test, the paging
//! switch, the A20 mask and the "RAM, not ROM, no decoded code" test of a store were all
//! done when the slot was filled. Slots are filled only after the full path (segment
//! checks done by the caller, then the TLB or the page walk) has performed the same access,
//! and emptied wherever that path's inputs change: TLB flushes and INVLPG (the CPU calls
//! [`crate::Memory::host_flush`]), the A20 gate, and a page becoming code (write tags
//! only, so the store that hits code takes the slow path and invalidates the blocks).

const SLOTS: usize = 4096;

/// An empty tag: no computed tag has bits 2-11 set.
const NONE: u32 = u32::MAX;

/// 16 bytes, so a slot index scales by a shift.
#[derive(Clone, Copy)]
#[repr(C, align(16))]
struct Slot {
    /// Linear page address | CPL, or [`NONE`].
    read: u32,
    write: u32,
    /// RAM offset of the page minus its linear address (wrapping): adding the linear
    /// address of a byte gives the byte's offset in the guest mapping.
    delta: u32,
    /// Filled from a global TLB entry: kept by a CR3 load, as the TLB keeps it.
    global: bool,
}

/// A slot's entry in [`HostTlb::local`] and in [`HostTlb::kept`].
const LOCAL: u8 = 1;
const KEPT: u8 = 2;

const EMPTY: Slot = Slot {
    read: NONE,
    write: NONE,
    delta: 0,
    global: false,
};

pub struct HostTlb {
    /// A fixed-size table, so an index masked to its size needs no bounds check.
    slots: Box<[Slot; SLOTS]>,
    /// Slots filled from a non-global entry since the last flush, and slots ever filled from
    /// a global one, each listed once per list (`listed`: [`LOCAL`], [`KEPT`]), so a CR3
    /// load touches only the first and the global kernel pages are not walked on every
    /// context switch.
    local: Vec<u16>,
    kept: Vec<u16>,
    listed: Box<[u8; SLOTS]>,
}

impl Default for HostTlb {
    fn default() -> Self {
        HostTlb::new()
    }
}

/// The tag of the page holding `lin` for an access at privilege `cpl` (0-3).
#[inline(always)]
fn tag(lin: u32, cpl: u8) -> u32 {
    // Any CPL byte fits below the page bits; masking it to 0-3 would cost an instruction
    // on every access for nothing.
    (lin & !0xFFF) | cpl as u32
}

#[inline(always)]
fn slot_of(lin: u32) -> usize {
    (lin >> 12) as usize & (SLOTS - 1)
}

impl HostTlb {
    pub fn new() -> HostTlb {
        HostTlb {
            slots: Box::new([EMPTY; SLOTS]),
            local: Vec::with_capacity(SLOTS),
            kept: Vec::with_capacity(SLOTS),
            listed: Box::new([0; SLOTS]),
        }
    }

    /// The offset in the guest mapping of `lin` for a read of `n` bytes at privilege `cpl`,
    /// if all `n` lie in one mapped page.
    #[inline(always)]
    pub fn read(&self, lin: u32, cpl: u8, n: u32) -> Option<usize> {
        self.hit::<false>(lin, cpl, n)
    }

    /// Like [`HostTlb::read`] for a write.
    #[inline(always)]
    pub fn write(&self, lin: u32, cpl: u8, n: u32) -> Option<usize> {
        self.hit::<true>(lin, cpl, n)
    }

    /// The tag compared is that of the access's last byte, in the slot of its first: when
    /// the two pages differ, it cannot match.
    #[inline(always)]
    fn hit<const WRITE: bool>(&self, lin: u32, cpl: u8, n: u32) -> Option<usize> {
        let s = &self.slots[slot_of(lin)];
        let t = if WRITE { s.write } else { s.read };
        (t == tag(lin.wrapping_add(n - 1), cpl)).then(|| lin.wrapping_add(s.delta) as usize)
    }

    /// Maps `lin`'s page at `cpl` to the RAM page at offset `ram`, for reads, or for reads
    /// and writes when `write`; `global` when the TLB entry behind it is global. Callers guarantee the whole page lies inside the guest
    /// mapping: [`crate::Memory`]'s fast path reads and writes through a hit unchecked.
    pub fn fill(&mut self, lin: u32, cpl: u8, ram: u32, write: bool, global: bool) {
        let i = slot_of(lin);
        let list = if global { KEPT } else { LOCAL };
        if self.listed[i] & list == 0 {
            self.listed[i] |= list;
            if global {
                &mut self.kept
            } else {
                &mut self.local
            }
            .push(i as u16);
        }
        let t = tag(lin, cpl);
        let delta = ram.wrapping_sub(lin & !0xFFF);
        let s = &mut self.slots[i];
        // A slot holds one page at one privilege: a fill for another empties both tags.
        if s.read != t || s.delta != delta {
            *s = EMPTY;
        }
        s.delta = delta;
        s.read = t;
        s.global = global;
        if write {
            s.write = t;
        }
    }

    /// Forgets everything, or everything but global pages when `keep_global` (a CR3 load).
    /// A slot filled from a non-global entry since the last flush is in the local list; a
    /// global fill there since is in the kept list too, and stays.
    pub fn flush(&mut self, keep_global: bool) {
        for &i in &self.local {
            let s = &mut self.slots[i as usize];
            if !keep_global || !s.global {
                *s = EMPTY;
            }
            self.listed[i as usize] &= !LOCAL;
        }
        self.local.clear();
        if !keep_global {
            for &i in &self.kept {
                self.slots[i as usize] = EMPTY;
                self.listed[i as usize] = 0;
            }
            self.kept.clear();
        }
    }

    /// Forgets every linear page in `lin`'s slot (INVLPG).
    pub fn flush_page(&mut self, lin: u32) {
        self.slots[slot_of(lin)] = EMPTY;
    }

    /// Forgets all write permissions (a page became code: its stores must take the slow
    /// path, wherever it is mapped).
    pub fn flush_writes(&mut self) {
        for &i in self.local.iter().chain(&self.kept) {
            self.slots[i as usize].write = NONE;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_separate_privileges_and_pages() {
        let mut t = HostTlb::new();
        t.fill(0x0804_8123, 3, 0x5000, false, false);
        assert_eq!(t.read(0xFFFF_FFFE, 3, 4), None, "wraps the address space");
        assert_eq!(t.read(0x0804_8FFC, 3, 4), Some(0x5FFC));
        assert_eq!(t.read(0x0804_8FFD, 3, 4), None, "crosses the page end");
        assert_eq!(t.read(0x0804_8000, 0, 4), None, "filled for CPL 3 only");
        assert_eq!(t.write(0x0804_8000, 3, 4), None, "read-only fill");
        assert_eq!(t.read(0x1804_8000, 3, 1), None, "same slot, other page");
        t.fill(0x0804_8000, 3, 0x5000, true, false);
        assert_eq!(t.write(0x0804_8010, 3, 2), Some(0x5010));
        t.flush_writes();
        assert_eq!(t.write(0x0804_8010, 3, 2), None);
        assert_eq!(t.read(0x0804_8010, 3, 2), Some(0x5010));
        t.fill(0x0804_8000, 0, 0x5000, true, false);
        assert_eq!(t.read(0x0804_8010, 3, 2), None, "refilled for CPL 0");
        assert_eq!(t.write(0x0804_8010, 0, 4), Some(0x5010));
        t.flush_page(0x0804_8FFF);
        assert_eq!(t.read(0x0804_8010, 0, 2), None);
        t.fill(0xC000_0000, 0, 0x1000, true, false);
        t.fill(0xC000_1000, 0, 0x2000, true, true);
        t.flush(true);
        assert_eq!(t.read(0xC000_0000, 0, 1), None);
        assert_eq!(t.write(0xC000_0000, 0, 1), None);
        assert_eq!(t.write(0xC000_1004, 0, 4), Some(0x2004), "global kept");
        t.flush(false);
        assert_eq!(t.read(0xC000_1004, 0, 4), None);
    }

    #[test]
    fn cr3_flush_walks_only_non_global_fills() {
        let mut t = HostTlb::new();
        t.fill(0xC000_0000, 0, 0x1000, true, true);
        t.fill(0x0804_8000, 3, 0x2000, true, false);
        t.flush(true);
        assert_eq!((t.local.len(), t.kept.len()), (0, 1));
        assert_eq!(t.read(0xC000_0004, 0, 4), Some(0x1004));
        assert_eq!(t.read(0x0804_8000, 3, 4), None);
        // The global page's slot refilled from a non-global entry: the next flush drops it.
        t.fill(0xC000_0000, 0, 0x3000, true, false);
        t.flush(true);
        assert_eq!(t.read(0xC000_0004, 0, 4), None);
        // Refilled global for the same page: kept; flush_writes reaches it through `kept`.
        t.fill(0xC000_0000, 0, 0x3000, true, false);
        t.fill(0xC000_0000, 0, 0x3000, true, true);
        t.flush(true);
        assert_eq!(t.write(0xC000_0004, 0, 4), Some(0x3004));
        t.flush_writes();
        assert_eq!(t.write(0xC000_0004, 0, 4), None);
        assert_eq!(t.read(0xC000_0004, 0, 4), Some(0x3004));
        t.flush(false);
        assert!(t.local.is_empty() && t.kept.is_empty());
        assert_eq!(t.read(0xC000_0004, 0, 4), None);
    }
}
