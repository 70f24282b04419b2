//! Guest physical memory: one anonymous mapping, the A20 gate and code-page tracking.
//!
//! Every access takes a guest physical address and is bounds-checked here, so nothing a guest
//! computes can reach host memory outside the mapping. Reads past the end of RAM return all
//! ones (an open bus); writes there are dropped.

use bitvec::prelude::*;
use memmap2::MmapMut;

use crate::hosttlb::HostTlb;

pub const PAGE_SHIFT: u32 = 12;
pub const PAGE_SIZE: usize = 1 << PAGE_SHIFT;

#[derive(Debug)]
pub enum MemoryError {
    /// The requested size is zero, not page-aligned or too large for a 32-bit guest.
    BadSize(usize),
    /// A firmware image must be a non-empty multiple of 64 KiB, at most 1 MiB.
    BadRom(usize),
    Map(std::io::Error),
}

impl std::fmt::Display for MemoryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MemoryError::BadSize(n) => write!(f, "guest memory size {n} bytes is not usable"),
            MemoryError::BadRom(n) => write!(
                f,
                "ROM image of {n} bytes: it must be a multiple of 64 KiB, at most 1 MiB"
            ),
            MemoryError::Map(e) => write!(f, "cannot map guest memory: {e}"),
        }
    }
}

impl std::error::Error for MemoryError {}

/// End of the legacy BIOS area below 1 MiB.
const LOW_ROM_END: usize = 0x10_0000;
/// The most of a ROM image that appears below 1 MiB (E0000-FFFFF).
const LOW_ROM_MAX: usize = 0x2_0000;

pub struct Memory {
    map: MmapMut,
    size: usize,
    /// Physical address mask applied for the A20 gate: bit 20 cleared when the gate is closed.
    a20_mask: u32,
    /// One bit per page: set while the CPU holds decoded blocks from that page.
    code_pages: BitVec,
    /// Bumped each time a write hits a code page; decoded blocks remember the value they saw.
    code_gen: Vec<u32>,
    /// Set on any write to a code page; the CPU ends its current block when it sees it.
    pub code_written: bool,
    /// Test support: pages written since [`Memory::watch_all_pages`], when watching.
    written_log: Option<Vec<usize>>,
    /// Firmware image, mapped read-only at the top of the 4 GiB space.
    rom: Vec<u8>,
    /// Start of the read-only shadow of the ROM's top below 1 MiB (1 MiB when none).
    rom_lo: usize,
    /// Per page, 1 when a write may go straight to RAM: the page is RAM, outside the ROM
    /// shadow, and holds no decoded code. One byte load decides the common store.
    direct: Vec<u8>,
    /// The CPU's linear-to-RAM fast path; here because the A20 gate and code marking,
    /// which it must follow, are Memory's.
    host: HostTlb,
}

impl Memory {
    /// Maps `size` bytes of zeroed guest RAM (a multiple of 4 KiB, at most 4 GiB - 1 page).
    pub fn new(size: usize) -> Result<Memory, MemoryError> {
        if size == 0 || !size.is_multiple_of(PAGE_SIZE) || size > (1usize << 32) - PAGE_SIZE {
            return Err(MemoryError::BadSize(size));
        }
        let map = MmapMut::map_anon(size).map_err(MemoryError::Map)?;
        let pages = size / PAGE_SIZE;
        Ok(Memory {
            map,
            size,
            a20_mask: !0,
            code_pages: bitvec![0; pages],
            code_gen: vec![0; pages],
            code_written: false,
            written_log: None,
            rom: Vec::new(),
            rom_lo: LOW_ROM_END,
            direct: vec![1; pages],
            host: HostTlb::new(),
        })
    }

    pub fn size(&self) -> usize {
        self.size
    }

    pub fn a20_enabled(&self) -> bool {
        self.a20_mask & (1 << 20) != 0
    }

    pub fn set_a20(&mut self, on: bool) {
        let mask = if on { !0 } else { !(1 << 20) };
        if mask != self.a20_mask {
            self.host.flush(false);
        }
        self.a20_mask = mask;
    }

