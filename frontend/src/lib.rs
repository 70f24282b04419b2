//! The `emu` front end as a library, so tests and benchmarks drive what the binary drives.

pub mod display;
pub mod keymap;
pub mod machine;
pub mod run;
pub mod sst;
pub mod statusbar;
pub mod terminal;
pub mod terminput;
