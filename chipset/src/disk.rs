//! Disk images: a raw image file (or an in-memory image for tests) addressed in 512-byte sectors,
//! and the CHS geometries the BIOS and the ATA IDENTIFY data report for it.
//!
//! Two ways to run from a file:
//! - [`DiskMode::ReadWrite`]: guest writes go straight to the file with positioned writes
//!   (`pwrite`), so they survive the process being killed; [`Disk::flush`] makes them durable
//!   (`fdatasync`). The front end calls it on exit, reset, power-off and Ctrl-C; the ATA FLUSH
//!   CACHE command calls it too.
//! - [`DiskMode::Snapshot`]: the file is opened read-only and never written; guest writes land in
//!   an in-memory overlay of whole sectors, so the guest sees its own writes until emu exits.
//!
//! Sizes are checked when the image is opened: it must be a non-empty regular file (or block
//! device) whose length is a multiple of 512 bytes. Every failure is a [`DiskError`] whose
//! `Display` is one line, suitable for the front end's "error: ..." message.

use std::collections::HashMap;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Bytes per sector.
pub const SECTOR_SIZE: usize = 512;

/// How a disk image is used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiskMode {
    /// Guest writes go to the image file.
    ReadWrite,
    /// Guest writes go to an in-memory overlay; the image is never written.
    Snapshot,
}

/// Why a disk image cannot be opened, or why a sector transfer failed.
#[derive(Debug)]
pub enum DiskError {
    /// The path does not exist.
    Missing(PathBuf),
    /// The path is a directory.
    Directory(PathBuf),
    /// The image has no bytes at all.
    Empty(PathBuf),
    /// The image's length is not a multiple of 512 bytes.
    NotSectorMultiple { path: PathBuf, len: u64 },
    /// The file cannot be opened with the access the mode needs.
    Permission { path: PathBuf, write: bool },
    /// Opening or reading the image failed for another reason.
    Unreadable { path: PathBuf, err: io::Error },
    /// A transfer reaches past the last sector.
    OutOfRange { lba: u64, count: u64, sectors: u64 },
    /// A buffer whose length is not a whole number of sectors.
    BadBuffer(usize),
    /// A read or write of the image failed.
    Io(io::Error),
}

impl fmt::Display for DiskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DiskError::Missing(p) => write!(f, "disk image {}: no such file", p.display()),
            DiskError::Directory(p) => {
                write!(f, "disk image {} is a directory, not a file", p.display())
            }
            DiskError::Empty(p) => write!(f, "disk image {} is empty", p.display()),
            DiskError::NotSectorMultiple { path, len } => write!(
                f,
                "disk image {} is {len} bytes, which is not a multiple of 512",
                path.display()
            ),
            DiskError::Permission { path, write: true } => write!(
                f,
                "disk image {}: permission denied for writing (use --snapshot to leave it untouched)",
                path.display()
            ),
            DiskError::Permission { path, write: false } => {
                write!(f, "disk image {}: permission denied", path.display())
            }
            DiskError::Unreadable { path, err } => {
                write!(f, "disk image {} cannot be read: {err}", path.display())
            }
            DiskError::OutOfRange {
                lba,
                count,
                sectors,
            } => write!(
                f,
                "sectors {lba}..{} are past the end of the disk ({sectors} sectors)",
                lba.saturating_add(*count)
            ),
            DiskError::BadBuffer(n) => {
                write!(f, "a buffer of {n} bytes is not a whole number of sectors")
            }
            DiskError::Io(e) => write!(f, "disk I/O error: {e}"),
        }
    }
}

impl std::error::Error for DiskError {}

/// Counters for the status bar.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiskStats {
    /// Sectors read.
    pub sectors_read: u64,
    /// Sectors written.
    pub sectors_written: u64,
}

enum Backing {
    File {
        file: File,
        path: PathBuf,
    },
    /// In-memory base image (tests). Always used with the overlay, never written.
    Memory(Vec<u8>),
}

type Sector = [u8; SECTOR_SIZE];

