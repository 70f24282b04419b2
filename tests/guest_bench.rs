//! The guest benchmark (`testdata/guests/emubench.c`, run by `scripts/guest-bench.sh`) works
//! inside emu: the bench initrd boots, every row prints a positive finite figure with no
//! self-check error, the program ends with EMUBENCH-DONE and the guest powers off. Each row's
//! `check` value depends only on the program, so it must equal the one the same binary prints
//! natively. Correctness only: no timing is asserted. The scale is tiny, so nearly all of the
//! time is the boot.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::{Duration, Instant};

use emu_frontend::machine::{Machine, MachineConfig};
use emu_frontend::run::{self, Console, Io, Outcome, RunOptions};
use emu_suite::{guest_dir, SharedOutput};

/// The rows emubench prints, in order.
const ROWS: [&str; 8] = [
    "getppid_int80",
    "page_fault",
    "pipe_roundtrip",
    "fork_exit_wait",
    "int_loop",
    "crc32_loop",
    "x87_loop",
    "copy_1mib",
];
const SCALE: &str = "0.02";
/// Generous for a loaded machine; the run normally takes well under a minute.
const TIMEOUT: Duration = Duration::from_secs(400);

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Whether `gcc -m32 -static` can link a program (needs gcc-multilib).
fn m32_links(dir: &Path) -> bool {
    std::fs::create_dir_all(dir).unwrap();
    let c = dir.join("m32-probe.c");
    std::fs::write(&c, "int main(void) { return 0; }\n").unwrap();
    Command::new("gcc")
        .args(["-m32", "-static", "-o"])
        .arg(dir.join("m32-probe"))
        .arg(&c)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The `EMUBENCH <key> <unit> <value> ... check=<hex>` lines as (key, value, check).
fn rows(text: &str) -> Vec<(String, f64, String)> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() < 4 || f[0] != "EMUBENCH" {
                return None;
            }
            let check = f.iter().find_map(|x| x.strip_prefix("check="))?;
            Some((f[1].to_string(), f[3].parse().ok()?, check.to_string()))
        })
        .collect()
}

#[test]
fn emubench_runs_in_the_guest() {
    let work = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("gbench");
    if !m32_links(&work) {
        let msg = "gcc -m32 -static cannot link an i386 program: install gcc-multilib \
                   (scripts/setup.sh does, as root)";
        assert!(std::env::var_os("CI").is_none(), "{msg}");
        eprintln!("skipped: {msg}");
        return;
    }
    let guest = guest_dir();
    assert!(
        guest.join("vmlinuz").is_file() && guest.join("initrd.gz").is_file(),
        "{} has no vmlinuz/initrd.gz: run scripts/guest-image.sh (scripts/test.sh does)",
        guest.display()
    );

    // The script builds emubench and the bench initrd (cached in `work`).
    let build = Command::new("bash")
        .arg(root().join("scripts/guest-bench.sh"))
        .arg("--build-only")
        .env("EMU_GUEST_DIR", &guest)
        .env("GBENCH_DIR", &work)
        .output()
        .expect("cannot run bash");
    assert!(
        build.status.success(),
        "scripts/guest-bench.sh --build-only failed:\n{}",
        String::from_utf8_lossy(&build.stderr)
    );
    let initrd = PathBuf::from(String::from_utf8(build.stdout).unwrap().trim());

    let screen = SharedOutput::default();
    let config = MachineConfig {
        memory_mb: 128,
        kernel: Some(guest.join("vmlinuz")),
        initrd: Some(initrd),
        append: format!("console=ttyS0,115200 quiet panic=1 emubench.scale={SCALE}"),
        rtc_epoch: Some(1_790_000_000),
        ..Default::default()
    };
    let io = Io {
        input: None,
        output: Box::new(screen.clone()),
        stop: Arc::new(AtomicUsize::new(0)),
    };
    let stop = io.stop.clone();
    let opts = RunOptions {
        paced: false,
        console: Console::Headless,
        no_reboot: true,
        time_limit_ns: None,
    };
    let handle = std::thread::spawn(move || {
        let mut m = Machine::new(config)?;
        run::run(&mut m, opts, false, io)
    });
    let t0 = Instant::now();
    while !handle.is_finished() && t0.elapsed() < TIMEOUT {
        std::thread::sleep(Duration::from_millis(100));
    }
    let timed_out = !handle.is_finished();
    stop.store(15, std::sync::atomic::Ordering::Relaxed);
    let outcome = handle.join().expect("run thread panicked");
    let text = screen.text();
    let log = || {
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with("busybox: "))
            .collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    };
    assert!(
        !timed_out,
        "the guest did not finish in {TIMEOUT:?}:\n{}",
        log()
    );
    assert_eq!(
        outcome.expect("emu run failed"),
        Outcome::PowerOff,
        "{}",
        log()
    );
    assert!(
        !text.contains("EMUBENCH-ERROR"),
        "a self-check failed:\n{}",
        log()
    );
    assert!(
        text.contains("EMUBENCH-DONE"),
        "no EMUBENCH-DONE:\n{}",
        log()
    );
    assert!(
        text.contains("EMUBENCH-EXIT status=0"),
        "emubench failed:\n{}",
        log()
    );

    let got = rows(&text);
    let keys: Vec<&str> = got.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(keys, ROWS, "rows printed:\n{}", log());
    for (key, value, _) in &got {
        assert!(
            value.is_finite() && *value > 0.0,
            "{key} printed {value}:\n{}",
            log()
        );
    }

    // The same program natively (x86-64 Linux with IA32 emulation runs it) gives the checks.
    match Command::new(work.join("emubench")).arg(SCALE).output() {
        Ok(native) if native.status.success() => {
            let native = rows(&String::from_utf8_lossy(&native.stdout));
            for ((key, _, check), (nkey, _, ncheck)) in got.iter().zip(&native) {
                assert_eq!(key, nkey);
                assert_eq!(check, ncheck, "{key}: guest check differs from native");
            }
        }
        other => eprintln!("native emubench did not run ({other:?}); checks not compared"),
    }
}