    #[inline]
    pub fn a20_mask(&self) -> u32 {
        self.a20_mask
    }

    /// The whole of guest RAM, for devices and loaders that copy blocks (disk DMA, the BIOS).
    pub fn ram(&self) -> &[u8] {
        &self.map[..]
    }

    /// Writable view of guest RAM. Callers that may overwrite code must call
    /// [`Memory::note_write`] for the range (the loaders run before any code is cached).
    pub fn ram_mut(&mut self) -> &mut [u8] {
        &mut self.map[..]
    }

    /// Maps a firmware image (a multiple of 64 KiB, at most 1 MiB): all of it at the top of
    /// the 4 GiB space, its last 128 KiB (or all of a smaller image) also just below 1 MiB,
    /// where RAM is shadowed read-only as on a PC.
    pub fn load_rom(&mut self, image: &[u8]) -> Result<(), MemoryError> {
        if image.is_empty() || !image.len().is_multiple_of(0x1_0000) || image.len() > 0x10_0000 {
            return Err(MemoryError::BadRom(image.len()));
        }
        let low = image.len().min(LOW_ROM_MAX);
        if self.size < LOW_ROM_END {
            return Err(MemoryError::BadSize(self.size));
        }
        self.rom = image.to_vec();
        self.rom_lo = LOW_ROM_END - low;
        let (lo, src) = (self.rom_lo, &image[image.len() - low..]);
        self.map[lo..LOW_ROM_END].copy_from_slice(src);
        self.note_write(lo as u32, low);
        self.host.flush(false);
        for d in &mut self.direct[lo >> PAGE_SHIFT..LOW_ROM_END >> PAGE_SHIFT] {
            *d = 0;
        }
        Ok(())
    }

    /// Whether a physical address is writable RAM.
    #[inline]
    fn writable(&self, a: usize) -> bool {
        a < self.size && !(self.rom_lo..LOW_ROM_END).contains(&a)
    }

    #[cold]
    fn read_unmapped(&self, a: usize) -> u8 {
        let base = (1usize << 32) - self.rom.len();
        if a >= base {
            self.rom[a - base]
        } else {
            0xFF
        }
    }

    #[inline(always)]
    pub fn read_u8(&self, addr: u32) -> u8 {
        let a = (addr & self.a20_mask) as usize;
        match self.map.get(a) {
            Some(&b) => b,
            None => self.read_unmapped(a),
        }
    }

    #[inline(always)]
    pub fn read_u16(&self, addr: u32) -> u16 {
        let a = (addr & self.a20_mask) as usize;
        if let Some(s) = self.map.get(a..a + 2) {
            if a & 0xFFFFF != 0xFFFFF {
                return u16::from_le_bytes([s[0], s[1]]);
            }
        }
        self.read_slow::<2>(addr) as u16
    }

    #[inline(always)]
    pub fn read_u32(&self, addr: u32) -> u32 {
        let a = (addr & self.a20_mask) as usize;
        if let Some(s) = self.map.get(a..a + 4) {
            if a & 0xFFFFF <= 0xFFFFC {
                return u32::from_le_bytes([s[0], s[1], s[2], s[3]]);
            }
        }
        self.read_slow::<4>(addr)
    }

    /// A read of `N` bytes (1, 2 or 4) the caller knows lies within one 4 KiB page (paged
    /// accesses, split at page ends before they get here): A20 masks every byte alike, so
    /// only the end of RAM needs a check.
    #[inline(always)]
    pub fn read_in_page<const N: usize>(&self, addr: u32) -> u32 {
        let a = (addr & self.a20_mask) as usize;
        if let Some(s) = self.map.get(a..a + N) {
            return match N {
                1 => s[0] as u32,
                2 => u16::from_le_bytes([s[0], s[1]]) as u32,
                _ => u32::from_le_bytes([s[0], s[1], s[2], s[3]]),
            };
        }
        self.read_slow::<N>(addr)
    }