/// A disk image in 512-byte sectors.
pub struct Disk {
    backing: Backing,
    sectors: u64,
    /// Copy-on-write sectors; `Some` in snapshot mode and for in-memory images.
    overlay: Option<HashMap<u64, Box<Sector>>>,
    /// Writes reached the file since the last flush.
    dirty: bool,
    stats: DiskStats,
}

impl fmt::Debug for Disk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Disk")
            .field("source", &self.describe())
            .field("sectors", &self.sectors)
            .field("snapshot", &self.is_snapshot())
            .finish()
    }
}

impl Disk {
    /// Opens a raw image file. In [`DiskMode::Snapshot`] the file is opened read-only.
    pub fn open(path: impl AsRef<Path>, mode: DiskMode) -> Result<Disk, DiskError> {
        let path = path.as_ref();
        let owned = || path.to_path_buf();
        let write = mode == DiskMode::ReadWrite;
        let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => DiskError::Missing(owned()),
            io::ErrorKind::PermissionDenied => DiskError::Permission {
                path: owned(),
                write: false,
            },
            _ => DiskError::Unreadable {
                path: owned(),
                err: e,
            },
        })?;
        if meta.is_dir() {
            return Err(DiskError::Directory(owned()));
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(write)
            .open(path)
            .map_err(|e| match e.kind() {
                io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => {
                    DiskError::Permission {
                        path: owned(),
                        write,
                    }
                }
                io::ErrorKind::IsADirectory => DiskError::Directory(owned()),
                _ => DiskError::Unreadable {
                    path: owned(),
                    err: e,
                },
            })?;
        // Seeking to the end also sizes block devices, whose metadata length is 0.
        let len = file
            .seek(SeekFrom::End(0))
            .map_err(|e| DiskError::Unreadable {
                path: owned(),
                err: e,
            })?;
        if len == 0 {
            return Err(DiskError::Empty(owned()));
        }
        if !len.is_multiple_of(SECTOR_SIZE as u64) {
            return Err(DiskError::NotSectorMultiple { path: owned(), len });
        }
        // Read the first sector now so an image that cannot be read fails here, not in the guest.
        let mut probe = [0u8; SECTOR_SIZE];
        file.read_exact_at(&mut probe, 0)
            .map_err(|e| DiskError::Unreadable {
                path: owned(),
                err: e,
            })?;
        Ok(Disk {
            backing: Backing::File {
                file,
                path: owned(),
            },
            sectors: len / SECTOR_SIZE as u64,
            overlay: (mode == DiskMode::Snapshot).then(HashMap::new),
            dirty: false,
            stats: DiskStats::default(),
        })
    }

    /// An in-memory image for tests. The bytes are never modified: guest writes go to an
    /// overlay, as in snapshot mode. `data` must be a non-empty multiple of 512 bytes.
    pub fn from_bytes(data: Vec<u8>) -> Result<Disk, DiskError> {
        if data.is_empty() {
            return Err(DiskError::Empty(PathBuf::from("(memory)")));
        }
        if !data.len().is_multiple_of(SECTOR_SIZE) {
            return Err(DiskError::NotSectorMultiple {
                path: PathBuf::from("(memory)"),
                len: data.len() as u64,
            });
        }
        Ok(Disk {
            sectors: (data.len() / SECTOR_SIZE) as u64,
            backing: Backing::Memory(data),
            overlay: Some(HashMap::new()),
            dirty: false,
            stats: DiskStats::default(),
        })
    }

    /// Number of 512-byte sectors.
    pub fn sectors(&self) -> u64 {
        self.sectors
    }

    /// Size in bytes.
    pub fn len_bytes(&self) -> u64 {
        self.sectors * SECTOR_SIZE as u64
    }

    /// Whether guest writes go to an overlay instead of the image.
    pub fn is_snapshot(&self) -> bool {
        self.overlay.is_some()
    }

    /// Number of sectors held in the snapshot overlay.
    pub fn overlay_sectors(&self) -> usize {
        self.overlay.as_ref().map_or(0, HashMap::len)
    }

    /// The image path, or "(memory)".
    pub fn describe(&self) -> String {
        match &self.backing {
            Backing::File { path, .. } => path.display().to_string(),
            Backing::Memory(_) => "(memory)".to_string(),
        }
    }

    /// Sector counters since the image was opened.
    pub fn stats(&self) -> DiskStats {
        self.stats
    }

    fn check(&self, lba: u64, len: usize) -> Result<u64, DiskError> {
        if !len.is_multiple_of(SECTOR_SIZE) {
            return Err(DiskError::BadBuffer(len));
        }
        let count = (len / SECTOR_SIZE) as u64;
        match lba.checked_add(count) {
            Some(end) if end <= self.sectors => Ok(count),
            _ => Err(DiskError::OutOfRange {
                lba,
                count,
                sectors: self.sectors,
            }),
        }
    }

    /// Reads whole sectors starting at `lba` into `buf` (a multiple of 512 bytes long).
    pub fn read_sectors(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), DiskError> {
        let count = self.check(lba, buf.len())?;
        // `check` bounds lba + count by the image size, so these offsets cannot overflow.
        let offset = lba * SECTOR_SIZE as u64;
        match &self.backing {
            Backing::File { file, .. } => {
                file.read_exact_at(buf, offset).map_err(DiskError::Io)?;
            }
            Backing::Memory(data) => {
                let start = offset as usize;
                buf.copy_from_slice(&data[start..start + buf.len()]);
            }
        }
        if let Some(overlay) = self.overlay.as_ref().filter(|o| !o.is_empty()) {
            for (i, chunk) in buf.chunks_exact_mut(SECTOR_SIZE).enumerate() {
                if let Some(s) = overlay.get(&(lba + i as u64)) {
                    chunk.copy_from_slice(&s[..]);
                }
            }
        }
        self.stats.sectors_read += count;
        Ok(())
    }

    /// Writes whole sectors starting at `lba` from `buf` (a multiple of 512 bytes long).
    pub fn write_sectors(&mut self, lba: u64, buf: &[u8]) -> Result<(), DiskError> {
        let count = self.check(lba, buf.len())?;
        if let Some(overlay) = self.overlay.as_mut() {
            for (i, chunk) in buf.chunks_exact(SECTOR_SIZE).enumerate() {
                let mut s = Box::new([0u8; SECTOR_SIZE]);
                s.copy_from_slice(chunk);
                overlay.insert(lba + i as u64, s);
            }
        } else if let Backing::File { file, .. } = &self.backing {
            file.write_all_at(buf, lba * SECTOR_SIZE as u64)
                .map_err(DiskError::Io)?;
            self.dirty = true;
        }
        self.stats.sectors_written += count;
        Ok(())
    }

    /// Makes written data durable (`fdatasync`). Nothing to do in snapshot mode or when
    /// nothing was written since the last flush.
    pub fn flush(&mut self) -> Result<(), DiskError> {
        if let Backing::File { file, .. } = &self.backing {
            if self.dirty {
                file.sync_data().map_err(DiskError::Io)?;
                self.dirty = false;
            }
        }
        Ok(())
    }
}

