//! Machine assembly: guest memory, the CPU, the board and the firmware, wired together.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use emu_bios::{linux::LinuxBoot, Bios, Drive, Platform};
use emu_chipset::ata::AtaChannel;
use emu_chipset::disk::{floppy_geometry, Disk, DiskMode};
use emu_chipset::{Board, BoardConfig, RtcStart};
use emu_cpu::{Bus, Cpu};
use emu_mmu::Memory;

/// Everything `emu run` can be asked to build.
#[derive(Clone, Debug, Default)]
pub struct MachineConfig {
    /// Guest RAM in MiB.
    pub memory_mb: u32,
    pub disk: Option<PathBuf>,
    /// A floppy image for drive A: (BIOS int 13h; boots before the hard disk, as on a PC).
    pub floppy: Option<PathBuf>,
    pub snapshot: bool,
    pub bios: Option<PathBuf>,
    pub kernel: Option<PathBuf>,
    pub initrd: Option<PathBuf>,
    pub append: String,
    /// (port, file) pairs: every byte the guest OUTs to the port is appended to the file.
    pub debugcon: Vec<(u16, PathBuf)>,
    /// Start the RTC at this Unix time instead of the host clock (reproducible runs).
    pub rtc_epoch: Option<i64>,
}

/// The CPU's view of the rest of the machine: the board plus the host-side extras the front
/// end provides (debug console files, the ACPI power-management ports, disks for the BIOS).
pub struct Hw {
    pub board: Board,
    /// Drive A: for the BIOS (no floppy controller is modelled for the OS).
    pub floppy: Option<Disk>,
    debugcon: Vec<(u16, File)>,
    /// PM1a control register (SCI_EN reads as set: the machine is always in ACPI mode).
    pm1a_cnt: u16,
    pm1a_en: u16,
    /// Set when the guest asked for soft-off (ACPI S5).
    pub power_off: bool,
    pub io_error: Option<String>,
}

impl Hw {
    /// The bus over `board` with no floppy and no debug console files (benchmarks use it
    /// to drive the real board without a whole machine).
    pub fn new(board: Board) -> Hw {
        Hw {
            board,
            floppy: None,
            debugcon: Vec::new(),
            pm1a_cnt: 0,
            pm1a_en: 0,
            power_off: false,
            io_error: None,
        }
    }

    fn debugcon_write(&mut self, port: u16, v: u8) -> bool {
        let mut hit = false;
        for (p, f) in self.debugcon.iter_mut() {
            if *p == port {
                hit = true;
                if let Err(e) = f.write_all(&[v]) {
                    self.io_error.get_or_insert(format!("debug console: {e}"));
                }
            }
        }
        hit
    }
}

impl Bus for Hw {
    #[inline]
    fn sync(&mut self, now_ns: u64) {
        self.board.advance_to(now_ns);
    }

    #[inline]
    fn io_read(&mut self, port: u16, size: u8) -> u32 {
        match port {
            p if p == emu_bios::acpi::PM1A_CNT => (self.pm1a_cnt | 1) as u32,
            p if p == emu_bios::acpi::PM1A_EVT => 0,
            p if p == emu_bios::acpi::PM1A_EVT + 2 => self.pm1a_en as u32,
            _ => self.board.io_read(port, size),
        }
    }

    #[inline]
    fn io_write(&mut self, port: u16, size: u8, value: u32) {
        if !self.debugcon.is_empty() && self.debugcon_write(port, value as u8) {
            return;
        }
        match port {
            p if p == emu_bios::acpi::PM1A_CNT => {
                self.pm1a_cnt = value as u16 & !(1 << 13);
                let typ = (value as u16 >> 10) & 7;
                if value & (1 << 13) != 0 && typ == emu_bios::acpi::SLP_TYP_S5 {
                    self.power_off = true;
                }
            }
            p if p == emu_bios::acpi::PM1A_EVT => {}
            p if p == emu_bios::acpi::PM1A_EVT + 2 => self.pm1a_en = value as u16,
            _ => self.board.io_write(port, size, value),
        }
    }

    #[inline]
    fn irq_pending(&self) -> bool {
        self.board.irq_pending()
    }

    #[inline]
    fn irq_ack(&mut self) -> u8 {
        self.board.irq_ack()
    }

    fn ferr(&mut self) {
        self.board.ferr();
    }
}

impl Platform for Hw {
    fn drive(&mut self, dl: u8) -> Option<&mut dyn Drive> {
        match dl {
            0x80 => self.board.ata.disk_mut().map(|d| d as &mut dyn Drive),
            0x00 => self.floppy.as_mut().map(|d| d as &mut dyn Drive),
            _ => None,
        }
    }
}

/// A built machine.
pub struct Machine {
    pub cpu: Cpu<Hw>,
    pub bios: Option<Bios>,
    pub config: MachineConfig,
}

