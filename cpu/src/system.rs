//! System state the instructions consult: privilege, segment loads, I/O permission,
//! CPUID, the time-stamp counter, EFLAGS writes.

use crate::exception::Exc;
use crate::flags;
use crate::regs::{Seg, SegReg};

use crate::{Bus, Cpu};

/// CPUID leaf 1 EDX bits this CPU implements.
const FEAT_FPU: u32 = 1 << 0;
const FEAT_PSE: u32 = 1 << 3;
const FEAT_TSC: u32 = 1 << 4;
const FEAT_MSR: u32 = 1 << 5;
const FEAT_PAE: u32 = 1 << 6;
const FEAT_CX8: u32 = 1 << 8;
const FEAT_SEP: u32 = 1 << 11;
const FEAT_PGE: u32 = 1 << 13;
const FEAT_CMOV: u32 = 1 << 15;
const FEATURES: u32 = FEAT_FPU
    | FEAT_PSE
    | FEAT_TSC
    | FEAT_MSR
    | FEAT_PAE
    | FEAT_CX8
    | FEAT_SEP
    | FEAT_PGE
    | FEAT_CMOV;

/// CPUID leaf 7 EDX bits: IA32_SPEC_CTRL/IA32_PRED_CMD (IBRS, IBPB) and IA32_ARCH_CAPABILITIES.
const FEAT7_SPEC_CTRL: u32 = 1 << 26;
const FEAT7_ARCH_CAPABILITIES: u32 = 1 << 29;

/// IA32_ARCH_CAPABILITIES: the "not affected" bits. An interpreter neither speculates nor
/// predicts branches, has no line fill or store buffers a guest could sample, so every
/// transient-execution attack the bits name is absent; "enhanced IBRS" is trivially true
/// (there is no predictor to restrict). Without them a kernel assumes the worst for an Intel
/// family 6 part and pays for it on every system call and context switch: retpolines,
/// a VERW on each return to user mode, the return-buffer fill on each switch.
const ARCH_CAP_NOT_AFFECTED: u64 = (1 << 0) // RDCL_NO: no Meltdown
    | (1 << 1) // IBRS_ALL: enhanced IBRS
    | (1 << 4) // SSB_NO: no speculative store bypass
    | (1 << 5) // MDS_NO
    | (1 << 6) // IF_PSCHANGE_MC_NO
    | (1 << 8) // TAA_NO
    | (1 << 13) // SBDR_SSDP_NO
    | (1 << 14) // FBSDP_NO
    | (1 << 15) // PSDP_NO
    | (1 << 20) // BHI_NO
    | (1 << 24) // PBRSB_NO
    | (1 << 26) // GDS_NO
    | (1 << 27); // RFDS_NO

/// CR0 bits.
pub const CR0_PE: u32 = 1;
pub const CR0_TS: u32 = 1 << 3;
pub const CR0_WP: u32 = 1 << 16;
pub const CR0_PG: u32 = 1 << 31;
/// CR4 bits this CPU accepts (VME/PVI are not modelled): DE, PSE, PAE, PGE, TSD, OSFXSR,
/// OSXMMEXCPT.
const CR4_VALID: u32 = (1 << 2) | (1 << 3) | (1 << 4) | (1 << 5) | (1 << 7) | (1 << 9) | (1 << 10);

/// MSR numbers.
const MSR_TSC: u32 = 0x10;
/// IA32_BIOS_SIGN_ID: the microcode revision (reads back 0: no update loaded).
const MSR_BIOS_SIGN_ID: u32 = 0x8B;
/// IA32_SPEC_CTRL: only IBRS (bit 0) is enumerated; it reads back as written and
/// restricts nothing, there being no predictor.
const MSR_SPEC_CTRL: u32 = 0x48;
/// IA32_PRED_CMD: write-only; IBPB (bit 0) has no predictor to flush.
const MSR_PRED_CMD: u32 = 0x49;
const MSR_ARCH_CAPABILITIES: u32 = 0x10A;
const MSR_SYSENTER_CS: u32 = 0x174;
const MSR_SYSENTER_ESP: u32 = 0x175;
const MSR_SYSENTER_EIP: u32 = 0x176;

impl<B: Bus> Cpu<B> {
    /// Current privilege level: 0 in real mode, 3 in virtual-8086 mode.
    #[inline]
    pub fn cpl(&self) -> u8 {
        if !self.pe() {
            0
        } else if self.flags.vm() {
            3
        } else {
            self.cpl
        }
    }

    /// CLI/STI and friends: allowed when CPL <= IOPL.
    pub fn check_iopl(&self) -> Result<(), Exc> {
        if self.pe() && self.cpl() > self.flags.iopl() {
            return Err(Exc::gp(0));
        }
        Ok(())
    }