/// A cylinder/head/sector geometry. Sectors are numbered from 1, as in CHS addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chs {
    pub cylinders: u32,
    pub heads: u32,
    pub sectors: u32,
}

impl Chs {
    /// Sectors addressable through this geometry.
    pub fn capacity(&self) -> u64 {
        u64::from(self.cylinders) * u64::from(self.heads) * u64::from(self.sectors)
    }

    /// The LBA of a CHS address (`sector` counts from 1), if it lies inside the geometry.
    pub fn to_lba(&self, cylinder: u32, head: u32, sector: u32) -> Option<u64> {
        if sector == 0 || sector > self.sectors || head >= self.heads || cylinder >= self.cylinders
        {
            return None;
        }
        Some(
            (u64::from(cylinder) * u64::from(self.heads) + u64::from(head))
                * u64::from(self.sectors)
                + u64::from(sector - 1),
        )
    }

    /// The CHS address (cylinder, head, sector from 1) of an LBA, if the geometry reaches it.
    pub fn from_lba(&self, lba: u64) -> Option<(u32, u32, u32)> {
        if self.heads == 0 || self.sectors == 0 || lba >= self.capacity() {
            return None;
        }
        let spt = u64::from(self.sectors);
        let heads = u64::from(self.heads);
        let sector = (lba % spt) as u32 + 1;
        let head = ((lba / spt) % heads) as u32;
        let cylinder = (lba / spt / heads) as u32;
        Some((cylinder, head, sector))
    }
}

