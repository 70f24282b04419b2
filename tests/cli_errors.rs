//! Bad user input to `emu run` gives a clear one-line error, never a panic: checked through
//! the same machine builder the binary uses (its `main` prints the error on one line and exits
//! with status 2).

use std::path::PathBuf;

use emu_frontend::machine::{Machine, MachineConfig};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("emu-cli-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

fn error_for(config: MachineConfig) -> String {
    match Machine::new(config) {
        Ok(_) => panic!("expected an error"),
        Err(e) => {
            let msg = format!("{e:#}");
            assert!(!msg.contains('\n'), "not one line: {msg}");
            assert!(!msg.is_empty());
            msg
        }
    }
}

fn with_disk(p: &std::path::Path) -> MachineConfig {
    MachineConfig {
        memory_mb: 16,
        disk: Some(p.to_path_buf()),
        ..Default::default()
    }
}

#[test]
fn bad_disk_images() {
    let missing = tmp("missing.img");
    assert!(error_for(with_disk(&missing)).contains("missing.img"));

    let empty = tmp("empty.img");
    std::fs::write(&empty, b"").unwrap();
    assert!(error_for(with_disk(&empty)).contains("empty"));

    let dir = tmp("adir");
    std::fs::create_dir_all(&dir).unwrap();
    assert!(error_for(with_disk(&dir)).contains("directory"));

    let odd = tmp("odd.img");
    std::fs::write(&odd, vec![0u8; 1000]).unwrap();
    assert!(error_for(with_disk(&odd)).contains("512"));
}

#[test]
fn bad_kernel_and_memory() {
    let k = tmp("not-a-kernel");
    std::fs::write(&k, vec![0x90u8; 4096]).unwrap();
    let msg = error_for(MachineConfig {
        memory_mb: 16,
        kernel: Some(k),
        ..Default::default()
    });
    assert!(msg.contains("bzImage"), "{msg}");

    let disk = tmp("ok.img");
    std::fs::write(&disk, vec![0u8; 512 * 64]).unwrap();
    let msg = error_for(MachineConfig {
        memory_mb: 0,
        ..with_disk(&disk)
    });
    assert!(msg.contains("-m 0"), "{msg}");
}

#[test]
fn nothing_to_boot() {
    let msg = error_for(MachineConfig {
        memory_mb: 16,
        ..Default::default()
    });
    assert!(msg.contains("nothing to boot"), "{msg}");
}