    /// A read of `N` bytes outside plain RAM or wrapping at 1 MiB with A20 off, byte by byte.
    /// Kept out of line: inlined into every load handler it cost registers on the fast path.
    #[cold]
    #[inline(never)]
    fn read_slow<const N: usize>(&self, addr: u32) -> u32 {
        (0..N as u32).fold(0, |v, i| {
            v | (self.read_u8(addr.wrapping_add(i)) as u32) << (8 * i)
        })
    }

    /// A store of `N` bytes within one page that can go straight to RAM.
    #[inline(always)]
    fn direct_store<const N: usize>(&mut self, a: usize, bytes: [u8; N]) -> bool {
        if a & 0xFFF <= 0x1000 - N && self.direct.get(a >> PAGE_SHIFT) == Some(&1) {
            // `direct` has one entry per RAM page, so the page (and the N bytes, which stay
            // within it) lie inside the mapping: the slice index cannot fail.
            self.map[a..a + N].copy_from_slice(&bytes);
            return true;
        }
        false
    }

    #[inline(always)]
    pub fn write_u8(&mut self, addr: u32, v: u8) {
        let a = (addr & self.a20_mask) as usize;
        if !self.direct_store(a, [v]) {
            self.write_u8_slow(a, v);
        }
    }

    #[inline(never)]
    fn write_u8_slow(&mut self, a: usize, v: u8) {
        if self.writable(a) {
            self.note_page(a);
            self.map[a] = v;
        }
    }

    #[inline(always)]
    pub fn write_u16(&mut self, addr: u32, v: u16) {
        let a = (addr & self.a20_mask) as usize;
        if !self.direct_store(a, v.to_le_bytes()) {
            self.write_slow(addr, &v.to_le_bytes());
        }
    }

    #[inline(always)]
    pub fn write_u32(&mut self, addr: u32, v: u32) {
        let a = (addr & self.a20_mask) as usize;
        if !self.direct_store(a, v.to_le_bytes()) {
            self.write_slow(addr, &v.to_le_bytes());
        }
    }

    /// A store that cannot go straight to RAM (code page, ROM, page end), byte by byte; out
    /// of line for the same reason as [`Memory::read_slow`].
    #[cold]
    #[inline(never)]
    fn write_slow(&mut self, addr: u32, bytes: &[u8]) {
        for (i, &b) in bytes.iter().enumerate() {
            self.write_u8(addr.wrapping_add(i as u32), b);
        }
    }

    /// Copies guest bytes out, byte by byte through the A20 mask.
    pub fn read_bytes(&self, addr: u32, out: &mut [u8]) {
        for (i, b) in out.iter_mut().enumerate() {
            *b = self.read_u8(addr.wrapping_add(i as u32));
        }
    }

    pub fn write_bytes(&mut self, addr: u32, data: &[u8]) {
        for (i, &b) in data.iter().enumerate() {
            self.write_u8(addr.wrapping_add(i as u32), b);
        }
    }

    #[inline]
    fn note_page(&mut self, a: usize) {
        let page = a >> PAGE_SHIFT;
        // A bounds-checked bit read: `a < size` holds for every caller.
        if self.code_pages.get(page).map(|b| *b).unwrap_or(false) {
            self.invalidate_page(page);
        }
    }

    #[cold]
    fn invalidate_page(&mut self, page: usize) {
        self.code_pages.set(page, false);
        self.direct[page] = self.writable(page << PAGE_SHIFT) as u8;
        if let Some(g) = self.code_gen.get_mut(page) {
            *g = g.wrapping_add(1);
        }
        self.code_written = true;
        if let Some(log) = self.written_log.as_mut() {
            log.push(page);
        }
    }

    /// Records that a range was written by something other than the CPU (DMA, loaders).
    pub fn note_write(&mut self, addr: u32, len: usize) {
        let start = addr as usize >> PAGE_SHIFT;
        let end = (addr as usize + len.max(1) - 1) >> PAGE_SHIFT;
        for page in start..=end.min(self.code_gen.len().saturating_sub(1)) {
            if self.code_pages[page] {
                self.invalidate_page(page);
            }
        }
    }