/// Sectors per track of the standard hard-disk geometries.
const HD_SPT: u32 = 63;

/// The default geometry an ATA disk reports in IDENTIFY words 1, 3 and 6: 16 heads, 63 sectors
/// per track, at most 16383 cylinders (the ATA cap; larger disks are addressed by LBA).
pub fn ata_geometry(total_sectors: u64) -> Chs {
    let cylinders = (total_sectors / (16 * u64::from(HD_SPT))).clamp(1, 16383) as u32;
    Chs {
        cylinders,
        heads: 16,
        sectors: HD_SPT,
    }
}

/// The geometry a BIOS reports through int 13h for a hard disk: the partition table's own
/// geometry when the MBR's entries give a consistent one (as QEMU and SeaBIOS guess it), else
/// the LBA-assisted translation (heads 16, 32, 64, 128 or 255 so that at most 1024 cylinders
/// remain). Cylinders are capped at 1024, the int 13h limit; larger disks need EDD.
pub fn bios_geometry(total_sectors: u64, mbr: Option<&[u8]>) -> Chs {
    if let Some(chs) = mbr.and_then(|m| mbr_geometry(m, total_sectors)) {
        return chs;
    }
    let per_head_limit = 1024 * u64::from(HD_SPT);
    let heads: u32 = [16u32, 32, 64, 128]
        .into_iter()
        .find(|&h| total_sectors <= per_head_limit * u64::from(h))
        .unwrap_or(255);
    let cylinders = (total_sectors / (u64::from(heads) * u64::from(HD_SPT))).clamp(1, 1024) as u32;
    Chs {
        cylinders,
        heads,
        sectors: HD_SPT,
    }
}

/// The geometry implied by an MBR's partition entries (their ending head and sector), if it is
/// consistent with the disk size. Cylinders are capped at 1024.
pub fn mbr_geometry(mbr: &[u8], total_sectors: u64) -> Option<Chs> {
    if mbr.len() < 512 || mbr[510] != 0x55 || mbr[511] != 0xAA {
        return None;
    }
    for entry in mbr[446..510].chunks_exact(16) {
        let end_head = u32::from(entry[5]);
        let end_sector = u32::from(entry[6] & 0x3F);
        let nr_sects = u32::from_le_bytes([entry[12], entry[13], entry[14], entry[15]]);
        if nr_sects == 0 || end_head == 0 || end_sector == 0 {
            continue;
        }
        let heads = end_head + 1;
        let cylinders = total_sectors / (u64::from(heads) * u64::from(end_sector));
        if !(1..=16383).contains(&cylinders) {
            continue;
        }
        return Some(Chs {
            cylinders: cylinders.min(1024) as u32,
            heads,
            sectors: end_sector,
        });
    }
    None
}

/// A standard floppy format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FloppyGeometry {
    pub chs: Chs,
    /// The drive type for CMOS register 10h and int 13h AH=08h BL: 1 = 360K, 2 = 1.2M,
    /// 3 = 720K, 4 = 1.44M, 5 = 2.88M.
    pub drive_type: u8,
}

