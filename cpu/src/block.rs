//! The block cache: decoded straight-line runs of ops keyed by physical address and mode.
//!
//! A fixed pool of ops is flushed whole when full. Each block remembers the write
//! generation of the physical page(s) it was decoded from ([`emu_mmu::Memory::mark_code`]);
//! a write to such a page bumps the generation, so the next lookup misses and the block is
//! decoded again (self-modifying code is legal x86).

use emu_mmu::Memory;

use crate::decode::Op;
use crate::Bus;

/// Ops in the pool before it is flushed.
const POOL_OPS: usize = 1 << 18;
/// Hash table sets (a power of two) and entries per set. A set is one 64-byte line, and
/// four ways keep blocks whose keys hash alike from evicting each other: with one way, two
/// blocks of an idle guest's timer tick that shared a slot were decoded again on every tick.
const TABLE_SETS: usize = 1 << 14;
const WAYS: usize = 4;
/// No second page.
pub(crate) const NO_PAGE: u32 = u32::MAX;

/// One cached block: 64 bytes on one cache line, so a chained lookup (its links, its
/// generations, its span) touches one line.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(64))]
pub(crate) struct Block {
    pub key: u64,
    pub phys: u32,
    pub gen: u32,
    /// Generation of the page of the last instruction when it straddles a page boundary
    /// (`span.phys2`).
    pub gen2: u32,
    /// What running it needs, ready to hand out.
    pub span: Span,
    /// The last two blocks that ran after this one (keys and indices), so most lookups
    /// skip the hash table: a loop or a call/return pair chains through these.
    pub next_key: [u64; 2],
    pub next_idx: [u32; 2],
}

/// What running a block needs of it: its ops and the page its last instruction ends on.
/// Four 32-bit words: when it is spilled to the stack, each load matches the store that
/// wrote it (two `bool`s stored as 16 bits and reloaded with their padding as 32 stalled
/// store forwarding on every block).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Span {
    pub start: u32,
    pub len: u32,
    /// Page of the last instruction when it straddles a page boundary, else [`NO_PAGE`].
    pub phys2: u32,
    /// [`SELF_LOOP`] and [`NEAR_EXIT`].
    pub flags: u32,
}

/// The block ends in a near branch to its own start (a loop in one block).
pub(crate) const SELF_LOOP: u32 = 1;
/// The block leaves CS, mode and privilege unchanged: it ends in a near jump, call or
/// return, or was cut before its next instruction (size limit, page end).
pub(crate) const NEAR_EXIT: u32 = 2;

impl Span {
    #[inline(always)]
    pub(crate) fn self_loop(&self) -> bool {
        self.flags & SELF_LOOP != 0
    }

    #[inline(always)]
    pub(crate) fn near_exit(&self) -> bool {
        self.flags & NEAR_EXIT != 0
    }
}

impl Block {
    /// The index of the successor linked under `key`, if either link has it.
    #[inline(always)]
    fn successor(&self, key: u64) -> Option<u32> {
        if self.next_key[0] == key {
            Some(self.next_idx[0])
        } else if self.next_key[1] == key {
            Some(self.next_idx[1])
        } else {
            None
        }
    }
}

pub struct BlockCache<B: Bus> {
    pub(crate) ops: Vec<Op<B>>,
    pub(crate) blocks: Vec<Block>,
    /// Sets of (key, block index), most recently inserted first; empty ways hold [`NO_KEY`].
    table: Vec<Set>,
    /// Instruction bytes fetched for decoding.
    pub(crate) scratch: Vec<u8>,
    /// Lookups that found their block made stale by a write to its code page.
    pub invalidations: u64,
    /// Whole-cache flushes (pool full, or new code loaded from outside the CPU).
    pub flushes: u64,
    /// Index of the block that ran last (for chaining), or [`NO_BLOCK`].
    last: u32,
    /// The block that ran before it.
    prev: u32,
}

const NO_BLOCK: u32 = u32::MAX;

/// One entry of a table set.
#[derive(Clone, Copy, Debug)]
struct Way {
    key: u64,
    idx: u32,
}

/// One table set, aligned to a cache line so a lookup touches one line.
#[derive(Clone, Copy, Debug)]
#[repr(align(64))]
struct Set([Way; WAYS]);

const EMPTY_SET: Set = Set([Way {
    key: NO_KEY,
    idx: NO_BLOCK,
}; WAYS]);
/// A key no block has (keys are a physical address and a 3-bit mode).
pub(crate) const NO_KEY: u64 = u64::MAX;

impl<B: Bus> Default for BlockCache<B> {
    fn default() -> Self {
        BlockCache {
            ops: Vec::new(),
            blocks: Vec::new(),
            table: Vec::new(),
            scratch: Vec::new(),
            invalidations: 0,
            flushes: 0,
            last: NO_BLOCK,
            prev: NO_BLOCK,
        }
    }
}

#[inline]
fn set_of(key: u64) -> usize {
    let h = key.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (h >> (64 - 14)) as usize & (TABLE_SETS - 1)
}

impl<B: Bus> BlockCache<B> {
    pub fn new() -> Self {
        BlockCache {
            ops: Vec::with_capacity(1024),
            blocks: Vec::with_capacity(256),
            table: vec![EMPTY_SET; TABLE_SETS],
            scratch: Vec::with_capacity(4096 + 16),
            invalidations: 0,
            flushes: 0,
            last: NO_BLOCK,
            prev: NO_BLOCK,
        }
    }

