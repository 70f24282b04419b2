//! The x86 page walk: 2-level 32-bit paging with 4 KiB and 4 MiB (PSE) pages, and PAE
//! 3-level paging with 4 KiB and 2 MiB pages. The walk sets accessed and dirty bits in the
//! tables as hardware does, and reports faults with the architectural #PF error code.

use crate::Memory;

/// Page-table entry bits.
pub const P: u64 = 1 << 0;
pub const RW: u64 = 1 << 1;
pub const US: u64 = 1 << 2;
pub const A: u64 = 1 << 5;
pub const D: u64 = 1 << 6;
pub const PS: u64 = 1 << 7;
pub const G: u64 = 1 << 8;

/// #PF error-code bits.
pub const ERR_P: u32 = 1 << 0;
pub const ERR_W: u32 = 1 << 1;
pub const ERR_U: u32 = 1 << 2;
pub const ERR_RSVD: u32 = 1 << 3;

/// The paging controls a walk depends on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PagingMode {
    pub cr3: u32,
    /// CR4.PSE: 4 MiB pages in 32-bit paging.
    pub pse: bool,
    /// CR4.PAE
    pub pae: bool,
    /// CR4.PGE: honour the global bit.
    pub pge: bool,
    /// CR0.WP: supervisor writes respect read-only pages.
    pub wp: bool,
}

/// The kind of access being translated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access {
    pub write: bool,
    /// A CPL 3 access (implicit supervisor accesses such as descriptor reads pass false).
    pub user: bool,
}

/// A successful translation: the physical page and what the mapping allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Translation {
    /// Physical address of the 4 KiB page holding the linear address.
    pub page: u32,
    /// User accesses allowed (U/S set at every level).
    pub user: bool,
    /// Writes allowed for user code (R/W set at every level).
    pub user_write: bool,
    /// Writes allowed for supervisor code (R/W at every level, or CR0.WP clear).
    pub super_write: bool,
    /// The dirty bit is set, so a write needs no further walk.
    pub dirty: bool,
    pub global: bool,
}

fn read_entry(mem: &Memory, addr: u32, wide: bool) -> u64 {
    if wide {
        mem.read_u32(addr) as u64 | (mem.read_u32(addr.wrapping_add(4)) as u64) << 32
    } else {
        mem.read_u32(addr) as u64
    }
}

fn write_entry(mem: &mut Memory, addr: u32, v: u64) {
    // A and D live in the low dword in both formats.
    mem.write_u32(addr, v as u32);
}

/// Reserved bits of PAE entries: physical address bits above 36 and bit 63 (XD, reserved
/// without EFER.NXE, which this CPU does not have); a set bit is a #PF with RSVD.
const PAE_RSVD_HIGH: u64 = 0xFFFF_FFF0_0000_0000;
const PDPTE_RSVD: u64 = 0x1E6;