impl Machine {
    pub fn new(config: MachineConfig) -> Result<Machine> {
        if config.memory_mb < 2 || config.memory_mb > 3584 {
            bail!(
                "-m {}: guest memory must be between 2 and 3584 MiB",
                config.memory_mb
            );
        }
        let ram = config.memory_mb as usize * 1024 * 1024;
        let mut mem = Memory::new(ram).map_err(|e| anyhow!("{e}"))?;
        let disk = match &config.disk {
            Some(p) => {
                let mode = if config.snapshot {
                    DiskMode::Snapshot
                } else {
                    DiskMode::ReadWrite
                };
                Some(Disk::open(p, mode).map_err(|e| anyhow!("{e}"))?)
            }
            None => None,
        };
        let floppy = match &config.floppy {
            Some(p) => {
                let mode = if config.snapshot {
                    DiskMode::Snapshot
                } else {
                    DiskMode::ReadWrite
                };
                let d = Disk::open(p, mode).map_err(|e| anyhow!("{e}"))?;
                if floppy_geometry(d.len_bytes()).is_none() {
                    bail!(
                        "floppy image {} is {} bytes, not a floppy size (160K to 2.88M)",
                        p.display(),
                        d.len_bytes()
                    );
                }
                Some(d)
            }
            None => None,
        };
        let linux = match &config.kernel {
            Some(k) => {
                let kernel = std::fs::read(k).with_context(|| format!("kernel {}", k.display()))?;
                emu_bios::linux::check(&kernel)
                    .map_err(|e| anyhow!("kernel {}: {e}", k.display()))?;
                let initrd = match &config.initrd {
                    Some(i) => {
                        Some(std::fs::read(i).with_context(|| format!("initrd {}", i.display()))?)
                    }
                    None => None,
                };
                Some(LinuxBoot {
                    kernel,
                    initrd,
                    cmdline: config.append.clone(),
                })
            }
            None => {
                if config.initrd.is_some() {
                    bail!("--initrd needs --kernel");
                }
                None
            }
        };
        if disk.is_none() && floppy.is_none() && linux.is_none() && config.bios.is_none() {
            bail!("nothing to boot: give a disk image, --fda, --kernel, or --bios");
        }
        let bios = match &config.bios {
            Some(path) => {
                let image = std::fs::read(path)
                    .with_context(|| format!("BIOS image {}", path.display()))?;
                mem.load_rom(&image)
                    .map_err(|e| anyhow!("BIOS image {}: {e}", path.display()))?;
                None
            }
            None => {
                mem.load_rom(&Bios::rom()).map_err(|e| anyhow!("{e}"))?;
                let mut b = Bios::new(ram as u32);
                b.set_drives(floppy.is_some() as u8, disk.is_some() as u8);
                if let Some(k) = linux {
                    b.set_linux(k);
                }
                Some(b)
            }
        };
        let mut debugcon = Vec::new();
        for (port, path) in &config.debugcon {
            let f = File::create(path)
                .with_context(|| format!("--debugcon {port:#x}={}", path.display()))?;
            debugcon.push((*port, f));
        }
        let rtc_start = match config.rtc_epoch {
            Some(t) => RtcStart::Unix(t),
            None => RtcStart::Host,
        };
        let mut board = Board::new(BoardConfig { rtc_start });
        board.rtc.set_memory_size(ram as u64);
        if let Some(g) = floppy.as_ref().and_then(|f| floppy_geometry(f.len_bytes())) {
            board.rtc.set_nvram(0x10, g.drive_type << 4);
        }
        board.rtc.update_checksum();
        board.ata = AtaChannel::new(disk);
        let mut hw = Hw::new(board);
        hw.floppy = floppy;
        hw.debugcon = debugcon;
        let mut cpu = Cpu::new(mem, hw);
        let mut bios = bios;
        if let Some(b) = bios.as_mut() {
            b.attach(&mut cpu);
        }
        Ok(Machine { cpu, bios, config })
    }

    /// Writes every pending disk write to the image (snapshot mode keeps them in memory).
    pub fn flush(&mut self) -> Result<()> {
        self.cpu.bus.board.ata.flush().map_err(|e| anyhow!("{e}"))?;
        if let Some(f) = self.cpu.bus.floppy.as_mut() {
            f.flush().map_err(|e| anyhow!("{e}"))?;
        }
        for (_, f) in self.cpu.bus.debugcon.iter_mut() {
            f.flush().ok();
        }
        Ok(())
    }

    /// System reset: CPU and board back to power-on state; RAM keeps its contents.
    pub fn reset(&mut self) {
        self.cpu.reset();
        self.cpu.bus.board.reset();
        self.cpu.mem.set_a20(true);
    }
}
