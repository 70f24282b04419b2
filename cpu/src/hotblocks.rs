//! Guest code profile by block (`emu run --hot-blocks N`, like QEMU's hotblocks plugin): how
//! many times each block ran and how many guest instructions it retired, keyed by the linear
//! address of its first instruction. It is how the boot's time was found to sit in the
//! kernel's bignum self-tests (DESIGN.md, "Where the boot's time goes"); map the addresses to
//! symbols with the guest's `/proc/kallsyms` (boot with `nokaslr`).

use std::collections::HashMap;

/// Distinct block starts counted one by one; a guest that jumps to more places than this
/// (it decides where it jumps) cannot grow the table further: the rest go to `other`.
pub const MAX_STARTS: usize = 1 << 20;

/// Per-block counts, filled only while profiling is on.
#[derive(Default)]
pub struct HotBlocks {
    counts: HashMap<u32, Count>,
    /// Runs of blocks that started where the full table had no entry.
    other: Count,
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
        let full = self.counts.len() >= MAX_STARTS;
        let c = match self.counts.get_mut(&lin) {
            Some(c) => c,
            None if full => &mut self.other,
            None => self.counts.entry(lin).or_default(),
        };
        c.runs += 1;
        c.insns += insns;
    }

    /// What ran from block starts beyond [`MAX_STARTS`] (zero unless the table filled up).
    pub fn other(&self) -> Count {
        self.other
    }

    /// The `n` block starts with the most instructions, most first (ties by address).
    pub fn top(&self, n: usize) -> Vec<(u32, Count)> {
        let mut v: Vec<(u32, Count)> = self.counts.iter().map(|(&a, &c)| (a, c)).collect();
        v.sort_unstable_by(|a, b| b.1.insns.cmp(&a.1.insns).then(a.0.cmp(&b.0)));
        v.truncate(n);
        v
    }

    /// Instructions counted over every block, those in [`HotBlocks::other`] included.
    pub fn total_insns(&self) -> u64 {
        self.counts.values().map(|c| c.insns).sum::<u64>() + self.other.insns
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
        assert_eq!(h.other(), Count::default());
    }

    #[test]
    fn a_full_table_counts_new_starts_apart() {
        let mut h = HotBlocks::default();
        for a in 0..MAX_STARTS as u32 {
            h.note(a, 1);
        }
        h.note(u32::MAX, 7);
        h.note(0, 2);
        assert_eq!(h.len(), MAX_STARTS);
        assert_eq!(h.other(), Count { runs: 1, insns: 7 });
        assert_eq!(h.top(1)[0], (0, Count { runs: 2, insns: 3 }));
        assert_eq!(h.total_insns(), MAX_STARTS as u64 + 7 + 2);
    }
}
