//! The handlers chosen at decode time for hot forms must behave exactly like the general
//! handlers they stand in for: same registers, flags, EIP, memory and faults, over random
//! states, for every ModR/M register, size and (for shifts) count.

use iced_x86::{Decoder, DecoderOptions};

use super::{alu, control, data, shift, stack};
use crate::decode::{build, Handler, Op};
use crate::test_rng::Rng;
use crate::{Cpu, NullBus};
use emu_mmu::Memory;

fn cpu(rng: &mut Rng) -> Cpu<NullBus> {
    let mut c = Cpu::new(Memory::new(1 << 20).unwrap(), NullBus);
    for r in c.r.iter_mut().take(8) {
        // Small values too, so zero results, carries and shift counts of 0 and 1 come up.
        *r = match rng.next() % 4 {
            0 => rng.next() as u32 & 0x1F,
            1 => (rng.next() as u32) | 0x8000_0000,
            _ => rng.next() as u32,
        };
    }
    // Keep memory operands inside RAM: BX/SI/DI/BP small.
    for i in [3, 5, 6, 7] {
        c.r[i] &= 0xFFF;
    }
    // Leave flags in a random lazy state.
    c.flags.set_lazy(
        crate::flags::LazyOp::Sub,
        4,
        rng.next() as u32,
        rng.next() as u32,
        rng.next() as u32,
    );
    c.flags.assign(crate::flags::CF, rng.next() & 1 != 0);
    for a in (0..0x3000).step_by(4) {
        c.mem.write_u32(a, rng.next() as u32);
    }
    c.eip = 0x100;
    c
}

fn op_of(bytes: &[u8], code32: bool) -> Op<NullBus> {
    let mut b = bytes.to_vec();
    b.extend_from_slice(&[0x12, 0x34, 0x56, 0x78, 0x9A]);
    let mut dec = Decoder::new(if code32 { 32 } else { 16 }, &b, DecoderOptions::NONE);
    let ins = dec.decode();
    build::<NullBus>(&ins, &b, code32)
}

/// Runs `op` with its decode-time handler and with `general` on equal random states.
fn check(bytes: &[u8], general: Handler<NullBus>, rng: &mut Rng) {
    for code32 in [false, true] {
        let op = op_of(bytes, code32);
        for k in 0..16 {
            let seed = rng.next();
            let mut a = cpu(&mut Rng(seed | 1));
            let mut b = cpu(&mut Rng(seed | 1));
            if code32 {
                for c in [&mut a, &mut b] {
                    c.seg[1].big = true;
                }
            }
            if k % 2 == 1 {
                // The fast paths (`decode::threaded_fast!`) run only through the host TLB and,
                // for the stack, on a 32-bit stack: give `a` both, on a stack inside RAM.
                for c in [&mut a, &mut b] {
                    c.seg[2].big = true;
                    c.r[4] = 0x1000 | (c.r[4] & 0xFFE);
                }
                for page in [0u32, 0x1000, 0x2000] {
                    a.mem.host_fill(page, a.cpl, page, false, false);
                    a.mem.host_fill(page, a.cpl, page, true, false);
                }
            }
            let ra = op.run(&mut a);
            let rb = general(&mut b, &op);
            let what = format!("{bytes:02x?} code32={code32}");
            assert_eq!(
                ra.err().map(|e| e.vector()),
                rb.err().map(|e| e.vector()),
                "{what}"
            );
            assert_eq!(a.r, b.r, "{what}");
            assert_eq!(a.flags.get(), b.flags.get(), "{what}");
            assert_eq!(a.eip, b.eip, "{what}");
            for addr in (0..0x3000).step_by(4) {
                assert_eq!(a.mem.read_u32(addr), b.mem.read_u32(addr), "{what}");
            }
        }
    }
}

#[test]
fn shifts_match_general() {
    let mut rng = Rng(0x1234_5678_9ABC_DEF1);
    let general: [Handler<NullBus>; 8] = [
        shift::rol,
        shift::ror,
        shift::rcl,
        shift::rcr,
        shift::shl,
        shift::shr,
        shift::shl, // SAL
        shift::sar,
    ];
    for reg in 0..8u8 {
        for rm in 0..8u8 {
            let modrm = 0xC0 | reg << 3 | rm;
            for opc in [0xC0u8, 0xC1, 0xD0, 0xD1, 0xD2, 0xD3] {
                let count = (rng.next() % 40) as u8;
                check(&[opc, modrm, count], general[reg as usize], &mut rng);
                check(&[0x66, opc, modrm, count], general[reg as usize], &mut rng);
            }
        }
    }
}