/// The floppy format of an image of `len_bytes`, if it is a standard size (160K to 2.88M).
pub fn floppy_geometry(len_bytes: u64) -> Option<FloppyGeometry> {
    let (cylinders, heads, sectors, drive_type) = match len_bytes / 1024 {
        160 => (40, 1, 8, 1),
        180 => (40, 1, 9, 1),
        320 => (40, 2, 8, 1),
        360 => (40, 2, 9, 1),
        720 => (80, 2, 9, 3),
        1200 => (80, 2, 15, 2),
        1440 => (80, 2, 18, 4),
        2880 => (80, 2, 36, 5),
        _ => return None,
    };
    if !len_bytes.is_multiple_of(1024) {
        return None;
    }
    Some(FloppyGeometry {
        chs: Chs {
            cylinders,
            heads,
            sectors,
        },
        drive_type,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A scratch directory removed when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(test: &str) -> TempDir {
            let dir =
                std::env::temp_dir().join(format!("emu-disk-test-{}-{test}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }

        fn path(&self, name: &str) -> PathBuf {
            self.0.join(name)
        }

        fn image(&self, name: &str, sectors: usize) -> PathBuf {
            let p = self.path(name);
            let mut f = File::create(&p).unwrap();
            for i in 0..sectors {
                f.write_all(&[i as u8; SECTOR_SIZE]).unwrap();
            }
            p
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn open_errors_are_one_line() {
        let t = TempDir::new("errors");
        let missing = t.path("missing.img");
        let e = Disk::open(&missing, DiskMode::ReadWrite).unwrap_err();
        assert!(matches!(e, DiskError::Missing(_)));
        let dir = t.path("dir.img");
        std::fs::create_dir_all(&dir).unwrap();
        let d = Disk::open(&dir, DiskMode::Snapshot).unwrap_err();
        assert!(matches!(d, DiskError::Directory(_)));
        let empty = t.path("empty.img");
        File::create(&empty).unwrap();
        let em = Disk::open(&empty, DiskMode::ReadWrite).unwrap_err();
        assert!(matches!(em, DiskError::Empty(_)));
        let odd = t.path("odd.img");
        std::fs::write(&odd, [0u8; 1000]).unwrap();
        let o = Disk::open(&odd, DiskMode::ReadWrite).unwrap_err();
        assert!(matches!(o, DiskError::NotSectorMultiple { len: 1000, .. }));
        for err in [e, d, em, o] {
            let msg = err.to_string();
            assert!(
                !msg.contains('\n') && msg.starts_with("disk image"),
                "{msg}"
            );
        }
        let oor = DiskError::OutOfRange {
            lba: 5,
            count: 2,
            sectors: 6,
        };
        assert!(!oor.to_string().contains('\n'));
    }

    #[test]
    fn unreadable_file_is_reported() {
        use std::os::unix::fs::PermissionsExt;
        let t = TempDir::new("perm");
        let p = t.image("noperm.img", 2);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o000)).unwrap();
        // Root ignores file modes; only check when the mode actually denies access.
        if File::open(&p).is_err() {
            let e = Disk::open(&p, DiskMode::Snapshot).unwrap_err();
            assert!(matches!(e, DiskError::Permission { .. }), "{e}");
            assert!(!e.to_string().contains('\n'));
        }
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o444)).unwrap();
        if OpenOptions::new().write(true).open(&p).is_err() {
            let e = Disk::open(&p, DiskMode::ReadWrite).unwrap_err();
            assert!(
                matches!(e, DiskError::Permission { write: true, .. }),
                "{e}"
            );
            assert!(Disk::open(&p, DiskMode::Snapshot).is_ok());
        }
    }

    #[test]
    fn read_write_file() {
        let t = TempDir::new("rw");
        let p = t.image("rw.img", 8);
        let mut d = Disk::open(&p, DiskMode::ReadWrite).unwrap();
        assert_eq!(d.sectors(), 8);
        assert!(!d.is_snapshot());
        let mut buf = [0u8; 1024];
        d.read_sectors(3, &mut buf).unwrap();
        assert!(buf[..512].iter().all(|&b| b == 3) && buf[512..].iter().all(|&b| b == 4));
        d.write_sectors(7, &[0xAB; 512]).unwrap();
        d.flush().unwrap();
        assert!(matches!(
            d.read_sectors(7, &mut buf),
            Err(DiskError::OutOfRange { .. })
        ));
        assert!(matches!(
            d.write_sectors(u64::MAX, &[0; 512]),
            Err(DiskError::OutOfRange { .. })
        ));
        assert!(matches!(
            d.read_sectors(0, &mut [0u8; 100]),
            Err(DiskError::BadBuffer(100))
        ));
        drop(d);
        let bytes = std::fs::read(&p).unwrap();
        assert!(bytes[7 * 512..].iter().all(|&b| b == 0xAB));
        assert_eq!(
            Disk::open(&p, DiskMode::Snapshot).unwrap().stats(),
            DiskStats::default()
        );
    }

    #[test]
    fn snapshot_never_writes_the_file() {
        let t = TempDir::new("snap");
        let p = t.image("snap.img", 4);
        let before = std::fs::read(&p).unwrap();
        let mut d = Disk::open(&p, DiskMode::Snapshot).unwrap();
        assert!(d.is_snapshot());
        d.write_sectors(1, &[0x5A; 1024]).unwrap();
        let mut buf = [0u8; 2048];
        d.read_sectors(0, &mut buf).unwrap();
        assert!(buf[..512].iter().all(|&b| b == 0));
        assert!(buf[512..1536].iter().all(|&b| b == 0x5A));
        assert!(buf[1536..].iter().all(|&b| b == 3));
        assert_eq!(d.overlay_sectors(), 2);
        d.flush().unwrap();
        assert_eq!(
            d.stats(),
            DiskStats {
                sectors_read: 4,
                sectors_written: 2
            }
        );
        drop(d);
        assert_eq!(std::fs::read(&p).unwrap(), before);
    }

    #[test]
    fn memory_image() {
        assert!(Disk::from_bytes(Vec::new()).is_err());
        assert!(Disk::from_bytes(vec![0; 513]).is_err());
        let mut d = Disk::from_bytes(vec![7; 1024]).unwrap();
        d.write_sectors(1, &[1; 512]).unwrap();
        let mut buf = [0u8; 1024];
        d.read_sectors(0, &mut buf).unwrap();
        assert_eq!((buf[0], buf[600]), (7, 1));
        assert_eq!(d.describe(), "(memory)");
    }

    #[test]
    fn geometries() {
        // 64 MiB: 131072 sectors -> 130 cylinders of 16 x 63.
        let g = ata_geometry(131072);
        assert_eq!((g.cylinders, g.heads, g.sectors), (130, 16, 63));
        assert_eq!(ata_geometry(1 << 40).cylinders, 16383);
        assert_eq!(ata_geometry(10).cylinders, 1);
        let b = bios_geometry(131072, None);
        assert_eq!((b.cylinders, b.heads, b.sectors), (130, 16, 63));
        let big = bios_geometry(4 << 21, None); // 4 GiB
        assert_eq!((big.heads, big.cylinders), (255, 522));
        let mid = bios_geometry(2 << 21, None); // 2 GiB
        assert_eq!((mid.heads, mid.cylinders), (128, 520));
        assert_eq!(bios_geometry(1 << 40, None).cylinders, 1024);
        let f = floppy_geometry(1474560).unwrap();
        assert_eq!(
            (f.chs.cylinders, f.chs.heads, f.chs.sectors, f.drive_type),
            (80, 2, 18, 4)
        );
        assert_eq!(floppy_geometry(737280).unwrap().chs.sectors, 9);
        assert_eq!(floppy_geometry(2949120).unwrap().chs.sectors, 36);
        assert_eq!(floppy_geometry(1474561), None);
        assert_eq!(floppy_geometry(1 << 20), None);
    }

    #[test]
    fn chs_translation() {
        let g = Chs {
            cylinders: 130,
            heads: 16,
            sectors: 63,
        };
        assert_eq!(g.to_lba(0, 0, 1), Some(0));
        assert_eq!(g.to_lba(0, 0, 0), None);
        assert_eq!(g.to_lba(1, 2, 3), Some((16 + 2) * 63 + 2));
        assert_eq!(g.from_lba((16 + 2) * 63 + 2), Some((1, 2, 3)));
        assert_eq!(g.from_lba(g.capacity()), None);
        assert_eq!(g.to_lba(130, 0, 1), None);
    }

    #[test]
    fn mbr_guess() {
        let mut mbr = [0u8; 512];
        mbr[510] = 0x55;
        mbr[511] = 0xAA;
        let e = &mut mbr[446..462];
        e[5] = 254; // end head
        e[6] = 63; // end sector
        e[12..16].copy_from_slice(&100_000u32.to_le_bytes());
        let g = bios_geometry(2_000_000, Some(&mbr));
        assert_eq!((g.heads, g.sectors, g.cylinders), (255, 63, 124));
        // Without the signature the translation is used.
        mbr[510] = 0;
        assert_eq!(bios_geometry(2_000_000, Some(&mbr)).heads, 32);
    }
}
