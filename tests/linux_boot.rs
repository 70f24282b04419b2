//! The real guest: Debian's i386 kernel and busybox on a syslinux disk built from Debian
//! packages by `scripts/guest-image.sh` (into `target/guest/`, or `$EMU_GUEST_DIR`). Each test
//! boots it in emu through the same machine and run loop as `emu run --nographic`, types at the
//! serial console and reads it back.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use emu_frontend::machine::{Machine, MachineConfig};
use emu_frontend::run::{self, Console, Io, Outcome, RunOptions};
use emu_suite::{guest_dir, SharedOutput};

/// Generous: a boot takes about half a minute on this kind of machine, more under load.
const BOOT_TIMEOUT: Duration = Duration::from_secs(400);

/// A private copy of a guest image, so tests can write to it.
fn copy_image(name: &str, tag: &str) -> PathBuf {
    let src = guest_dir().join(name);
    assert!(
        src.is_file(),
        "{} is missing: run scripts/guest-image.sh (scripts/test.sh does)",
        src.display()
    );
    let dst = std::env::temp_dir().join(format!("emu-test-{}-{tag}.img", std::process::id()));
    std::fs::copy(&src, &dst).unwrap();
    dst
}

struct Guest {
    screen: SharedOutput,
    keys: Sender<Vec<u8>>,
    stop: Arc<AtomicUsize>,
    handle: Option<std::thread::JoinHandle<anyhow::Result<Outcome>>>,
}

impl Guest {
    fn boot(disk: &std::path::Path, snapshot: bool, no_reboot: bool) -> Guest {
        Guest::start(
            MachineConfig {
                memory_mb: 128,
                disk: Some(disk.to_path_buf()),
                snapshot,
                rtc_epoch: Some(1_790_000_000),
                ..Default::default()
            },
            no_reboot,
        )
    }

    /// Runs a machine on its own thread with the serial console wired to this test.
    fn start(config: MachineConfig, no_reboot: bool) -> Guest {
        let screen = SharedOutput::default();
        let (keys, rx) = channel();
        let stop = Arc::new(AtomicUsize::new(0));
        let io = Io {
            input: Some(rx),
            output: Box::new(screen.clone()),
            stop: stop.clone(),
        };
        let opts = RunOptions {
            paced: false,
            console: Console::Serial,
            no_reboot,
            time_limit_ns: None,
        };
        let handle = std::thread::spawn(move || {
            let mut m = Machine::new(config)?;
            run::run(&mut m, opts, false, io)
        });
        Guest {
            screen,
            keys,
            stop,
            handle: Some(handle),
        }
    }