    /// Marks a physical page as holding decoded code and returns its current generation.
    /// Pages outside RAM (ROM holes, open bus) return generation 0 and are never written.
    pub fn mark_code(&mut self, addr: u32) -> u32 {
        let page = ((addr & self.a20_mask) >> PAGE_SHIFT) as usize;
        if page < self.code_gen.len() {
            if !self.code_pages[page] {
                self.host.flush_writes();
            }
            self.code_pages.set(page, true);
            self.direct[page] = 0;
            self.code_gen[page]
        } else {
            0
        }
    }

    // ---- the host TLB (see `hosttlb`) ----------------------------------------------------

    /// A read of `N` bytes (1, 2 or 4) at linear `lin` by CPL `cpl` if the host TLB maps it.
    #[inline(always)]
    pub fn host_read<const N: usize>(&self, lin: u32, cpl: u8) -> Option<u32> {
        let a = self.host.read(lin, cpl, N as u32)?;
        // SAFETY: a hit means the N bytes at `a` lie within one page that `host_fill`
        // checked lies inside the mapping (which never shrinks or moves while `self` lives);
        // `read_unaligned` because guest data need not be aligned.
        let p = unsafe { self.map.as_ptr().add(a) };
        // SAFETY: see above: p..p+N is inside the mapping.
        Some(unsafe {
            match N {
                1 => *p as u32,
                2 => u16::from_le((p as *const u16).read_unaligned()) as u32,
                _ => u32::from_le((p as *const u32).read_unaligned()),
            }
        })
    }

    /// An 8-byte read (x87 m64 operands) at linear `lin` by CPL `cpl` if the host TLB maps
    /// all of it in one page.
    #[inline(always)]
    pub fn host_read64(&self, lin: u32, cpl: u8) -> Option<u64> {
        let a = self.host.read(lin, cpl, 8)?;
        // SAFETY: as in `host_read`: the 8 bytes at `a` lie within one page inside the
        // mapping.
        Some(u64::from_le(unsafe {
            (self.map.as_ptr().add(a) as *const u64).read_unaligned()
        }))
    }

    /// An 8-byte write (x87 m64 operands) at linear `lin` by CPL `cpl` if the host TLB maps
    /// all of it for writing; false if not, nothing written.
    #[inline(always)]
    pub fn host_write64(&mut self, lin: u32, cpl: u8, v: u64) -> bool {
        let Some(a) = self.host.write(lin, cpl, 8) else {
            return false;
        };
        // SAFETY: as in `host_write`: the 8 bytes at `a` lie within one page inside the
        // mapping.
        unsafe { (self.map.as_mut_ptr().add(a) as *mut u64).write_unaligned(v.to_le()) };
        true
    }

    /// Whether the host TLB maps `n` bytes at linear `lin` for writing by CPL `cpl` (so a
    /// write there cannot fault).
    #[inline(always)]
    pub fn host_writable(&self, lin: u32, cpl: u8, n: u32) -> bool {
        self.host.write(lin, cpl, n).is_some()
    }

    /// Whether the host TLB maps `n` bytes at `lin` for reading by `cpl` (all in one page).
    #[inline(always)]
    pub fn host_read_ok(&self, lin: u32, cpl: u8, n: u32) -> bool {
        self.host.read(lin, cpl, n).is_some()
    }

    /// A write of the low `N` bytes of `v` at linear `lin` by CPL `cpl` if the host TLB maps
    /// it for writing (RAM, outside the ROM shadow, no decoded code); false if not, nothing
    /// written.
    #[inline(always)]
    pub fn host_write<const N: usize>(&mut self, lin: u32, cpl: u8, v: u32) -> bool {
        let Some(a) = self.host.write(lin, cpl, N as u32) else {
            return false;
        };
        // SAFETY: as in `host_read`: the N bytes at `a` lie inside the mapping, which only
        // this `&mut self` can reach.
        unsafe {
            let p = self.map.as_mut_ptr().add(a);
            match N {
                1 => *p = v as u8,
                2 => (p as *mut u16).write_unaligned((v as u16).to_le()),
                _ => (p as *mut u32).write_unaligned(v.to_le()),
            }
        }
        true
    }

