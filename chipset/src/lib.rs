//! The PC board of `emu`: port-I/O routing, the devices, the virtual clock and event queue.
//!
//! [`Board`] owns every device as a plain field and is what the front end wraps to implement
//! the CPU's bus trait: `io_read`, `io_write`, `irq_pending`, `irq_ack`, plus `advance_to` and
//! `next_event_ns` for time. One device per module, each documenting the datasheet facts it
//! follows and what it leaves out. This crate knows nothing of the CPU; it depends only on
//! `emu-mmu` for the types shared with guest memory.

#![forbid(unsafe_code)]

pub mod ata;
pub mod board;
pub mod clock;
pub mod debugport;
pub mod disk;
pub mod i8042;
pub mod pci;
pub mod pic;
pub mod pit;
pub mod port92;
pub mod rtc;
pub mod uart;
pub mod vga;

pub use board::{Board, BoardConfig};
pub use clock::{Clock, EventKind};
pub use rtc::RtcStart;
