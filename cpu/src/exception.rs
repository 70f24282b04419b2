//! Guest faults as values. A handler returns `Err(Exc)`; the run loop rolls EIP back to the
//! faulting instruction and delivers the exception through the IVT/IDT.

pub const DE: u8 = 0;
pub const DB: u8 = 1;
pub const BP: u8 = 3;
pub const OF: u8 = 4;
pub const BR: u8 = 5;
pub const UD: u8 = 6;
pub const NM: u8 = 7;
pub const DF: u8 = 8;
pub const TS: u8 = 10;
pub const NP: u8 = 11;
pub const SS: u8 = 12;
pub const GP: u8 = 13;
pub const PF: u8 = 14;
pub const MF: u8 = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exc {
    pub vector: u8,
    /// Error code pushed with the exception (protected mode only), if the vector has one.
    pub code: Option<u32>,
}

impl Exc {
    pub const fn new(vector: u8) -> Exc {
        Exc { vector, code: None }
    }
    pub const fn with_code(vector: u8, code: u32) -> Exc {
        Exc {
            vector,
            code: Some(code),
        }
    }
    pub const fn de() -> Exc {
        Exc::new(DE)
    }
    pub const fn ud() -> Exc {
        Exc::new(UD)
    }
    pub const fn br() -> Exc {
        Exc::new(BR)
    }
    pub const fn nm() -> Exc {
        Exc::new(NM)
    }
    pub const fn gp(code: u32) -> Exc {
        Exc::with_code(GP, code)
    }
    pub const fn ss(code: u32) -> Exc {
        Exc::with_code(SS, code)
    }

    /// Contributory exceptions combine into a double fault (SDM Vol. 3, table 6-5).
    pub fn contributory(&self) -> bool {
        matches!(self.vector, DE | TS | NP | SS | GP)
    }
}

impl std::fmt::Display for Exc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const NAMES: [&str; 21] = [
            "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "CSO", "#TS", "#NP",
            "#SS", "#GP", "#PF", "15", "#MF", "#AC", "#MC", "#XM", "#VE",
        ];
        match NAMES.get(self.vector as usize) {
            Some(n) => write!(f, "{n}")?,
            None => write!(f, "vector {}", self.vector)?,
        }
        if let Some(c) = self.code {
            write!(f, "({c:#x})")?;
        }
        Ok(())
    }
}