    /// A run of REP MOVS over `len` bytes: copies the range at linear `src` to the one at
    /// linear `dst` for CPL `cpl` if the host TLB maps each inside one page (reads at `src`,
    /// writes at `dst`); false, nothing written, if not, or if the two overlap so that the
    /// element moves (upward, or downward when `down`) would differ from one memmove: the
    /// moves replicate a pattern when the destination starts inside the source past its
    /// first byte (going up), or the source inside the destination (going down).
    pub fn host_copy(&mut self, dst: u32, src: u32, len: u32, down: bool, cpl: u8) -> bool {
        let (Some(s), Some(d)) = (
            self.host.read(src, cpl, len),
            self.host.write(dst, cpl, len),
        ) else {
            return false;
        };
        let (a, b) = if down { (s, d) } else { (d, s) };
        if a > b && a < b + len as usize {
            return false;
        }
        // Hits lie inside the mapping (see `host_read`); the slices stay bounds-checked.
        self.map.copy_within(s..s + len as usize, d);
        true
    }

    /// A run of REP STOS: stores the low `size` bytes of `v` over `len` bytes (a multiple of
    /// `size`) at linear `dst` for CPL `cpl` if the host TLB maps them for writing in one
    /// page (the order of the stores does not matter); false, nothing written, if not.
    pub fn host_fill_elems(&mut self, dst: u32, len: u32, size: u8, v: u32, cpl: u8) -> bool {
        let Some(d) = self.host.write(dst, cpl, len) else {
            return false;
        };
        let out = &mut self.map[d..d + len as usize];
        let bytes = v.to_le_bytes();
        // One byte repeated (zeroing a page: Linux's clear_page is REP STOSL of 0) is a
        // memset; otherwise fixed-size chunks, so each store is inlined (a chunk size known
        // only at run time cost a memcpy call per element).
        match size {
            1 | 2 | 4 if bytes[..size as usize].iter().all(|&b| b == bytes[0]) => {
                out.fill(bytes[0])
            }
            2 => {
                let e = [bytes[0], bytes[1]];
                out.chunks_exact_mut(2).for_each(|c| c.copy_from_slice(&e));
            }
            4 => out
                .chunks_exact_mut(4)
                .for_each(|c| c.copy_from_slice(&bytes)),
            _ => return false,
        }
        true
    }

    /// Maps `lin`'s page at `cpl` to physical `phys` in the host TLB, after the full path
    /// has performed a read (or a write, `write`) there: a page outside RAM is not mapped,
    /// and one that is not direct-store RAM only for reads. `global`: the TLB entry is.
    pub fn host_fill(&mut self, lin: u32, cpl: u8, phys: u32, write: bool, global: bool) {
        let a = (phys & self.a20_mask & !0xFFF) as usize;
        if a < self.size {
            let write = write && self.direct[a >> PAGE_SHIFT] == 1;
            self.host.fill(lin, cpl, a as u32, write, global);
        }
    }

    /// Empties the host TLB, all but global pages when `keep_global` (the CPU's TLB
    /// flushes, paging mode changes).
    pub fn host_flush(&mut self, keep_global: bool) {
        self.host.flush(keep_global);
    }

    /// Empties the host TLB slot of `lin` (INVLPG).
    pub fn host_flush_page(&mut self, lin: u32) {
        self.host.flush_page(lin);
    }

    /// Test support: watch every page so the next write to any of them is recorded (the
    /// same mechanism that tracks code pages). [`Memory::written_pages`] lists them.
    pub fn watch_all_pages(&mut self) {
        self.code_pages.fill(true);
        self.direct.fill(0);
        self.host.flush(false);
        self.written_log = Some(Vec::new());
    }

