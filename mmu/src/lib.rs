//! Guest memory for `emu`: physical RAM with the A20 gate and code-page tracking.
//! Paging and the TLB live here too once protected mode arrives (see DESIGN.md).

pub mod memory;

pub use memory::{Memory, MemoryError, PAGE_SHIFT, PAGE_SIZE};