    /// Writes EFLAGS from POPF/IRET. Which bits change depends on mode and privilege.
    pub fn write_flags(&mut self, v: u32, osize: u8) {
        let mut which = flags::CF
            | flags::PF
            | flags::AF
            | flags::ZF
            | flags::SF
            | flags::TF
            | flags::IF
            | flags::DF
            | flags::OF
            | flags::IOPL
            | flags::NT;
        if osize == 4 {
            which |= flags::RF | flags::AC | flags::ID;
        }
        if self.pe() {
            if self.cpl() > 0 {
                which &= !flags::IOPL;
            }
            if self.cpl() > self.flags.iopl() {
                which &= !flags::IF;
            }
        }
        self.flags.set_masked(v, which);
        self.flags_loaded = true;
    }

    /// CPUID: a 686 ("GenuineIntel", family 6) advertising only what is implemented. Leaves
    /// 2-6 read as zero (no cache or power descriptors: "none"); leaf 7 enumerates only the
    /// speculation-control MSRs, whatever the subleaf (its EAX, the last subleaf, is 0).
    pub fn cpuid_leaf(&self, leaf: u32) -> (u32, u32, u32, u32) {
        match leaf {
            0 => (7, 0x756E_6547, 0x6C65_746E, 0x4965_6E69),
            1 => (0x0000_0633, 0, 0, FEATURES),
            7 => (0, 0, 0, FEAT7_SPEC_CTRL | FEAT7_ARCH_CAPABILITIES),
            _ => (0, 0, 0, 0),
        }
    }

    /// MOV to CR0 (and LMSW, CLTS, task switches): PG needs PE; paging changes flush the TLB.
    pub fn set_cr0(&mut self, v: u32) -> Result<(), Exc> {
        if v & CR0_PG != 0 && v & CR0_PE == 0 {
            return Err(Exc::gp(0));
        }
        // ET is hard-wired to 1 on a 686; reserved bits read as written where harmless.
        let v = v | 0x10;
        let old = self.cr0;
        self.cr0 = v;
        if (old ^ v) & (CR0_PG | CR0_WP | CR0_PE) != 0 {
            self.flush_tlb(false);
            self.update_paging();
        }
        if (old ^ v) & CR0_PE != 0 {
            // CPL stays 0 across the switch until CS is reloaded.
            self.cpl = 0;
        }
        if old & CR0_PE != 0 && v & CR0_PE == 0 {
            // Real mode checks only limits: the cached types stop mattering (a code segment
            // left in CS is writable again), while the cached limits stay ("unreal" mode).
            for s in self.seg.iter_mut() {
                s.real_mode_rights();
            }
            self.refresh_flat();
        }
        self.stop = true;
        Ok(())
    }

    pub fn set_cr3(&mut self, v: u32) {
        self.cr3 = v;
        self.pmode.cr3 = v;
        self.flush_tlb(true);
        self.stop = true;
    }

    pub fn set_cr4(&mut self, v: u32) -> Result<(), Exc> {
        if v & !CR4_VALID != 0 {
            return Err(Exc::gp(0));
        }
        let old = self.cr4;
        self.cr4 = v;
        if (old ^ v) & ((1 << 4) | (1 << 5) | (1 << 7)) != 0 {
            self.flush_tlb(false);
            self.update_paging();
        }
        self.stop = true;
        Ok(())
    }

    fn update_paging(&mut self) {
        self.paging = self.cr0 & CR0_PG != 0;
        self.pmode = emu_mmu::PagingMode {
            cr3: self.cr3,
            pse: self.cr4 & (1 << 4) != 0,
            pae: self.cr4 & (1 << 5) != 0,
            pge: self.cr4 & (1 << 7) != 0,
            wp: self.cr0 & CR0_WP != 0,
        };
    }

    pub fn rdmsr(&mut self, msr: u32) -> Result<u64, Exc> {
        Ok(match msr {
            MSR_TSC => self.tsc(),
            MSR_BIOS_SIGN_ID => 0,
            MSR_SPEC_CTRL => self.spec_ctrl as u64,
            MSR_ARCH_CAPABILITIES => ARCH_CAP_NOT_AFFECTED,
            MSR_SYSENTER_CS => self.sysenter[0] as u64,
            MSR_SYSENTER_ESP => self.sysenter[1] as u64,
            MSR_SYSENTER_EIP => self.sysenter[2] as u64,
            _ => return Err(Exc::gp(0)),
        })
    }