    /// Pages written since [`Memory::watch_all_pages`], each once, in ascending order.
    pub fn written_pages(&self) -> Vec<usize> {
        let mut v = self.written_log.clone().unwrap_or_default();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// The generation of the page holding `addr` (see [`Memory::mark_code`]).
    #[inline]
    pub fn code_gen(&self, addr: u32) -> u32 {
        let page = ((addr & self.a20_mask) >> PAGE_SHIFT) as usize;
        self.code_gen.get(page).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_is_open_bus() {
        let mut m = Memory::new(PAGE_SIZE * 2).unwrap();
        assert_eq!(m.read_u8(0x10_0000), 0xFF);
        m.write_u32(0x1FFE, 0x11223344);
        assert_eq!(m.read_u16(0x1FFE), 0x3344);
        assert_eq!(m.read_u32(0x1FFE), 0xFFFF_3344);
    }

    #[test]
    fn a20_wraps() {
        let mut m = Memory::new(2 << 20).unwrap();
        m.write_u8(0x10_0005, 7);
        assert_eq!(m.read_u8(0x5), 0);
        m.set_a20(false);
        assert_eq!(m.read_u8(0x10_0005), 0);
        m.write_u8(0x10_0006, 9);
        assert_eq!(m.read_u8(0x6), 9);
    }

    #[test]
    fn code_write_bumps_generation() {
        let mut m = Memory::new(PAGE_SIZE * 4).unwrap();
        let g = m.mark_code(0x1010);
        m.write_u8(0x2000, 1);
        assert!(!m.code_written);
        m.write_u8(0x1FFF, 1);
        assert!(m.code_written);
        assert_ne!(m.code_gen(0x1000), g);
    }

    #[test]
    fn rom_is_mapped_twice_and_read_only() {
        let mut m = Memory::new(2 << 20).unwrap();
        let mut rom = vec![0u8; 0x1_0000];
        rom[0xFFF0] = 0xEA;
        m.load_rom(&rom).unwrap();
        assert_eq!(m.read_u8(0xFFFF_FFF0), 0xEA);
        assert_eq!(m.read_u8(0xF_FFF0), 0xEA);
        m.write_u8(0xF_FFF0, 1);
        m.write_u32(0xF_FFEE, 0x0101_0101);
        assert_eq!(m.read_u8(0xF_FFF0), 0xEA);
        assert!(m.load_rom(&[0; 100]).is_err());
    }

    /// REP STOS runs: every element size, a repeated byte (the memset) and mixed bytes, only
    /// inside the mapped range; an element size STOS cannot have writes nothing.
    #[test]
    fn fill_elems_stores_each_element() {
        let mut m = Memory::new(PAGE_SIZE * 4).unwrap();
        m.host_fill(0x5000, 0, 0x2000, true, false);
        for (size, v) in [
            (1, 0xAB),
            (2, 0x1234),
            (2, 0x7777),
            (4, 0x1122_3344),
            (4, 0),
        ] {
            m.write_bytes(0x2000, &[0xEE; PAGE_SIZE]);
            assert!(m.host_fill_elems(0x5010, 64, size, v, 0));
            for a in (0x2010..0x2050).step_by(size as usize) {
                let got = match size {
                    1 => m.read_u8(a) as u32,
                    2 => m.read_u16(a) as u32,
                    _ => m.read_u32(a),
                };
                assert_eq!(
                    got,
                    v & (u32::MAX >> (32 - 8 * size as u32)),
                    "size {size} at {a:#x}"
                );
            }
            assert_eq!((m.read_u8(0x200F), m.read_u8(0x2050)), (0xEE, 0xEE));
        }
        assert!(!m.host_fill_elems(0x5000, 6, 3, 0, 0));
        assert!(
            !m.host_fill_elems(0x5FF0, 32, 4, 0, 0),
            "past the mapped page"
        );
        assert_eq!(m.read_u8(0x2000), 0xEE);
    }

    #[test]
    fn bad_sizes() {
        assert!(Memory::new(0).is_err());
        assert!(Memory::new(100).is_err());
    }
}
