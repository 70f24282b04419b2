//! The run loop: look up or decode a block, run its ops, deliver faults and interrupts.

use iced_x86::{Code, Decoder, DecoderOptions, Instruction, Register};

use crate::block::{Block, BlockCache, Span, NEAR_EXIT, NO_PAGE, SELF_LOOP};
use crate::deadflags::{self, FlagUse};
use crate::decode::{build, Op};
use crate::exception::{self, Exc};
use crate::knownflags::{self, Effect};
use crate::{Bus, Cpu};

/// Longest block, in instructions.
const MAX_BLOCK_OPS: usize = 64;
/// Most bytes fetched for one block (the block also stops at the end of its page).
const MAX_BLOCK_BYTES: u32 = 512;

/// Why [`Cpu::run`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// The instruction budget is used up.
    Budget,
    /// HLT with no interrupt pending; the board should advance time to its next event.
    Halted,
    /// Triple fault: the board decides between reset and power-off.
    Shutdown,
    /// The firmware trapped to its Rust half (see [`Cpu::trap_port`]) from the stub at this
    /// linear address; the OUT has completed.
    Trap(u32),
}

impl<B: Bus> Cpu<B> {
    /// Runs at least until `budget` more instructions have retired (a block in progress
    /// finishes), the CPU halts, or it shuts down.
    pub fn run(&mut self, budget: u64) -> Exit {
        let end = self.icount.saturating_add(budget);
        let mut cache = std::mem::take(&mut self.cache);
        let exit = loop {
            if self.shutdown {
                break Exit::Shutdown;
            }
            if self.int_shadow {
                // One instruction runs before interrupts are recognised again.
                self.int_shadow = false;
                if !self.halted {
                    self.step_block(&mut cache, true, end);
                    if let Some(t) = self.trap.take() {
                        break Exit::Trap(t);
                    }
                    continue;
                }
            } else if self.flags.iff() && self.bus.irq_pending() {
                let v = self.bus.irq_ack();
                self.external_interrupt(v);
                continue;
            }
            if self.halted {
                break Exit::Halted;
            }
            if self.icount >= end {
                break Exit::Budget;
            }
            let single = self.flags.tf();
            self.step_block(&mut cache, single, end);
            if let Some(t) = self.trap.take() {
                break Exit::Trap(t);
            }
        };
        self.cache = cache;
        exit
    }

