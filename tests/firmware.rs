//! The built-in BIOS without a Linux guest: a floppy image boots first and reads its own
//! sectors through int 13h.

use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use emu_frontend::machine::{Machine, MachineConfig};
use emu_frontend::run::{self, Console, Io, Outcome, RunOptions};
use emu_suite::SharedOutput;

/// A 1.44 MB floppy whose boot sector reads sector 2 with int 13h AH=02h (CHS 0/0/2) and
/// prints it on COM1.
fn floppy() -> Vec<u8> {
    let mut img = vec![0u8; 1_474_560];
    let code: &[u8] = &[
        0xB8, 0x01, 0x02, // mov ax, 0201h
        0xBB, 0x00, 0x80, // mov bx, 8000h
        0xB9, 0x02, 0x00, // mov cx, 0002h
        0xBA, 0x00, 0x00, // mov dx, 0000h
        0xCD, 0x13, // int 13h
        0x72, 0x0E, // jc fail
        0xBE, 0x00, 0x80, // mov si, 8000h
        0xBA, 0xF8, 0x03, // mov dx, 3F8h
        0xAC, // lodsb
        0x08, 0xC0, // or al, al
        0x74, 0x05, // jz done
        0xEE, // out dx, al
        0xEB, 0xF8, // jmp lodsb
        0xFA, 0xF4, // fail: cli; hlt
        0xFA, 0xF4, // done: cli; hlt
    ];
    img[..code.len()].copy_from_slice(code);
    img[510] = 0x55;
    img[511] = 0xAA;
    let msg = b"FLOPPY-OK read by int 13h\r\n\0";
    img[512..512 + msg.len()].copy_from_slice(msg);
    img
}

#[test]
fn boots_a_floppy_image_through_int13() {
    let path = std::env::temp_dir().join(format!("emu-floppy-{}.img", std::process::id()));
    std::fs::write(&path, floppy()).unwrap();
    let config = MachineConfig {
        memory_mb: 16,
        floppy: Some(path.clone()),
        snapshot: true,
        ..Default::default()
    };
    let mut m = Machine::new(config).expect("machine");
    let out = SharedOutput::default();
    let io = Io {
        input: None,
        output: Box::new(out.clone()),
        stop: Arc::new(AtomicUsize::new(0)),
    };
    let opts = RunOptions {
        paced: false,
        console: Console::Headless,
        no_reboot: true,
        time_limit_ns: Some(500_000_000),
    };
    let outcome = run::run(&mut m, opts, false, io).expect("run");
    assert_eq!(outcome, Outcome::TimeLimit);
    let text = out.text();
    assert!(
        text.contains("FLOPPY-OK read by int 13h"),
        "COM1 said: {text:?}"
    );
    std::fs::remove_file(&path).ok();
}
