//! Guest memory for `emu`: physical RAM with the A20 gate, firmware ROM and code-page
//! tracking; the page walk and the TLB.

pub mod hosttlb;
pub mod memory;
pub mod paging;
pub mod tlb;

pub use memory::{Memory, MemoryError, PAGE_SHIFT, PAGE_SIZE};
pub use paging::{Access, PagingMode, Translation};
pub use tlb::Tlb;
