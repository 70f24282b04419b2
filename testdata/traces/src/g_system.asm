; g_system - system instructions.
;
; Covers: CPUID (leaves 0 and 1: the harness copies EAX..EDX from the trace after CPUID, since
; QEMU's Pentium III and emu report different values), RDMSR/WRMSR of the SYSENTER MSRs,
; #GP(0) for RDMSR/WRMSR at CPL 3, SYSENTER/SYSEXIT between ring 3 and ring 0
; (and their #GP(0) cases), RDTSC with CR4.TSD at CPL 3 (#GP(0); the TSC value itself is never
; compared), LAR/LSL/VERR/VERW on many descriptor kinds, ARPL, SMSW/LMSW/CLTS, SGDT/SIDT/
; SLDT/STR/LLDT/LTR, MOV to and from CR0/CR2/CR3/CR4 (with the #GP(0) and #UD cases), MOV
; DR0-DR7 (DR4/DR5 aliases, #UD with CR4.DE), CMPXCHG8B (both outcomes, #UD with a register
; operand), LOCK (allowed forms and #UD forms), UD2, INVD/WBINVD.

%include "common.inc"

%define CONT3 0x0524                    ; where INT 0x43 continues in ring 0

        bits    16
start16:
        ENTER_PM gdt, gdt_end

        bits    32
pm32_entry:
        mov     dword [TSS0 + 4], STACK0_TOP
        mov     dword [TSS0 + 8], SEL_DATA0
        mov     word [TSS0 + 0x66], 0x1000
        mov     ax, SEL_TSS0
        ltr     ax
        SETGATE 0x43, to_ring0, SEL_CODE0, 0xEE

%macro FAULT 1+
        SETRESUME %%after
        %1
%%after:
%endmacro

        ; ---- CPUID ---------------------------------------------------------------------------
        xor     eax, eax
        cpuid
        mov     eax, 1
        cpuid
        xor     eax, eax
        xor     ebx, ebx
        xor     ecx, ecx
        xor     edx, edx

        ; ---- MSRs ----------------------------------------------------------------------------
        mov     ecx, 0x174                      ; SYSENTER_CS
        xor     edx, edx
        mov     eax, SEL_CODE0
        wrmsr
        mov     ecx, 0x175                      ; SYSENTER_ESP
        mov     eax, 0x7000
        wrmsr
        mov     ecx, 0x176                      ; SYSENTER_EIP
        mov     eax, sysenter_target
        wrmsr
        xor     eax, eax
        mov     ecx, 0x174
        rdmsr
        mov     ecx, 0x175
        rdmsr
        mov     ecx, 0x176
        rdmsr
        ; (RDMSR/WRMSR of an MSR that does not exist must raise #GP(0); QEMU reads 0 and
        ; ignores the write: not exercised, see README.md)

        ; ---- SYSENTER / SYSEXIT --------------------------------------------------------------
        sysenter                                ; from CPL 0 it works: lands in sysenter_target
        ; (sysenter_target returns with SYSEXIT to ring 3 at EDX with ESP = ECX; see below)

        ; ---- CR4.TSD, RDTSC at CPL 3 ---------------------------------------------------------
        ; (continued in ring 3 after the first SYSEXIT)

after_ring3:                                    ; ring 0 again (INT 0x43)
        ; SYSENTER with SYSENTER_CS = 0: #GP(0)
        mov     ecx, 0x174
        xor     eax, eax
        xor     edx, edx
        wrmsr
        FAULT   sysenter                        ; #GP(0)
        ; SYSEXIT with SYSENTER_CS = 0: #GP(0)
        FAULT   sysexit
        mov     eax, SEL_CODE0
        wrmsr
        mov     eax, cr4
        and     eax, ~4                         ; TSD off
        mov     cr4, eax

        ; ---- LAR / LSL / VERR / VERW ---------------------------------------------------------
%macro PROBE 1
        mov     ax, %1
        mov     ebx, 0x5A5A5A5A
        mov     ecx, 0x5A5A5A5A
        lar     ebx, ax
        lsl     ecx, ax
        verr    ax
        verw    ax
        lar     bx, ax
        lsl     cx, ax
%endmacro
        PROBE   0                               ; null: ZF = 0
        PROBE   SEL_CODE0
        PROBE   SEL_DATA3
        PROBE   SEL_CODE3
        PROBE   SEL_TSS0                        ; busy TSS: LAR/LSL yes, VERR/VERW no
        PROBE   0x40                            ; conforming code, execute-only
        PROBE   0x48                            ; conforming code, readable
        PROBE   0x50                            ; call gate: LAR yes, LSL no
        PROBE   0x58                            ; LDT
        PROBE   0x60                            ; interrupt gate: neither
        PROBE   0x68                            ; data, not present: LAR and LSL still work
        PROBE   0x70                            ; expand-down, byte granular
        PROBE   0x83                            ; data DPL 2 with RPL 3 from CPL 0: invisible
        PROBE   0x100                           ; past the GDT limit
        PROBE   0x04                            ; LDT selector with LDTR null

        ; ---- ARPL ----------------------------------------------------------------------------
        mov     ax, 0x0010
        mov     bx, 0x0003
        arpl    ax, bx                          ; raised to 3, ZF = 1
        arpl    ax, bx                          ; equal, ZF = 0
        mov     word [SCRATCH], 0x0021
        mov     cx, 0x0002
        arpl    [SCRATCH], cx                   ; memory form: stays 1
        mov     dx, [SCRATCH]

        ; ---- SMSW / LMSW / CLTS --------------------------------------------------------------
        mov     eax, 0xFFFFFFFF
        smsw    ax                              ; 16-bit destination: high half kept
        smsw    [SCRATCH]
        mov     bx, [SCRATCH]
        mov     ax, 0x000E                      ; MP, EM, TS; PE clear
        lmsw    ax                              ; cannot clear PE
        mov     eax, cr0
        clts
        mov     eax, cr0
        mov     word [SCRATCH], 0x0002
        lmsw    [SCRATCH]                       ; EM, TS cleared; MP set
        mov     eax, cr0
        mov     eax, cr0
        and     eax, ~0x0E
        mov     cr0, eax

        ; ---- descriptor-table registers ------------------------------------------------------
        sgdt    [SCRATCH]
        mov     eax, [SCRATCH]
        mov     ebx, [SCRATCH + 2]
        sidt    [SCRATCH + 8]
        mov     eax, [SCRATCH + 8]
        mov     ebx, [SCRATCH + 10]
        sldt    eax
        str     ebx
        sldt    [SCRATCH]
        str     [SCRATCH + 2]
        mov     ecx, [SCRATCH]
        mov     ax, 0x58
        lldt    ax
        sldt    edx
        FAULT   lldt [cs:bad_sel]               ; a data descriptor: #GP(0x10)
        mov     ax, 0x68                        ; not a TSS
        FAULT   ltr ax                          ; #GP(0x68)
        mov     ax, SEL_TSS0                    ; busy
        FAULT   ltr ax                          ; #GP(0x28)
        mov     ax, 0x78                        ; an available TSS
        ltr     ax
        str     eax
        mov     ebx, [GDT_RAM + 0x78 + 4]       ; now busy
        xor     eax, eax
        lldt    ax
        lgdt    [cs:gdtr_value]
        mov     eax, 0x12345678
        mov     [SCRATCH], eax
        mov     [SCRATCH + 4], eax
        lidt    [SCRATCH]                       ; any values can be loaded...
        sidt    [SCRATCH + 8]
        mov     eax, [SCRATCH + 10]
        lidt    [cs:idtr_value]                 ; ...and restored before the next exception

        ; ---- control registers ---------------------------------------------------------------
        mov     eax, cr0
        or      eax, 0x60000000                 ; CD, NW
        mov     cr0, eax
        mov     ebx, cr0
        and     eax, ~0x60000000
        mov     cr0, eax
        mov     eax, 0xDEADBEEF
        mov     cr2, eax
        mov     ebx, cr2
        mov     eax, 0x00ABC000
        mov     cr3, eax                        ; paging is off: any page-aligned value
        mov     ebx, cr3
        xor     eax, eax
        mov     cr3, eax
        mov     eax, cr4
        or      eax, 0x08 | 0x10                ; DE, PSE
        mov     cr4, eax
        mov     ebx, cr4
        ; (PG without PE must raise #GP(0), but QEMU accepts it: not exercised, see README.md)
        ; (NW without CD must raise #GP(0), but QEMU accepts it: not exercised)
        ; (a reserved CR4 bit must raise #GP(0); QEMU 10 re-executes the MOV forever instead:
        ; not exercised)
        FAULT   db 0x0F, 0x20, 0xC8             ; mov eax, cr1: #UD
        FAULT   db 0x0F, 0x22, 0xE8             ; mov cr5, eax: #UD

        ; ---- debug registers -----------------------------------------------------------------
        mov     eax, 0x11111111
        mov     dr0, eax
        mov     eax, 0x22222222
        mov     dr1, eax
        mov     eax, 0x33333333
        mov     dr2, eax
        mov     eax, 0x44444444
        mov     dr3, eax
        mov     ebx, dr0
        mov     ebx, dr1
        mov     ebx, dr2
        mov     ebx, dr3
        mov     ebx, dr6
        mov     ebx, dr7
        mov     eax, 0x00000300                 ; LE, GE: no breakpoint enabled
        mov     dr7, eax
        mov     ebx, dr7
        FAULT   db 0x0F, 0x21, 0xE3             ; mov ebx, dr4 with CR4.DE: #UD
        FAULT   db 0x0F, 0x23, 0xE8             ; mov dr5, eax with CR4.DE: #UD
        mov     eax, cr4
        and     eax, ~0x08
        mov     cr4, eax
        db      0x0F, 0x21, 0xE3                ; mov ebx, dr4 = dr6 without CR4.DE
        db      0x0F, 0x21, 0xEB                ; mov ebx, dr5 = dr7
        xor     eax, eax
        mov     dr7, eax
        mov     dr0, eax
        mov     dr1, eax
        mov     dr2, eax
        mov     dr3, eax

        ; ---- CMPXCHG8B -----------------------------------------------------------------------
        mov     dword [SCRATCH], 0x11112222
        mov     dword [SCRATCH + 4], 0x33334444
        mov     eax, 0x11112222
        mov     edx, 0x33334444
        mov     ebx, 0x55556666
        mov     ecx, 0x77778888
        cmpxchg8b [SCRATCH]                     ; equal: stores ECX:EBX, ZF = 1
        mov     esi, [SCRATCH]
        mov     edi, [SCRATCH + 4]
        cmpxchg8b [SCRATCH]                     ; now unequal: loads EDX:EAX, ZF = 0
        lock cmpxchg8b [SCRATCH]
        FAULT   db 0x0F, 0xC7, 0xC8             ; cmpxchg8b eax: #UD

        ; ---- LOCK ----------------------------------------------------------------------------
        mov     dword [SCRATCH], 5
        mov     eax, 3
        lock add [SCRATCH], eax
        lock xadd [SCRATCH], eax
        lock xchg [SCRATCH], eax
        lock inc dword [SCRATCH]
        lock bts dword [SCRATCH], 31
        lock not dword [SCRATCH]
        lock cmpxchg [SCRATCH], ecx
        mov     eax, [SCRATCH]
        FAULT   db 0xF0, 0x90                   ; lock nop: #UD
        FAULT   db 0xF0, 0x01, 0xD8             ; lock add eax, ebx: #UD
        FAULT   db 0xF0, 0x89, 0x05, 0x00, 0x06, 0x00, 0x00     ; lock mov [0x600], eax: #UD
        FAULT   db 0xF0, 0xF7, 0xD0             ; lock not eax: #UD
        FAULT   db 0xF0, 0x0F, 0xA2             ; lock cpuid: #UD
        FAULT   db 0xF0, 0x3B, 0x05, 0x00, 0x06, 0x00, 0x00     ; lock cmp eax, [0x600]: #UD
        FAULT   ud2
        FAULT   db 0x0F, 0xFF                   ; UD0: #UD
        invd
        wbinvd
        jmp     exit

; ---- ring 3 part: reached by the first SYSEXIT ------------------------------------------------
sysenter_target:                                ; CPL 0, CS = 0x08, SS = 0x10, ESP = 0x7000
        mov     eax, cs
        mov     ebx, ss
        mov     ebp, esp
        pushfd
        pop     eax
        cmp     dword [ss:0x520], 0
        jne     .second
        mov     dword [ss:0x520], 1
        mov     edx, ring3_code
        mov     ecx, STACK3_TOP
        sysexit                                 ; to CS = 0x1B, SS = 0x23
.second:
        mov     edx, ring3_back
        mov     ecx, STACK3_TOP - 0x40
        sysexit

ring3_code:
        mov     eax, cs
        mov     ebx, ss
        mov     ecx, esp
        mov     ax, SEL_DATA3
        mov     ds, ax
        mov     es, ax
        rdtsc                                   ; TSD clear: works (value not compared)
        xor     eax, eax
        xor     edx, edx
        mov     ecx, 0x174
        FAULT   rdmsr                           ; CPL 3: #GP(0)
        FAULT   wrmsr                           ; #GP(0)
        FAULT   sysexit                         ; CPL 3: #GP(0)
        FAULT   mov eax, dr7                    ; #GP(0)
        sysenter                                ; again, from ring 3
ring3_back:
        mov     eax, esp
        mov     dword [ss:CONT3], after_ring3_tsd
        int     0x43
after_ring3_tsd:
        ; ring 0: set CR4.TSD and go back to ring 3 by IRET
        mov     eax, cr4
        or      eax, 4
        mov     cr4, eax
        push    dword SEL_DATA3
        push    dword STACK3_TOP
        pushfd
        push    dword SEL_CODE3
        push    dword ring3_tsd
        iretd
ring3_tsd:
        FAULT   rdtsc                           ; TSD at CPL 3: #GP(0)
        mov     ecx, 0x174
        mov     dword [ss:CONT3], after_ring3
        int     0x43

to_ring0:
        add     esp, 20
        mov     ax, SEL_DATA0
        mov     ds, ax
        mov     es, ax
        jmp     [ss:CONT3]

bad_sel:        dw      SEL_DATA0

        align   8
gdt:
        GDT_COMMON
        DESC    0, 0xFFFFF, 0x9C, 0xC           ; 0x40 code conforming execute-only
        DESC    0, 0xFFFFF, 0x9E, 0xC           ; 0x48 code conforming readable
        GATE    sysenter_target, SEL_CODE0, 0xEC, 3     ; 0x50 call gate DPL 3
        DESC    LDT_RAM, 0x0F, 0x82, 0x0        ; 0x58 LDT
        GATE    sysenter_target, SEL_CODE0, 0x8E, 0     ; 0x60 interrupt gate (not valid in the GDT)
        DESC    0, 0xFFFFF, 0x12, 0xC           ; 0x68 data, not present
        DESC    0x10000, 0x0FFF, 0x96, 0x0      ; 0x70 data expand-down, byte granular
        DESC    TSS_AREA, 0x67, 0x89, 0x0       ; 0x78 TSS, available
        DESC    0, 0xFFFFF, 0xD2, 0xC           ; 0x80 data DPL 2
gdt_end:

        IDT_DEFAULT
        EXC_STUBS

        ROM_TAIL