#[test]
fn movx_incdec_jcc_match_general() {
    let mut rng = Rng(0x0F0F_1234_4321_F0F1);
    for modrm in [0xC0u8, 0xC7, 0xD8, 0xE5, 0xFF, 0x07, 0x47, 0x04] {
        for opc in [0xB6u8, 0xB7] {
            check(&[0x0F, opc, modrm, 0x10], data::movzx, &mut rng);
            check(&[0x66, 0x0F, opc, modrm, 0x10], data::movzx, &mut rng);
        }
        for opc in [0xBEu8, 0xBF] {
            check(&[0x0F, opc, modrm, 0x10], data::movsx, &mut rng);
            check(&[0x66, 0x0F, opc, modrm, 0x10], data::movsx, &mut rng);
        }
    }
    for r in 0..8u8 {
        check(&[0x40 | r], alu::inc, &mut rng);
        check(&[0x48 | r], alu::dec, &mut rng);
        check(&[0x66, 0x40 | r], alu::inc, &mut rng);
        check(&[0xFE, 0xC0 | r], alu::inc, &mut rng);
        check(&[0xFE, 0xC8 | r], alu::dec, &mut rng);
    }
    for r in 0..8u8 {
        check(&[0x50 | r], stack::push, &mut rng);
        check(&[0x58 | r], stack::pop, &mut rng);
        check(&[0x66, 0x50 | r], stack::push, &mut rng);
        check(&[0x66, 0x58 | r], stack::pop, &mut rng);
    }
    for cc in 0..16u8 {
        check(&[0x70 | cc, 0x10], control::jcc, &mut rng);
        check(&[0x0F, 0x80 | cc, 0x10, 0x20, 0, 0], control::jcc, &mut rng);
    }
}

/// ALU ops with a memory destination (register or immediate source, all sizes, 16- and
/// 32-bit address forms with and without an index) against the general handler.
#[test]
fn alu_memory_destinations_match_general() {
    let mut rng = Rng(0xA1B2_C3D4_E5F6_0718);
    use alu::{binary, ADC, ADD, AND, CMP, OR, SBB, SUB, TEST, XOR};
    let general: [Handler<NullBus>; 8] = [
        binary::<NullBus, ADD>,
        binary::<NullBus, OR>,
        binary::<NullBus, ADC>,
        binary::<NullBus, SBB>,
        binary::<NullBus, AND>,
        binary::<NullBus, SUB>,
        binary::<NullBus, XOR>,
        binary::<NullBus, CMP>,
    ];
    // [BX]/[EDI], [BP+disp8]/[EDI+disp8], SIB [ESI+EBX*4+disp8] ([SI] in 16-bit code), [BX+SI].
    for modrm_rm in [0x07u8, 0x46, 0x44, 0x00] {
        for reg in 0..8u8 {
            let modrm = modrm_rm | reg << 3;
            let sib = [modrm, 0x9E, 0x08];
            for k in 0..8u8 {
                // K r/m8, r8; K r/m16/32, r16/32.
                check(&[k << 3, modrm, 0x9E, 0x08], general[k as usize], &mut rng);
                check(
                    &[(k << 3) | 1, modrm, 0x9E, 0x08],
                    general[k as usize],
                    &mut rng,
                );
                check(
                    &[0x66, (k << 3) | 1, modrm, 0x9E, 0x08],
                    general[k as usize],
                    &mut rng,
                );
            }
            let k = reg as usize;
            // 80 /k ib, 81 /k iw/id, 83 /k ib (sign-extended).
            for opc in [0x80u8, 0x81, 0x83] {
                let mut b = vec![opc];
                b.extend_from_slice(&sib);
                b.extend_from_slice(&[0x85, 0x81, 0x7F, 0xFF]);
                check(&b, general[k], &mut rng);
                b.insert(0, 0x66);
                check(&b, general[k], &mut rng);
            }
        }
        // TEST r/m, r and TEST r/m, imm.
        for opc in [0x84u8, 0x85] {
            check(
                &[opc, modrm_rm | 0x18, 0x9E, 0x08],
                binary::<NullBus, TEST>,
                &mut rng,
            );
        }
        for opc in [0xF6u8, 0xF7] {
            check(
                &[opc, modrm_rm, 0x9E, 0x08, 0x81, 0x80, 0x00, 0x80],
                binary::<NullBus, TEST>,
                &mut rng,
            );
        }
    }
}

