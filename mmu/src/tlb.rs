//! The TLB: direct-indexed by linear page number, each entry holding the physical page and
//! what the mapping allows, so a hit costs one tag compare and one permission test. Lists of
//! filled slots make a flush proportional to what it drops, not to the table size.

use crate::paging::Translation;

const SLOTS: usize = 4096;

/// Permission bits of an entry.
pub const READ_SUPER: u8 = 1;
pub const READ_USER: u8 = 2;
pub const WRITE_SUPER: u8 = 4;
pub const WRITE_USER: u8 = 8;
const GLOBAL: u8 = 16;

/// A slot's entry in [`Tlb::local`] and in [`Tlb::kept`].
const LOCAL: u8 = 1;
const KEPT: u8 = 2;

/// The permission bit an access needs: a write or a read, by a user or a supervisor
/// (the user bits are the supervisor ones shifted by one).
#[inline(always)]
pub fn need(write: bool, user: bool) -> u8 {
    (if write { WRITE_SUPER } else { READ_SUPER }) << user as u8
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    /// Linear page number + 1 (0 = empty).
    tag: u32,
    phys: u32,
    perm: u8,
}

pub struct Tlb {
    /// A fixed-size table, so a slot index masked to its size needs no bounds check.
    entries: Box<[Entry; SLOTS]>,
    /// Slots filled with a non-global entry since the last flush, and slots ever filled with
    /// a global one, each listed once per list (`listed`: [`LOCAL`], [`KEPT`]). A CR3 flush
    /// visits only the first: the kernel's global pages, which it keeps, are not walked
    /// again on every context switch.
    local: Vec<u16>,
    kept: Vec<u16>,
    listed: Box<[u8; SLOTS]>,
    pub hits: u64,
    pub misses: u64,
    /// Count hits (for `--stats`); off by default because a counter bumped on every memory
    /// access is a store-to-load dependency chain through the whole run.
    pub count_hits: bool,
}

impl Default for Tlb {
    fn default() -> Self {
        Tlb::new()
    }
}

impl Tlb {
    pub fn new() -> Tlb {
        Tlb {
            entries: Box::new(
                [Entry {
                    tag: 0,
                    phys: 0,
                    perm: 0,
                }; SLOTS],
            ),
            local: Vec::with_capacity(SLOTS),
            kept: Vec::with_capacity(SLOTS),
            listed: Box::new([0; SLOTS]),
            hits: 0,
            misses: 0,
            count_hits: false,
        }
    }

    /// The physical page for `lin` if cached with permission `need` (see [`need`]).
    #[inline(always)]
    pub fn lookup(&mut self, lin: u32, need: u8) -> Option<u32> {
        match self.peek(lin, need) {
            Some((phys, _)) => {
                if self.count_hits {
                    self.hits += 1;
                }
                Some(phys)
            }
            None => {
                self.misses += 1;
                None
            }
        }
    }

    /// Like [`Tlb::lookup`] without counting (filling the host TLB after an access), with
    /// whether the entry is global.
    #[inline(always)]
    pub fn peek(&self, lin: u32, need: u8) -> Option<(u32, bool)> {
        let vpn = lin >> 12;
        let e = &self.entries[vpn as usize & (SLOTS - 1)];
        (e.tag == vpn + 1 && e.perm & need != 0).then_some((e.phys, e.perm & GLOBAL != 0))
    }

    /// Caches a walk result. Write permission is granted only once the dirty bit is set, so
    /// the first write through a clean entry walks again and sets it.
    pub fn insert(&mut self, lin: u32, t: &Translation) {
        let vpn = lin >> 12;
        let slot = vpn as usize & (SLOTS - 1);
        let mut perm = READ_SUPER;
        if t.user {
            perm |= READ_USER;
        }
        if t.dirty {
            if t.super_write {
                perm |= WRITE_SUPER;
            }
            if t.user_write {
                perm |= WRITE_USER;
            }
        }
        if t.global {
            perm |= GLOBAL;
        }
        let list = if t.global { KEPT } else { LOCAL };
        if self.listed[slot] & list == 0 {
            self.listed[slot] |= list;
            if t.global {
                &mut self.kept
            } else {
                &mut self.local
            }
            .push(slot as u16);
        }
        self.entries[slot] = Entry {
            tag: vpn + 1,
            phys: t.page,
            perm,
        };
    }