    pub fn wrmsr(&mut self, msr: u32, v: u64) -> Result<(), Exc> {
        match msr {
            MSR_TSC => self.tsc_offset = v.wrapping_sub(self.clock.now_ns(self.icount)),
            MSR_BIOS_SIGN_ID => {}
            MSR_SPEC_CTRL if v & !1 == 0 => self.spec_ctrl = v as u8,
            MSR_PRED_CMD if v & !1 == 0 => {}
            MSR_SYSENTER_CS => self.sysenter[0] = v as u32,
            MSR_SYSENTER_ESP => self.sysenter[1] = v as u32,
            MSR_SYSENTER_EIP => self.sysenter[2] = v as u32,
            _ => return Err(Exc::gp(0)),
        }
        Ok(())
    }

    /// The time-stamp counter: guest time in nanoseconds plus the WRMSR offset.
    pub fn tsc(&self) -> u64 {
        self.clock.now_ns(self.icount).wrapping_add(self.tsc_offset)
    }

    /// Makes the current instruction run again (a REP instruction yielding mid-way).
    #[inline]
    pub(crate) fn restart(&mut self, op: &crate::Op<B>) {
        let m = if self.code32() { u32::MAX } else { 0xFFFF };
        self.eip = self.eip.wrapping_sub(op.len as u32) & m;
        self.stop = true;
    }

    /// For an OUT to the trap port from the real-mode firmware area (F0000-FFFFF), the linear
    /// address of that OUT instruction: the firmware's Rust half identifies its stub by it.
    pub(crate) fn firmware_trap(&self, port: u16, op: &crate::Op<B>) -> Option<u32> {
        if Some(port) != self.trap_port || self.pe() {
            return None;
        }
        let start = self.eip.wrapping_sub(op.len as u32) & 0xFFFF;
        let lin = self.cs().base.wrapping_add(start);
        (0xF_0000..0x10_0000).contains(&lin).then_some(lin)
    }

    /// The EIP after `op` in the running block (its entry EIP plus the op's end offset):
    /// what EIP holds while the op's handler runs, for ops that do not keep it up to date.
    #[inline(always)]
    pub(crate) fn op_eip(&self, op: &crate::decode::Op<B>) -> u32 {
        self.block_entry.wrapping_add(op.next_off as u32)
    }

    #[inline]
    pub(crate) fn cs(&self) -> &Seg {
        &self.seg[SegReg::Cs as usize]
    }
}

#[cfg(test)]
mod tests {
    use crate::{Cpu, NullBus};
    use emu_mmu::Memory;

    fn cpu() -> Cpu<NullBus> {
        Cpu::new(Memory::new(1 << 20).unwrap(), NullBus)
    }

    /// Leaf 0 must reach leaf 7, and leaf 7 must name both MSRs, or a kernel never reads
    /// them and assumes a speculating part.
    #[test]
    fn cpuid_enumerates_the_speculation_msrs() {
        let c = cpu();
        assert_eq!(c.cpuid_leaf(0).0, 7);
        let (a, b, cx, d) = c.cpuid_leaf(7);
        assert_eq!((a, b, cx), (0, 0, 0));
        assert_eq!(d, (1 << 26) | (1 << 29));
        for leaf in 2..=6 {
            assert_eq!(c.cpuid_leaf(leaf), (0, 0, 0, 0), "leaf {leaf}");
        }
    }

    #[test]
    fn arch_capabilities_say_not_affected() {
        let mut c = cpu();
        let caps = c.rdmsr(0x10A).unwrap();
        // RDCL_NO, IBRS_ALL, SSB_NO, MDS_NO, TAA_NO, the MMIO stale-data trio, BHI_NO,
        // PBRSB_NO, GDS_NO, RFDS_NO; never RSBA (it would claim a vulnerable return
        // predictor) nor TSX_CTRL (no such MSR).
        for bit in [0, 1, 4, 5, 8, 13, 14, 15, 20, 24, 26, 27] {
            assert_ne!(caps & 1 << bit, 0, "bit {bit}");
        }
        assert_eq!(caps & (1 << 2 | 1 << 7), 0);
        // Read-only.
        assert!(c.wrmsr(0x10A, caps).is_err());
    }

    #[test]
    fn spec_ctrl_keeps_ibrs_and_rejects_the_rest() {
        let mut c = cpu();
        assert_eq!(c.rdmsr(0x48).unwrap(), 0);
        c.wrmsr(0x48, 1).unwrap();
        assert_eq!(c.rdmsr(0x48).unwrap(), 1);
        // STIBP and SSBD are not enumerated: #GP, the value unchanged.
        assert!(c.wrmsr(0x48, 2).is_err());
        assert!(c.wrmsr(0x48, 4).is_err());
        assert_eq!(c.rdmsr(0x48).unwrap(), 1);
        c.reset();
        assert_eq!(c.rdmsr(0x48).unwrap(), 0);
        // PRED_CMD: IBPB is accepted, other bits are not, and it cannot be read.
        c.wrmsr(0x49, 1).unwrap();
        assert!(c.wrmsr(0x49, 2).is_err());
        assert!(c.rdmsr(0x49).is_err());
    }
}