    /// Runs one block (or one instruction when `single`), and then, while nothing the run loop
    /// looks at between blocks says stop (budget `end`, interrupts, halt, traps), the blocks
    /// that follow a near jump, call or return or a block cut at its size limit: same CS and
    /// mode, so they need only a TLB hit (none within the same page) and a lookup. A block
    /// that branches to its own start runs again without even that.
    fn step_block(&mut self, cache: &mut BlockCache<B>, single: bool, end: u64) {
        // A stop raised outside a block (an interrupt or exception delivery that pushed onto
        // a code page) has done its part: the lookup below checks the code pages again. Left
        // set, it would meet the first op that checks it mid-block, after fast paths (which
        // do not check it) had run on, with a stale `op_left`.
        self.stop = false;
        self.taken = false;
        self.mem.code_written = false;
        self.refresh_flat();
        let trap = self.flags.tf();
        // RF lasts for one instruction (it is cleared when that instruction completes, unless
        // the instruction loaded EFLAGS itself); run that instruction alone.
        let rf = self.flags.test(crate::flags::RF);
        let single = single || rf;
        self.single_insn = single;
        let mut lin = self.cs().base.wrapping_add(self.eip);
        let mut phys = match self.code_phys(lin) {
            Ok(p) => p,
            Err(e) => return self.exception(e),
        };
        let mode = (self.mode_key() as u64) << 32;
        let key = phys as u64 | mode;
        let mut blk = if !self.block_cache_enabled {
            cache.flush_small();
            self.decode_block(cache, lin, phys, key, 1).span
        } else if let Some(b) = self.lookup_checked(cache, key, lin) {
            self.stats.block_hits += 1;
            b
        } else {
            self.decode_block(cache, lin, phys, key, MAX_BLOCK_OPS).span
        };
        self.flags_loaded = false;
        'chain: loop {
            let last = blk.start as usize + if single { 1 } else { blk.len as usize };
            // The count is bumped for the whole block up front, one per op, and corrected by
            // the ops not run if it ends early: instructions that read it (I/O, RDTSC, MSRs)
            // always end their block, so they see the exact value, and the loop saves a memory
            // increment per instruction. A fused run of pushes or pops adds its other
            // instructions itself.
            let ops = &cache.ops[blk.start as usize..last];
            let entry = self.eip;
            self.block_entry = entry;
            loop {
                let base = self.icount;
                self.icount = base + ops.len() as u64;
                // A conditional branch inside the block was taken (a near transfer).
                let mut taken = false;
                // The ops run each other in order (`decode::thread`) until one stops the
                // block (a taken branch, a restart, a fault) or the last has run. EIP is the
                // entry's plus the op's end offset, set for the ops that look at it and after
                // the last (`decode::thread`). Not wrapped at 64 KiB in 16-bit code:
                // running past the CS limit faults (SDM).
                let Some(first) = ops.first() else {
                    break 'chain;
                };
                let r = (first.exec)(self, ops);
                debug_assert_eq!(self.flat, self.flat_now(), "flat segment mask out of step");
                if let Err(e) = r {
                    // Set by the op that faulted; clamped so that a stale count could only
                    // misplace EIP, never index out of the block.
                    let left = self.op_left.clamp(1, ops.len());
                    let op = &ops[ops.len() - left];
                    self.icount -= (left - 1) as u64;
                    self.eip = entry
                        .wrapping_add(op.next_off as u32)
                        .wrapping_sub(op.len as u32);
                    self.stop = false;
                    self.mem.code_written = false;
                    self.note_hot(lin, base);
                    return self.exception(e);
                }
                if self.stop {
                    let left = self.op_left.clamp(1, ops.len());
                    self.icount -= (left - 1) as u64;
                    self.note_hot(lin, base);
                    self.stop = false;
                    if self.taken {
                        self.taken = false;
                        // Uncached, every instruction goes back to the run loop.
                        taken = self.block_cache_enabled;
                    } else {
                        // A write to code (maybe this block's), or a state change the run
                        // loop must see: go back to it.
                        self.mem.code_written = false;
                        break 'chain;
                    }
                }
                if !taken {
                    self.note_hot(lin, base);
                }
                // Of what the run loop checks before a block, only the budget and an
                // interrupt can change here: an op that halts, sets an interrupt shadow or a
                // firmware trap, loads TF or shuts down either stops its block untaken (the
                // break above) or ends it in a far or non-branch exit (`near_exit` clear).
                let go_on = !single
                    && (blk.near_exit() || taken)
                    && self.icount < end
                    && !(self.flags.iff() && self.bus.irq_pending());
                debug_assert!(
                    !go_on
                        || !(self.shutdown
                            || self.halted
                            || self.int_shadow
                            || self.trap.is_some()
                            || self.flags.tf()),
                    "a run-loop event went unnoticed between chained blocks"
                );
                if !go_on {
                    break 'chain;
                }
                if !((blk.self_loop() || taken) && self.eip == entry) {
                    break;
                }
                self.stats.block_hits += 1;
            }
            // A near transfer or fall-through: same CS, mode and privilege. Within the page
            // the linear page maps to the physical page just run; elsewhere the TLB must
            // already hold the translation (a miss or fault goes back to the run loop).
            let next = self.cs().base.wrapping_add(self.eip);
            let next_phys = if (next ^ lin) & !0xFFF == 0 {
                (phys & !0xFFF) | (next & 0xFFF)
            } else {
                match self.code_phys_cached(next) {
                    Some(p) => p,
                    None => break,
                }
            };
            let key = next_phys as u64 | mode;
            blk = match cache.chained(key, &self.mem) {
                Some(b) => b,
                None => match self.lookup_checked(cache, key, next) {
                    Some(b) => b,
                    None => break,
                },
            };
            self.stats.block_hits += 1;
            lin = next;
            phys = next_phys;
        }
        // RF was set: one instruction ran (`single`); it clears RF unless it loaded EFLAGS.
        if rf && !self.flags_loaded {
            self.flags.assign(crate::flags::RF, false);
        }
        if trap && !self.shutdown {
            // Single-step trap after the instruction (TF was set before it ran): DR6.BS.
            self.dr[6] |= 1 << 14;
            self.exception(Exc::new(exception::DB));
        }
    }

    /// Ends a fused run of pushes or pops after its first `done` instructions (1 or more):
    /// the count takes the run's extra ones; a run cut short also moves EIP to the next
    /// instruction (each is one byte) and stops the block there, so the run loop goes on at
    /// that instruction (which faults, or runs singly, from a state exactly as if the run had
    /// not been fused).
    pub(crate) fn end_run(&mut self, op: &Op<B>, done: u32) {
        self.icount += done as u64 - 1;
        if done < op.aux as u32 {
            self.eip = self.eip.wrapping_sub(op.len as u32).wrapping_add(done);
            self.stop = true;
        }
    }

    /// Counts a block run that started at linear `lin` with the instruction count at `base`
    /// for `--hot-blocks`; the test is all that stays in the block loop.
    #[inline(always)]
    fn note_hot(&mut self, lin: u32, base: u64) {
        if self.hot_blocks.is_some() {
            self.note_hot_slow(lin, base);
        }
    }

    #[cold]
    #[inline(never)]
    fn note_hot_slow(&mut self, lin: u32, base: u64) {
        if let Some(h) = self.hot_blocks.as_deref_mut() {
            h.note(lin, self.icount.saturating_sub(base));
        }
    }

    /// The cached block for `key` at linear `lin`, if still valid; a block whose last
    /// instruction straddles a page is valid only while the next linear page still maps
    /// where it did.
    #[inline(always)]
    fn lookup_checked(&mut self, cache: &mut BlockCache<B>, key: u64, lin: u32) -> Option<Span> {
        let i = cache.lookup(key, &self.mem)?;
        let b = cache.span(i);
        if b.phys2 != NO_PAGE && !self.second_page_same(lin, b.phys2) {
            cache.unlink_last();
            return None;
        }
        Some(b)
    }

    /// Decodes a block starting at `lin` (physical `phys`) into the cache.
    fn decode_block(
        &mut self,
        cache: &mut BlockCache<B>,
        lin: u32,
        phys: u32,
        key: u64,
        max_ops: usize,
    ) -> Block {
        self.stats.blocks_decoded += 1;
        cache.reserve(max_ops);
        let page_left = 0x1000 - (phys & 0xFFF);
        let want = page_left.min(MAX_BLOCK_BYTES) as usize + 15;
        let mut buf = std::mem::take(&mut cache.scratch);
        buf.clear();
        buf.resize(want, 0);
        let first = (page_left as usize).min(want);
        self.fetch_phys(phys, &mut buf[..first]);
        // Bytes of the next page, for an instruction that straddles it; if that page cannot
        // be fetched, such an instruction faults when it is reached (see below).
        let next = if first < want {
            match self.code_phys(lin.wrapping_add(page_left)) {
                Ok(p) => {
                    self.fetch_phys(p, &mut buf[first..]);
                    Ok(p)
                }
                Err(e) => Err(e),
            }
        } else {
            Ok(0)
        };
        // Bytes past the CS limit cannot be fetched: an instruction reaching them faults.
        let cs_limit = self.cs().limit;
        let code32 = self.code32();
        let mut dec = Decoder::with_ip(
            if code32 { 32 } else { 16 },
            &buf,
            self.eip as u64,
            DecoderOptions::NO_INVALID_CHECK,
        );
        let start = cache.ops.len() as u32;
        let gen = self.mem.mark_code(phys);
        let mut phys2 = NO_PAGE;
        let mut gen2 = 0;
        let mut ins = Instruction::default();
        let mut n = 0;
        let mut cacheable = true;
        let mut self_loop = false;
        let mut near_exit = false;
        let mut end_off = 0u16;
        // Whether the last op is a plain or fused one-byte PUSH (true) or POP (false) r32.
        let mut prev_run: Option<bool> = None;
        // How each op uses the flags, for the dead-flag pass below.
        let mut uses = Vec::with_capacity(if max_ops > 1 { max_ops } else { 0 });
        // And what each does to the flags a later Jcc reads, for the Jcc pass.
        let mut effects = Vec::with_capacity(if max_ops > 1 { max_ops } else { 0 });
        while n < max_ops {
            let off = dec.position();
            // The buffer holds the block's byte budget plus one longest instruction: an
            // instruction must start inside the budget (and the page) to be fetched whole.
            if (off >= page_left as usize || off >= MAX_BLOCK_BYTES as usize) && n > 0 {
                break;
            }
            dec.decode_out(&mut ins);
            let len = ins.len();
            let last_byte = (self.eip as u64) + off as u64 + len.max(1) as u64 - 1;
            let beyond_limit = last_byte > cs_limit as u64 || (!code32 && last_byte > 0xFFFF);
            let mut op: Op<B> = if beyond_limit {
                Op::fault_gp(len as u8)
            } else {
                build(&ins, &buf[off..], code32)
            };
            if len == 0 {
                op = Op::invalid(1);
            }
            // Only an op built from the instruction is what `classify` reads it as.
            let mut built = !beyond_limit && len != 0;
            let crosses = off + len > page_left as usize;
            if crosses {
                if n > 0 {
                    break;
                }
                match next {
                    Ok(p) => {
                        phys2 = p;
                        gen2 = self.mem.mark_code(p);
                    }
                    Err(e) => {
                        op = Op::fault(len as u8, e);
                        cacheable = false;
                        built = false;
                    }
                }
            }
            let ends = crate::decode::ends_block(&ins, &op);
            // A near jump or conditional branch (LOOP, JECXZ too) back to the block's start.
            let near_branch = ins.is_jcc_short_or_near()
                || ins.is_jmp_short_or_near()
                || ins.is_loop()
                || ins.is_loopcc()
                || ins.is_jcx_short();
            self_loop = max_ops > 1 && near_branch && ins.near_branch_target() == self.eip as u64;
            // Near transfers change neither CS nor mode nor privilege; nor does running on
            // into the next instruction when the block is cut (size limit, page end).
            near_exit = max_ops > 1
                && (!ends
                    || near_branch
                    || ins.is_jmp_near_indirect()
                    || ins.is_call_near()
                    || ins.is_call_near_indirect()
                    || ins.mnemonic() == iced_x86::Mnemonic::Ret);
            end_off += op.len as u16;
            // One-byte PUSH r32 / POP r32 (not ESP) in a row become one op (`push_run`,
            // `pop_run`): the first stays a plain op, the next ones join it. Not when decoding
            // one instruction at a time (no cache), where an op must be one instruction.
            let run = match ins.code() {
                Code::Push_r32 => Some(true),
                Code::Pop_r32 => Some(false),
                _ => None,
            }
            .filter(|_| {
                max_ops > 1
                    && len == 1
                    && !crosses
                    && op.len == 1
                    && ins.op0_register() != Register::ESP
            });
            match (run, cache.ops.last_mut()) {
                (Some(push), Some(last)) if prev_run == Some(push) && last.aux < 8 => {
                    if last.aux == 0 {
                        // The plain op becomes a run of one: its register in the lowest nibble.
                        last.exec = if push {
                            crate::ops::stack::push_run_for::<B>()
                        } else {
                            crate::ops::stack::pop_run_for::<B>()
                        };
                        last.imm = last.ra as u32 & 7;
                        last.aux = 1;
                    }
                    last.imm |= (op.ra as u32 & 7) << (4 * last.aux as u32);
                    last.aux += 1;
                    last.len += 1;
                    last.next_off = end_off;
                }
                _ => {
                    op.next_off = end_off;
                    if max_ops > 1 {
                        uses.push(if built {
                            deadflags::classify(&ins, &op)
                        } else {
                            FlagUse::Other
                        });
                        effects.push(if built {
                            knownflags::effect(&ins, &op)
                        } else {
                            Effect::Clobbers
                        });
                    }
                    cache.ops.push(op);
                    n += 1;
                    prev_run = run;
                    if ends || crosses {
                        break;
                    }
                }
            }
        }
        cache.scratch = buf;
        if let Some(ops) = cache.ops.get_mut(start as usize..) {
            self.stats.dead_flag_ops += deadflags::elide(ops, &uses);
            self.stats.folded_jccs += knownflags::fold(ops, &effects);
        }
        let b = Block {
            key,
            phys,
            gen,
            gen2,
            span: Span {
                start,
                len: n as u32,
                phys2,
                flags: (self_loop as u32 * SELF_LOOP) | (near_exit as u32 * NEAR_EXIT),
            },
            next_key: [crate::block::NO_KEY; 2],
            next_idx: [0; 2],
        };
        if self.block_cache_enabled && cacheable {
            cache.insert(b);
        }
        b
    }

    /// A block whose last instruction straddles a page is valid only while the linear page
    /// after it still maps to the physical page it was decoded from.
    fn second_page_same(&mut self, lin: u32, phys2: u32) -> bool {
        let next = (lin | 0xFFF).wrapping_add(1);
        // Walk quietly: a fault here just means the block must be decoded again.
        let saved = self.cr2;
        let same = self.code_phys(next).map(|p| p & !0xFFF) == Ok(phys2 & !0xFFF);
        self.cr2 = saved;
        same
    }

    /// Runs one instruction (tests and debuggers).
    pub fn step(&mut self) -> Exit {
        let mut cache = std::mem::take(&mut self.cache);
        self.int_shadow = false;
        if !self.halted && !self.shutdown {
            self.step_block(&mut cache, true, 0);
        }
        self.cache = cache;
        if let Some(t) = self.trap.take() {
            Exit::Trap(t)
        } else if self.shutdown {
            Exit::Shutdown
        } else if self.halted {
            Exit::Halted
        } else {
            Exit::Budget
        }
    }
}