    /// Waits until `marker` appears after byte offset `from` of the output; returns the end of it.
    fn wait_for(&self, marker: &str, from: usize) -> usize {
        let t0 = Instant::now();
        loop {
            let text = self.screen.text();
            if let Some(i) = text.get(from..).and_then(|t| t.find(marker)) {
                return from + i + marker.len();
            }
            let finished = self.handle.as_ref().is_some_and(|h| h.is_finished());
            if finished || t0.elapsed() > BOOT_TIMEOUT {
                panic!(
                    "{marker:?} did not appear ({}); output so far:\n{}",
                    if finished { "emu stopped" } else { "timeout" },
                    tail(&text)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn type_line(&self, line: &str) {
        self.keys.send(format!("{line}\n").into_bytes()).unwrap();
    }

    /// Types a command and waits for the text it prints (`expect`, which the command line
    /// itself must not contain: the terminal echoes and wraps it).
    fn run(&self, cmd: &str, expect: &str, from: usize) -> usize {
        assert!(!cmd.contains(expect));
        self.type_line(cmd);
        self.wait_for(expect, from)
    }

    fn finish(mut self) -> Outcome {
        let h = self.handle.take().unwrap();
        let t0 = Instant::now();
        while !h.is_finished() {
            assert!(
                t0.elapsed() < BOOT_TIMEOUT,
                "emu did not stop:\n{}",
                tail(&self.screen.text())
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        h.join()
            .expect("run thread panicked")
            .expect("emu run failed")
    }
}

fn tail(s: &str) -> String {
    let n = s.len().saturating_sub(3000);
    s.get(n..).unwrap_or(s).to_string()
}

/// The guest's own i386 busybox, run natively on the host (x86-64 Linux runs i386 binaries).
fn native_busybox(args: &[&str]) -> String {
    let bb = guest_dir().join("bbpkg/bin/busybox");
    let out = std::process::Command::new(&bb)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {} natively: {e}", bb.display()));
    assert!(out.status.success(), "native busybox {args:?} failed");
    String::from_utf8(out.stdout)
        .unwrap()
        .trim_end()
        .to_string()
}

/// Floating-point output of a guest program (busybox seq and printf, x87 arithmetic and
/// conversions) equals the same i386 binary's output run natively.
fn floating_point_matches_native(g: &Guest, at: usize) -> usize {
    let seq = ["seq", "-s", ",", "0.1", "0.37", "12"];
    let fmt = [
        "printf",
        "%.17g,%.3e,%.12f",
        "2.718281828459045",
        "6.02214076e23",
        "0.1",
    ];
    let expect = format!("FP:{}:{}:PF", native_busybox(&seq), native_busybox(&fmt));
    let cmd = format!(
        "echo \"FP:$({}):$({} '{}' {} {} {}):PF\"",
        seq.join(" "),
        fmt[0],
        fmt[1],
        fmt[2],
        fmt[3],
        fmt[4]
    );
    g.run(&cmd, &expect, at)
}

/// Loads the disk modules and mounts the FAT partition read-write.
const MOUNT: &str = "for m in $(cat /lib/modules/load-order); do insmod /lib/modules/$m.ko; done 2>/dev/null; i=0; while [ ! -b /dev/sda1 ] && [ $i -lt 50 ]; do sleep 1; i=$((i+1)); done; mount -t vfat /dev/sda1 /mnt && echo MOUNT-$((40+2))";

/// The kernel read IA32_ARCH_CAPABILITIES and believed it: not affected by the
/// transient-execution bugs those bits rule out (so no VERW on each return to user mode),
/// and enhanced IBRS for Spectre v2 (so no retpolines, no return-buffer fill per switch).
fn kernel_sees_no_speculation(g: &Guest, at: usize) -> usize {
    // E''ND: the echoed command line must not hold the marker the output ends with.
    let end = g.run(
        "cd /sys/devices/system/cpu/vulnerabilities && echo SPEC-$(cat meltdown mds l1tf \
         mmio_stale_data spec_store_bypass | grep -c Not)-$(grep -c Enhanced spectre_v2)-E''ND; cd /",
        "-END",
        at,
    );
    let text = g.screen.text();
    let got = text[..end].rsplit("SPEC-").next().unwrap_or_default();
    assert_eq!(
        got, "5-1-END",
        "the kernel's view of the CPU's vulnerabilities"
    );
    end
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Boots to the shell, computes, writes a file to the disk through ata_piix and leaves the
/// guest the way `how` says; the file's bytes must then be in the image (or not, in snapshot
/// mode, where the image must stay byte-identical).
fn write_and_leave(how: &str, snapshot: bool) {
    let disk = copy_image("disk.img", how);
    let before = std::fs::read(&disk).unwrap();
    let g = Guest::boot(&disk, snapshot, true);
    let mut at = g.wait_for("EMU-BOOT-OK", 0);
    at = g.wait_for("# ", at);
    at = g.run("echo $((6*7))", "42", at);
    if how == "poweroff" && !snapshot {
        at = floating_point_matches_native(&g, at);
        at = kernel_sees_no_speculation(&g, at);
    }
    at = g.run(MOUNT, "MOUNT-42", at);
    let marker = format!("EMU-PERSIST-{how}-{}", std::process::id());
    at = g.run(
        &format!("echo {marker} > /mnt/persist.txt && sync && echo WRITE-$((40+2))"),
        "WRITE-42",
        at,
    );
    let expected = match how {
        "poweroff" => {
            g.type_line("poweroff -f");
            Outcome::PowerOff
        }
        "reset" => {
            g.type_line("reboot -f");
            Outcome::Reset
        }
        _ => {
            g.wait_for("# ", at);
            g.stop.store(2, Ordering::Relaxed);
            Outcome::Signal(2)
        }
    };
    assert_eq!(g.finish(), expected);
    let after = std::fs::read(&disk).unwrap();
    if snapshot {
        assert!(before == after, "--snapshot changed the image");
    } else {
        assert!(
            contains(&after, marker.as_bytes()),
            "the file written before {how} is not in the image"
        );
    }
    std::fs::remove_file(&disk).ok();
}

#[test]
fn boots_to_shell_writes_and_powers_off() {
    write_and_leave("poweroff", false);
}

#[test]
fn disk_writes_survive_reset() {
    write_and_leave("reset", false);
}

#[test]
fn disk_writes_survive_ctrl_c() {
    write_and_leave("ctrl-c", false);
}

#[test]
fn snapshot_leaves_image_identical() {
    write_and_leave("poweroff", true);
}

/// The image's `test` label: ata_piix, mount, EMU-DISK-OK, ACPI power-off, exit status 0.
#[test]
fn test_label_checks_disk_and_powers_off() {
    let disk = copy_image("test.img", "label");
    let g = Guest::boot(&disk, true, false);
    let at = g.wait_for("EMU-DISK-OK", 0);
    g.wait_for("EMU-POWEROFF", at);
    let outcome = g.finish();
    assert_eq!(outcome, Outcome::PowerOff);
    assert_eq!(outcome.exit_code(), 0);
    std::fs::remove_file(&disk).ok();
}

/// Direct Linux boot (32-bit boot protocol) of Debian's bzImage with its initrd and a command
/// line, the disk attached: the same disk check and power-off as the `test` label.
#[test]
fn direct_kernel_boot() {
    let disk = copy_image("disk.img", "kernel");
    let config = MachineConfig {
        memory_mb: 128,
        disk: Some(disk.clone()),
        snapshot: true,
        kernel: Some(guest_dir().join("vmlinuz")),
        initrd: Some(guest_dir().join("initrd.gz")),
        append: "console=ttyS0 quiet emu.disk emu.poweroff".into(),
        ..Default::default()
    };
    let g = Guest::start(config, true);
    let at = g.wait_for("EMU-BOOT-OK", 0);
    let at = g.wait_for("EMU-DISK-OK", at);
    g.wait_for("EMU-POWEROFF", at);
    assert_eq!(g.finish(), Outcome::PowerOff);
    std::fs::remove_file(&disk).ok();
}
