//! `emu run disk.img` as a person uses it: the full-screen display on a real terminal.
//!
//! The terminal is a tmux pane (100x30) on a private tmux server. A small shell script in
//! the pane saves `stty -a`, runs `emu run --snapshot disk.img`, then saves `stty -a` and
//! emu's exit status again. The test reads the emulated screen with `tmux capture-pane`: the
//! kernel's console messages and `EMU-BOOT-OK` on the VGA text screen, the status bar, a shell
//! on tty1 that answers `echo $((6*7))` typed with `tmux send-keys` (through the keymap and the
//! emulated i8042), and `C-a x` quitting with the terminal modes exactly as they were.
//!
//! Needs tmux: in CI (`CI` set) its absence fails the test; elsewhere the test says so and
//! skips. `scripts/setup.sh` installs it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use emu_suite::{emu_binary, guest_dir};

/// A boot takes about 35 s in emu; more on a loaded machine.
const BOOT_TIMEOUT: Duration = Duration::from_secs(180);
const STEP_TIMEOUT: Duration = Duration::from_secs(60);

/// A tmux server of our own (its own socket), killed when the test ends however it ends.
struct Tmux {
    socket: String,
    /// The socket file, removed at the end too.
    socket_path: Option<PathBuf>,
}

impl Tmux {
    fn cmd(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("running tmux")
    }

    fn screen(&self) -> String {
        let out = self.cmd(&["capture-pane", "-p", "-t", "emu"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "emu"];
        args.extend_from_slice(keys);
        let out = self.cmd(&args);
        assert!(out.status.success(), "tmux send-keys {keys:?} failed");
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
        if let Some(p) = &self.socket_path {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn tmux_available() -> bool {
    Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Polls the pane until `done` accepts what has been seen so far (every screen, in order,
/// so lines that scrolled away between two looks still count); returns the last screen.
fn wait(
    t: &Tmux,
    what: &str,
    limit: Duration,
    seen: &mut String,
    done: impl Fn(&str, &str) -> bool,
) -> String {
    let t0 = Instant::now();
    loop {
        let screen = t.screen();
        seen.push_str(&screen);
        if done(seen, &screen) {
            return screen;
        }
        assert!(
            t0.elapsed() < limit,
            "{what}: not seen within {limit:?}; the pane shows:\n{screen}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn lines(screen: &str) -> impl Iterator<Item = &str> {
    screen.lines().map(str::trim_end)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[test]
fn full_screen_display_in_tmux() {
    if !tmux_available() {
        let msg = "tmux is not installed: the display test needs it (scripts/setup.sh installs it, or apt-get install tmux)";
        if std::env::var_os("CI").is_some() {
            panic!("{msg}");
        }
        eprintln!("skipping: {msg}");
        return;
    }
    let disk = guest_dir().join("disk.img");
    assert!(
        disk.is_file(),
        "{} is missing: run scripts/guest-image.sh (scripts/test.sh does)",
        disk.display()
    );
    let emu = emu_binary();
    let dir: PathBuf = std::env::temp_dir().join(format!("emu-display-tty-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("run.sh");
    // --snapshot: the shared image is never written.
    std::fs::write(
        &script,
        format!(
            "stty -a > '{d}/stty-before'\n\
             '{emu}' run --snapshot '{disk}' 2> '{d}/stderr'\n\
             echo $? > '{d}/status.tmp' && mv '{d}/status.tmp' '{d}/status'\n\
             stty -a > '{d}/stty-after'\n\
             touch '{d}/done'\n\
             sleep 60\n",
            d = dir.display(),
            emu = emu.display(),
            disk = disk.display()
        ),
    )
    .unwrap();
    let mut t = Tmux {
        socket: format!("emu-test-{}", std::process::id()),
        socket_path: None,
    };
    let started = t.cmd(&[
        "new-session",
        "-d",
        "-s",
        "emu",
        "-x",
        "100",
        "-y",
        "30",
        &format!("sh '{}'", script.display()),
    ]);
    assert!(
        started.status.success(),
        "tmux new-session failed: {}",
        String::from_utf8_lossy(&started.stderr)
    );
    let path = t.cmd(&["display-message", "-p", "#{socket_path}"]);
    t.socket_path = Some(PathBuf::from(
        String::from_utf8_lossy(&path.stdout).trim().to_string(),
    ))
    .filter(|p| !p.as_os_str().is_empty());

    // Boot: kernel messages (console=tty0) and the init script's marker on the VGA screen.
    let mut seen = String::new();
    wait(
        &t,
        "kernel messages and EMU-BOOT-OK",
        BOOT_TIMEOUT,
        &mut seen,
        |all, _| all.contains("Run /init as init process") && all.contains("EMU-BOOT-OK kernel="),
    );
    // The shell on tty1, and the status bar on the row under the 25 guest rows.
    let screen = wait(&t, "the shell prompt", STEP_TIMEOUT, &mut seen, |_, s| {
        lines(s).take(25).any(|l| l == "/ #")
    });
    let status = screen.lines().nth(25).unwrap_or_default();
    assert!(
        status.contains("MIPS") && status.contains("C-a h: help"),
        "no status bar on row 26:\n{screen}"
    );

    // Typed through crossterm key events -> set-1 scan codes -> i8042 -> the guest's tty.
    t.keys(&["echo $((6*7))", "Enter"]);
    wait(
        &t,
        "42 from the guest shell",
        STEP_TIMEOUT,
        &mut seen,
        |_, s| lines(s).take(25).any(|l| l == "42"),
    );

    // C-a x: emu quits and the terminal is as it was.
    t.keys(&["C-a", "x"]);
    let t0 = Instant::now();
    while !dir.join("done").exists() {
        assert!(
            t0.elapsed() < STEP_TIMEOUT,
            "emu did not quit on C-a x; the pane shows:\n{}",
            t.screen()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let stderr = read(&dir.join("stderr"));
    assert_eq!(
        read(&dir.join("status")).trim(),
        "0",
        "exit status of emu after C-a x (stderr: {stderr})"
    );
    assert!(!stderr.contains("panicked"), "emu panicked: {stderr}");
    let before = read(&dir.join("stty-before"));
    assert!(before.contains("speed"), "stty -a before: {before:?}");
    assert_eq!(
        before,
        read(&dir.join("stty-after")),
        "terminal modes changed"
    );
    // The alternate screen is gone: the pane shows the shell's normal screen again.
    let after = t.screen();
    assert!(
        !after.contains("EMU-BOOT-OK") && !after.contains("C-a h: help"),
        "the emulated screen is still shown after exit:\n{after}"
    );
    drop(t);
    std::fs::remove_dir_all(&dir).ok();
}
