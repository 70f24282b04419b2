//! The host operations closest to each guest event, measured natively on the same machine in
//! the same run, so the report can give emulated/native ratios.

use std::io::{Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::thread::JoinHandle;

/// A real system call that the C library does not cache: `getppid`.
pub fn syscall() -> u32 {
    std::os::unix::process::parent_id()
}

/// Pages faulted in per [`page_faults`] call; the mmap/munmap pair is shared among them.
pub const FAULT_PAGES: usize = 64;

/// Maps [`FAULT_PAGES`] anonymous pages, writes one byte to each (one page fault each, the
/// kernel zero-fills the page) and unmaps them.
pub fn page_faults() {
    let mut m = memmap2::MmapMut::map_anon(FAULT_PAGES * 4096).expect("anonymous mapping");
    for p in 0..FAULT_PAGES {
        m[p * 4096] = 1;
    }
    drop(std::hint::black_box(m));
}

/// Writes one byte to `to` and waits for it to come back on `from`.
fn round_trip(to: &mut impl Write, from: &mut impl Read) {
    let mut b = [7u8];
    to.write_all(&b).unwrap();
    from.read_exact(&mut b).unwrap();
}

/// One byte to another thread and back through two pipes: two blocking wake-ups.
pub struct ThreadPingPong {
    to: Option<std::io::PipeWriter>,
    from: std::io::PipeReader,
    echo: Option<JoinHandle<()>>,
}

impl ThreadPingPong {
    pub fn new() -> std::io::Result<ThreadPingPong> {
        let (mut rx, tx) = std::io::pipe()?;
        let (from, mut back) = std::io::pipe()?;
        let echo = std::thread::spawn(move || {
            let mut b = [0u8];
            while rx.read_exact(&mut b).is_ok() {
                if back.write_all(&b).is_err() {
                    break;
                }
            }
        });
        Ok(ThreadPingPong {
            to: Some(tx),
            from,
            echo: Some(echo),
        })
    }

    pub fn round_trip(&mut self) {
        round_trip(self.to.as_mut().unwrap(), &mut self.from);
    }
}

impl Drop for ThreadPingPong {
    fn drop(&mut self) {
        self.to = None; // EOF ends the echo thread
        if let Some(t) = self.echo.take() {
            let _ = t.join();
        }
    }
}

/// One byte to a child process (`cat`) and back: two process switches, each changing the
/// address space (the host's CR3 reload).
pub struct ProcessPingPong {
    child: Child,
    to: Option<ChildStdin>,
    from: ChildStdout,
}

impl ProcessPingPong {
    pub fn new() -> std::io::Result<ProcessPingPong> {
        let mut child = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let to = child.stdin.take();
        let from = child.stdout.take().expect("piped stdout");
        Ok(ProcessPingPong { child, to, from })
    }

    pub fn round_trip(&mut self) {
        round_trip(self.to.as_mut().unwrap(), &mut self.from);
    }
}

impl Drop for ProcessPingPong {
    fn drop(&mut self) {
        self.to = None; // EOF ends cat
        let _ = self.child.wait();
    }
}

/// Self-modifying code on the host: a read/write/execute page holding `MOV EAX, imm32; RET`,
/// whose immediate is rewritten before each call (the host CPU then discards what it had
/// fetched and decoded from that line).
#[cfg(target_arch = "x86_64")]
pub struct HostCode {
    page: *mut u8,
}

#[cfg(target_arch = "x86_64")]
impl HostCode {
    const LEN: usize = 4096;

    pub fn new() -> std::io::Result<HostCode> {
        // SAFETY: a fresh private anonymous mapping; no existing memory is affected, and the
        // result is checked before use.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                Self::LEN,
                libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        let page = p as *mut u8;
        // SAFETY: `page` points to LEN writable bytes; 6 are written.
        unsafe { std::ptr::copy_nonoverlapping([0xB8, 0, 0, 0, 0, 0xC3].as_ptr(), page, 6) };
        Ok(HostCode { page })
    }

    /// Writes `v` as the immediate and runs the routine; returns what it returned (`v`).
    pub fn patch_and_call(&mut self, v: u32) -> u32 {
        // SAFETY: bytes 1..5 of the mapping (the immediate); volatile so the store is not
        // elided or moved past the call.
        unsafe { std::ptr::write_volatile(self.page.add(1) as *mut [u8; 4], v.to_le_bytes()) };
        // SAFETY: the page holds the complete x86-64 routine `mov eax, imm32; ret`, which
        // follows the C calling convention for a function returning u32 and taking nothing.
        let f: extern "C" fn() -> u32 = unsafe { std::mem::transmute(self.page) };
        f()
    }
}

#[cfg(target_arch = "x86_64")]
impl Drop for HostCode {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `new`, which nothing refers to any more.
        unsafe { libc::munmap(self.page as *mut libc::c_void, Self::LEN) };
    }
}