/// Walks the page tables for `lin`. On success the accessed bits (and the dirty bit for a
/// write) are set; on failure returns the #PF error code.
pub fn walk(mem: &mut Memory, mode: PagingMode, lin: u32, acc: Access) -> Result<Translation, u32> {
    let err_base = if acc.write { ERR_W } else { 0 } | if acc.user { ERR_U } else { 0 };
    let (upper, leaf_addr, leaf, page): (Option<(u32, u64)>, u32, u64, u32);
    if mode.pae {
        let pdpte_addr = (mode.cr3 & !0x1F).wrapping_add((lin >> 30) * 8);
        let pdpte = read_entry(mem, pdpte_addr, true);
        if pdpte & P == 0 {
            return Err(err_base);
        }
        if pdpte & (PDPTE_RSVD | PAE_RSVD_HIGH) != 0 {
            return Err(err_base | ERR_P | ERR_RSVD);
        }
        let pde_addr = (pdpte as u32 & !0xFFF).wrapping_add(((lin >> 21) & 0x1FF) * 8);
        let pde = read_entry(mem, pde_addr, true);
        if pde & P == 0 {
            return Err(err_base);
        }
        if pde & PAE_RSVD_HIGH != 0 || (pde & PS != 0 && pde & 0x001F_E000 != 0) {
            return Err(err_base | ERR_P | ERR_RSVD);
        }
        if pde & PS != 0 {
            upper = None;
            leaf_addr = pde_addr;
            leaf = pde;
            page = (pde as u32 & 0xFFE0_0000) | (lin & 0x001F_F000);
        } else {
            let pte_addr = (pde as u32 & !0xFFF).wrapping_add(((lin >> 12) & 0x1FF) * 8);
            let pte = read_entry(mem, pte_addr, true);
            if pte & P == 0 {
                return Err(err_base);
            }
            if pte & PAE_RSVD_HIGH != 0 {
                return Err(err_base | ERR_P | ERR_RSVD);
            }
            upper = Some((pde_addr, pde));
            leaf_addr = pte_addr;
            leaf = pte;
            page = pte as u32 & !0xFFF;
        }
    } else {
        let pde_addr = (mode.cr3 & !0xFFF).wrapping_add((lin >> 22) * 4);
        let pde = read_entry(mem, pde_addr, false);
        if pde & P == 0 {
            return Err(err_base);
        }
        if pde & PS != 0 && mode.pse {
            // PSE-36 high address bits are not modelled: bits 13-20 must be zero.
            if pde & 0x003F_E000 != 0 {
                return Err(err_base | ERR_P | ERR_RSVD);
            }
            upper = None;
            leaf_addr = pde_addr;
            leaf = pde;
            page = (pde as u32 & 0xFFC0_0000) | (lin & 0x003F_F000);
        } else {
            let pte_addr = (pde as u32 & !0xFFF).wrapping_add(((lin >> 12) & 0x3FF) * 4);
            let pte = read_entry(mem, pte_addr, false);
            if pte & P == 0 {
                return Err(err_base);
            }
            upper = Some((pde_addr, pde));
            leaf_addr = pte_addr;
            leaf = pte;
            page = pte as u32 & !0xFFF;
        }
    }
    let up = upper.map_or(US | RW, |(_, e)| e);
    let all_user = up & US != 0 && leaf & US != 0;
    let all_rw = up & RW != 0 && leaf & RW != 0;
    let user_write = all_user && all_rw;
    let super_write = all_rw || !mode.wp;
    let allowed = if acc.user {
        all_user && (!acc.write || all_rw)
    } else {
        !acc.write || super_write
    };
    if !allowed {
        return Err(err_base | ERR_P);
    }
    // Accessed bits on every level, dirty on the leaf for a write.
    if let Some((addr, e)) = upper {
        if e & A == 0 {
            write_entry(mem, addr, e | A);
        }
    }
    let mut new_leaf = leaf | A;
    if acc.write {
        new_leaf |= D;
    }
    if new_leaf != leaf {
        write_entry(mem, leaf_addr, new_leaf);
    }
    Ok(Translation {
        page,
        user: all_user,
        user_write,
        super_write,
        dirty: new_leaf & D != 0,
        global: mode.pge && leaf & G != 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> Memory {
        let mut m = Memory::new(4 << 20).unwrap();
        // PD at 0x1000, PT at 0x2000 mapping linear 0x0040_0000.. via PDE 1.
        m.write_u32(0x1000 + 4, 0x2000 | 0x7);
        m.write_u32(0x2000 + 5 * 4, 0x0030_5000 | 0x3); // supervisor, writable
        m.write_u32(0x2000 + 6 * 4, 0x0030_6000 | 0x5); // user, read-only
        m
    }

    fn mode() -> PagingMode {
        PagingMode {
            cr3: 0x1000,
            wp: true,
            ..Default::default()
        }
    }

    #[test]
    fn walk_sets_accessed_and_dirty() {
        let mut m = setup();
        let r = walk(
            &mut m,
            mode(),
            0x0040_5123,
            Access {
                write: true,
                user: false,
            },
        )
        .unwrap();
        assert_eq!(r.page, 0x0030_5000);
        assert_eq!(m.read_u32(0x1004) & 0x20, 0x20);
        assert_eq!(m.read_u32(0x2014) & 0x60, 0x60);
    }

    #[test]
    fn faults_have_architectural_codes() {
        let mut m = setup();
        let user_read = Access {
            write: false,
            user: true,
        };
        assert_eq!(
            walk(&mut m, mode(), 0x0040_5000, user_read),
            Err(ERR_P | ERR_U)
        );
        let sup_write = Access {
            write: true,
            user: false,
        };
        assert_eq!(
            walk(&mut m, mode(), 0x0040_6000, sup_write),
            Err(ERR_P | ERR_W)
        );
        assert_eq!(walk(&mut m, mode(), 0x0080_0000, sup_write), Err(ERR_W));
        let no_wp = PagingMode {
            wp: false,
            ..mode()
        };
        assert!(walk(&mut m, no_wp, 0x0040_6000, sup_write).is_ok());
    }

    #[test]
    fn large_pages() {
        let mut m = setup();
        m.write_u32(0x1000 + 8, 0x0080_0000 | 0x87);
        let pse = PagingMode {
            pse: true,
            ..mode()
        };
        let r = walk(
            &mut m,
            pse,
            0x0083_4567,
            Access {
                write: false,
                user: true,
            },
        )
        .unwrap();
        assert_eq!(r.page, 0x0083_4000);
    }

    #[test]
    fn pae_walk() {
        let mut m = Memory::new(4 << 20).unwrap();
        m.write_u32(0x3000, 0x4000 | 1); // PDPTE 0
        m.write_u32(0x4000 + 8, 0x5000 | 7); // PDE 1 -> PT
        m.write_u32(0x5000 + 3 * 8, 0x0012_3000 | 7);
        let pae = PagingMode {
            cr3: 0x3000,
            pae: true,
            ..Default::default()
        };
        let r = walk(
            &mut m,
            pae,
            0x0020_3abc,
            Access {
                write: true,
                user: true,
            },
        )
        .unwrap();
        assert_eq!(r.page, 0x0012_3000);
        assert!(r.dirty);
    }
}
