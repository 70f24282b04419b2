//! x87 FPU (doc to be written).

mod f80;
mod ops;
mod soft;
mod state;

pub use f80::{Class, F80};
pub use ops::{CmpFlags, Const, FOp, IntSize, Src};
pub use state::{sw, EnvMode, Fpu, Tag};