    /// INVLPG.
    pub fn flush_page(&mut self, lin: u32) {
        let vpn = lin >> 12;
        let e = &mut self.entries[vpn as usize & (SLOTS - 1)];
        if e.tag == vpn + 1 {
            e.tag = 0;
        }
    }

    /// CR3 reload: drops everything but global entries (when `keep_global`).
    /// A slot whose entry is non-global was filled with it after the last flush, so it is
    /// in the local list; a global entry there now is in the kept list too, and stays.
    pub fn flush(&mut self, keep_global: bool) {
        for &slot in &self.local {
            let e = &mut self.entries[slot as usize];
            if !keep_global || e.perm & GLOBAL == 0 {
                e.tag = 0;
            }
            self.listed[slot as usize] &= !LOCAL;
        }
        self.local.clear();
        if !keep_global {
            for &slot in &self.kept {
                self.entries[slot as usize].tag = 0;
                self.listed[slot as usize] = 0;
            }
            self.kept.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(page: u32, dirty: bool, global: bool) -> Translation {
        Translation {
            page,
            user: true,
            user_write: true,
            super_write: true,
            dirty,
            global,
        }
    }

    #[test]
    fn hit_miss_and_flush() {
        let mut tlb = Tlb::new();
        assert_eq!(tlb.lookup(0x1234_5678, READ_USER), None);
        tlb.insert(0x1234_5678, &t(0x9000, false, false));
        assert_eq!(tlb.lookup(0x1234_5000, READ_USER), Some(0x9000));
        assert_eq!(
            tlb.lookup(0x1234_5000, WRITE_USER),
            None,
            "clean page walks on write"
        );
        tlb.insert(0x0040_0000, &t(0xA000, true, true));
        tlb.flush(true);
        assert_eq!(tlb.lookup(0x1234_5000, READ_USER), None);
        assert_eq!(tlb.lookup(0x0040_0000, WRITE_USER), Some(0xA000));
        tlb.flush_page(0x0040_0000);
        assert_eq!(tlb.lookup(0x0040_0000, READ_USER), None);
        tlb.insert(0x0040_0000, &t(0xA000, true, true));
        tlb.flush(false);
        assert_eq!(tlb.lookup(0x0040_0000, READ_SUPER), None);
    }

    #[test]
    fn flush_sees_a_global_slot_refilled_as_non_global() {
        let mut tlb = Tlb::new();
        tlb.insert(0xC000_0000, &t(0x1000, true, true));
        tlb.flush(true);
        // INVLPG, then the same slot holds a non-global mapping: the next CR3 flush drops it.
        tlb.flush_page(0xC000_0000);
        tlb.insert(0xC000_0000, &t(0x2000, true, false));
        tlb.flush(true);
        assert_eq!(tlb.lookup(0xC000_0000, READ_USER), None);
        // Each slot is listed once per list however often it is refilled.
        for _ in 0..100 {
            tlb.insert(0x0800_1000, &t(0x3000, true, true));
            tlb.insert(0x0800_1000, &t(0x3000, true, false));
            tlb.flush_page(0x0800_1000);
        }
        // Slot 0 (0xC000_0000) is kept; slot 1 is in both lists.
        assert_eq!((tlb.local.len(), tlb.kept.len()), (1, 2));
        // A CR3 flush walks only the non-global fills and keeps the global entries.
        tlb.insert(0x0900_2000, &t(0x4000, true, true));
        tlb.flush(true);
        assert_eq!((tlb.local.len(), tlb.kept.len()), (0, 3));
        assert_eq!(tlb.lookup(0x0900_2000, READ_USER), Some(0x4000));
        // A global slot refilled as non-global is listed again and dropped by the next one.
        tlb.insert(0x0900_2000, &t(0x5000, true, false));
        tlb.flush(true);
        assert_eq!(tlb.lookup(0x0900_2000, READ_USER), None);
        tlb.insert(0x0900_2000, &t(0x4000, true, true));
        tlb.flush(false);
        assert!(tlb.local.is_empty() && tlb.kept.is_empty());
        assert_eq!(tlb.lookup(0x0900_2000, READ_USER), None);
    }
}