    pub fn flush(&mut self) {
        self.flushes += 1;
        self.last = NO_BLOCK;
        self.ops.clear();
        self.blocks.clear();
        self.table.fill(EMPTY_SET);
    }

    /// Finds a still-valid block for `key`, by index: first among the last block's two
    /// successors (inlined; most lookups end here), then in the table. An index, not the
    /// span, so both halves hand it back in a register.
    #[inline(always)]
    pub(crate) fn lookup(&mut self, key: u64, mem: &Memory) -> Option<u32> {
        let prev = self.last;
        self.prev = prev;
        let Some(chained) = self
            .blocks
            .get(prev as usize)
            .and_then(|p| p.successor(key))
        else {
            return self.lookup_table(key, mem, prev);
        };
        match self.validate(chained, mem) {
            Some(s) => Some(s),
            // The link leads to a block a write to its code made stale; the table holds its
            // replacement once that is decoded (and the hit relinks). Without this, every
            // pass over the link decoded the block again.
            None => self.lookup_table(key, mem, prev),
        }
    }

    /// The commonest lookup between chained blocks, all inline: the last block's successor
    /// for `key`, still valid and on one page. Anything else (no link, a block a write made
    /// stale, a block whose last instruction straddles a page) is None with nothing changed,
    /// and the caller takes the full [`BlockCache::lookup`], which sorts it out. One load
    /// of each block and no bounds checks past those two: the full lookup's index hand-off
    /// and second-page tests cost ~20 host instructions per block.
    #[inline(always)]
    pub(crate) fn chained(&mut self, key: u64, mem: &Memory) -> Option<Span> {
        let idx = self.blocks.get(self.last as usize)?.successor(key)?;
        let b = self.blocks.get(idx as usize)?;
        if b.span.phys2 != NO_PAGE || mem.code_gen(b.phys) != b.gen {
            return None;
        }
        self.last = idx;
        Some(b.span)
    }

    /// The table half of [`BlockCache::lookup`]; a hit becomes the last block's newest
    /// successor.
    #[inline(never)]
    fn lookup_table(&mut self, key: u64, mem: &Memory, prev: u32) -> Option<u32> {
        self.last = NO_BLOCK;
        let set = self.table.get(set_of(key))?;
        let i = set.0.iter().find(|w| w.key == key)?.idx;
        if let Some(p) = self.blocks.get_mut(prev as usize) {
            // A link with this key (to a block made stale) is replaced in place, so the other
            // link is not pushed out by a dead one.
            if p.next_key[0] == key {
                p.next_idx[0] = i;
            } else {
                p.next_key = [key, p.next_key[0]];
                p.next_idx = [i, p.next_idx[0]];
            }
        }
        self.validate(i, mem)
    }

    /// Block `idx` if no write has touched its code since it was decoded.
    #[inline(always)]
    fn validate(&mut self, idx: u32, mem: &Memory) -> Option<u32> {
        self.last = NO_BLOCK;
        let b = self.blocks.get(idx as usize)?;
        if mem.code_gen(b.phys) != b.gen
            || (b.span.phys2 != NO_PAGE && mem.code_gen(b.span.phys2) != b.gen2)
        {
            self.invalidations += 1;
            return None;
        }
        self.last = idx;
        Some(idx)
    }

    /// The span of block `idx` (from [`BlockCache::lookup`]); an empty one, which runs
    /// nothing, for an index that names no block.
    #[inline(always)]
    pub(crate) fn span(&self, idx: u32) -> Span {
        self.blocks.get(idx as usize).map_or(
            Span {
                start: 0,
                len: 0,
                phys2: NO_PAGE,
                flags: 0,
            },
            |b| b.span,
        )
    }

    /// The block [`BlockCache::lookup`] just returned cannot run here after all (its second
    /// page now maps elsewhere): forget the chain link that led to it, so the block decoded
    /// in its place is found through the table.
    pub(crate) fn unlink_last(&mut self) {
        let last = self.last;
        if let Some(p) = self.blocks.get_mut(self.prev as usize) {
            for k in 0..2 {
                if p.next_idx[k] == last {
                    p.next_key[k] = NO_KEY;
                }
            }
        }
        self.last = NO_BLOCK;
    }

    /// Room for `n` more ops; flushes the whole pool when it is full.
    pub(crate) fn reserve(&mut self, n: usize) -> bool {
        if self.ops.len() + n > POOL_OPS || self.blocks.len() >= POOL_OPS / 4 {
            self.flush();
            return true;
        }
        false
    }

    /// Drops the ops of the uncached single-instruction mode.
    pub(crate) fn flush_small(&mut self) {
        self.last = NO_BLOCK;
        self.ops.clear();
        self.blocks.clear();
    }

    pub(crate) fn insert(&mut self, b: Block) {
        if self.table.is_empty() {
            self.table = vec![EMPTY_SET; TABLE_SETS];
        }
        let idx = self.blocks.len() as u32;
        self.blocks.push(b);
        // The new block goes first; a stale block with the same key is replaced, otherwise
        // the least recently inserted way drops out.
        let set = &mut self.table[set_of(b.key)].0;
        let old = set.iter().position(|w| w.key == b.key).unwrap_or(WAYS - 1);
        set.copy_within(0..old, 1);
        set[0] = Way { key: b.key, idx };
        self.last = idx;
    }
}
