//! The real PC board behind the front end's own bus (`emu_frontend::machine::Hw`), with the
//! time keeping of `emu run --unpaced`: guest time advances `NS_PER_INSN` per retired
//! instruction, the CPU runs in slices that end at the board's next event, a port access first
//! brings the board to the time of the accessing instruction, and HLT skips to the next event.

use emu_chipset::{Board, BoardConfig, RtcStart};
use emu_cpu::{Cpu, Exit, GuestClock};
use emu_frontend::machine::Hw;
use emu_frontend::run::NS_PER_INSN;

/// Longest CPU slice between looks at the board, as in the front end.
const MAX_SLICE_NS: u64 = 1_000_000;

pub type BoardBus = Hw;

/// The bus over a fresh board whose RTC starts at a fixed time, so runs are reproducible.
pub fn bus() -> BoardBus {
    Hw::new(Board::new(BoardConfig {
        rtc_start: RtcStart::Unix(1_700_000_000),
    }))
}

/// Runs until the CPU halts with interrupts disabled (nothing can wake it), shuts down, or
/// halts with no device event left to wait for.
pub fn run(cpu: &mut Cpu<BoardBus>) -> Exit {
    loop {
        let now = cpu.bus.board.now_ns();
        let next = cpu.bus.board.next_event_ns();
        let slice = next
            .unwrap_or(u64::MAX)
            .saturating_sub(now)
            .clamp(1, MAX_SLICE_NS);
        let start = cpu.icount;
        cpu.clock = GuestClock {
            base_ns: now,
            base_icount: start,
            ns_per_insn_q16: NS_PER_INSN << 16,
        };
        let exit = cpu.run(cpu.clock.insns_for(slice));
        let mut t = cpu.clock.now_ns(cpu.icount).max(now + 1);
        match exit {
            Exit::Budget => {}
            Exit::Halted => {
                if !cpu.flags.iff() {
                    return exit;
                }
                // Idle: jump to the next event, like the front end's unpaced mode.
                match cpu.bus.board.next_event_ns() {
                    Some(at) => t = t.max(at),
                    None => return exit,
                }
            }
            Exit::Shutdown | Exit::Trap(_) => return exit,
        }
        cpu.bus.board.advance_to(t);
    }
}