#[test]
fn neg_not_match_general() {
    let mut rng = Rng(0x5EED_0F0E_6A7E_0001);
    for r in 0..8u8 {
        for (opc, prefix) in [(0xF6u8, None), (0xF7, None), (0xF7, Some(0x66u8))] {
            let mut not = prefix.map(|p| vec![p]).unwrap_or_default();
            let mut neg = not.clone();
            not.extend_from_slice(&[opc, 0xD0 | r]);
            neg.extend_from_slice(&[opc, 0xD8 | r]);
            check(&not, alu::not, &mut rng);
            check(&neg, alu::neg, &mut rng);
        }
    }
}

/// A REP/REPNE (BND) prefix on a Jcc, SETcc or CMOVcc is ignored: the condition code, not
/// the prefix, chooses what the instruction tests.
#[test]
fn prefixed_conditionals_keep_their_condition() {
    for (bytes, cc) in [
        (&[0xF2u8, 0x75, 0x02][..], 5), // BND JNE
        (&[0xF3, 0x74, 0x02], 4),       // REP JE
        (&[0xF2, 0x0F, 0x85, 0, 0, 0, 0], 5),
        (&[0xF3, 0x0F, 0x94, 0xC0], 4),  // SETE AL
        (&[0xF2, 0x0F, 0x4C, 0xC1], 12), // CMOVL EAX, ECX
    ] {
        assert_eq!(op_of(bytes, true).aux, cc, "{bytes:02X?}");
    }
    // String instructions keep their repeat prefix.
    for (bytes, rep) in [
        (&[0xF3u8, 0xA6][..], 1),
        (&[0xF2, 0xAE], 2),
        (&[0xF3, 0xA4], 1),
    ] {
        assert_eq!(op_of(bytes, true).aux, rep, "{bytes:02X?}");
    }
}

/// MOV loads and stores (register and immediate sources) and ALU ops with a register
/// destination and a memory source, in every address form of the memory-destination test:
/// their fast paths through the host TLB (filled on every other state, see [`check`]) and
/// their full paths against the general handlers.
#[test]
fn memory_sources_and_moves_match_general() {
    let mut rng = Rng(0x7EAD_BEEF_0BAD_F00D);
    use alu::{binary, ADD, AND, CMP, OR, SUB, XOR};
    let general: [(u8, Handler<NullBus>); 6] = [
        (0, binary::<NullBus, ADD>),
        (1, binary::<NullBus, OR>),
        (4, binary::<NullBus, AND>),
        (5, binary::<NullBus, SUB>),
        (6, binary::<NullBus, XOR>),
        (7, binary::<NullBus, CMP>),
    ];
    for modrm_rm in [0x07u8, 0x46, 0x44, 0x00] {
        for reg in 0..8u8 {
            let modrm = modrm_rm | reg << 3;
            for p in [&[][..], &[0x66]] {
                for opc in [0x8Au8, 0x8B, 0x88, 0x89] {
                    let b = [p, &[opc, modrm, 0x9E, 0x08]].concat();
                    check(&b, data::mov, &mut rng);
                }
                for (k, g) in general {
                    // K r8, r/m8; K r16/32, r/m16/32.
                    check(&[p, &[k << 3 | 2, modrm, 0x9E, 0x08]].concat(), g, &mut rng);
                    check(&[p, &[k << 3 | 3, modrm, 0x9E, 0x08]].concat(), g, &mut rng);
                }
            }
        }
        for p in [&[][..], &[0x66]] {
            for opc in [0xC6u8, 0xC7] {
                let b = [p, &[opc, modrm_rm, 0x9E, 0x08, 0x81, 0x80, 0x7F, 0x80]].concat();
                check(&b, data::mov, &mut rng);
            }
        }
    }
}
