//! Guest code profile by block (`emu run --hot-blocks N`, like QEMU's hotblocks plugin): how
//! many times each block ran and how many guest instructions it retired, keyed by the linear
//! address of its first instruction. It is how the boot's time was found to sit in the
//! kernel's bignum self-tests (DESIGN.md, "Where the boot's time goes"); map the addresses to
//! symbols with the guest's `/proc/kallsyms` (boot with `nokaslr`).

use std::collections::HashMap;

/// Per-block counts, filled only while profiling is on.
#[derive(Default)]
pub struct HotBlocks {
    counts: HashMap<u32, Count>,
}

/// One block start's totals.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct Count {
    /// Times a block starting here ran (each pass of a loop inside one block counts).
    pub runs: u64,
    /// Guest instructions retired in those runs (a run cut short by a fault counts the
    /// instructions up to and including the faulting one).
    pub insns: u64,
}

impl HotBlocks {
    pub fn note(&mut self, lin: u32, insns: u64) {
        let c = self.counts.entry(lin).or_default();
        c.runs += 1;
        c.insns += insns;
    }

    /// The `n` block starts with the most instructions, most first (ties by address).
    pub fn top(&self, n: usize) -> Vec<(u32, Count)> {
        let mut v: Vec<(u32, Count)> = self.counts.iter().map(|(&a, &c)| (a, c)).collect();
        v.sort_unstable_by(|a, b| b.1.insns.cmp(&a.1.insns).then(a.0.cmp(&b.0)));
        v.truncate(n);
        v
    }

    /// Instructions counted over every block.
    pub fn total_insns(&self) -> u64 {
        self.counts.values().map(|c| c.insns).sum()
    }

    /// Distinct block starts seen.
    pub fn len(&self) -> usize {
        self.counts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_orders_by_instructions_then_address() {
        let mut h = HotBlocks::default();
        h.note(0x2000, 5);
        h.note(0x1000, 3);
        h.note(0x1000, 2);
        h.note(0x3000, 9);
        assert_eq!(h.total_insns(), 19);
        assert_eq!(h.len(), 3);
        let top = h.top(2);
        assert_eq!(top[0], (0x3000, Count { runs: 1, insns: 9 }));
        // 0x1000 and 0x2000 tie on 5 instructions: the lower address first.
        assert_eq!(top[1], (0x1000, Count { runs: 2, insns: 5 }));
    }
}
