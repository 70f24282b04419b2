; d_priv - privilege levels: ring 0 -> 3 by IRET and by RETF, ring 3 -> 0 through a call gate
; (with parameters copied to the new stack) and through interrupt and trap gates, the stack
; switch from the TSS (SS0:ESP0, SS1:ESP1), ring 1 code and stack, conforming code (CPL kept),
; data segment registers nulled on a return to an outer ring, IOPL-sensitive and privileged
; instructions at CPL 3 (#GP(0)), POPF at CPL 3 (IF and IOPL kept), gate DPL checks
; (#GP(vector*8+2), #GP(gate selector)), JMP through a call gate to an inner ring (#GP).
;
; Interrupts stay disabled throughout (IF = 0), so the one difference between an interrupt
; gate and a trap gate (IF cleared or kept) is not observable here.

%include "common.inc"

%define CONT    0x0510                  ; dword: where INT 0x43 continues in ring 0

        bits    16
start16:
        ENTER_PM gdt, gdt_end

        bits    32
pm32_entry:
        mov     dword [TSS0 + 4], STACK0_TOP    ; ESP0
        mov     dword [TSS0 + 8], SEL_DATA0     ; SS0
        mov     dword [TSS0 + 12], STACK1_TOP   ; ESP1
        mov     dword [TSS0 + 16], 0x59         ; SS1: ring-1 data
        mov     word [TSS0 + 0x66], 0x1000      ; no I/O bitmap
        mov     ax, SEL_TSS0
        ltr     ax
        SETGATE 0x40, int_gate_handler, SEL_CODE0, 0xEE    ; interrupt gate, DPL 3
        SETGATE 0x41, int_gate_handler, SEL_CODE0, 0xEF    ; trap gate, DPL 3
        SETGATE 0x42, int_gate_handler, SEL_CODE0, 0x8E    ; interrupt gate, DPL 0
        SETGATE 0x43, to_ring0, SEL_CODE0, 0xEE            ; back to ring 0 (CONT)
        SETGATE 0x44, int_gate_handler, 0x50, 0xEE         ; a handler in ring 1

        ; ---- same-privilege interrupt: no stack switch ---------------------------------------
        int     0x40

        ; ---- ring 0 -> ring 3 by IRET --------------------------------------------------------
        mov     ax, SEL_DATA3
        mov     fs, ax                          ; DPL 3: kept by the IRET
        push    dword SEL_DATA3
        push    dword STACK3_TOP
        pushfd
        push    dword SEL_CODE3
        push    dword ring3
        iretd                                   ; DS, ES, GS (DPL 0) become null
ring3:
        mov     eax, ds
        mov     ebx, fs
        mov     ax, SEL_DATA3
        mov     ds, ax
        mov     es, ax
        ; privileged and IOPL-sensitive instructions at CPL 3, IOPL 0
%macro R3FAULT 1+
        SETRESUME %%after
        %1
%%after:
%endmacro
        R3FAULT cli                             ; #GP(0)
        R3FAULT sti                             ; #GP(0)
        R3FAULT hlt                             ; #GP(0)
        R3FAULT mov eax, cr0                    ; #GP(0)
        R3FAULT mov cr3, eax                    ; #GP(0)
        R3FAULT lgdt [SCRATCH]                  ; #GP(0)
        R3FAULT lidt [SCRATCH]                  ; #GP(0)
        R3FAULT ltr ax                          ; #GP(0)
        R3FAULT lldt ax                         ; #GP(0)
        R3FAULT lmsw ax                         ; #GP(0)
        R3FAULT clts                            ; #GP(0)
        R3FAULT invlpg [0]                      ; #GP(0)
        R3FAULT mov dr7, eax                    ; #GP(0)
        R3FAULT in al, 0x80                     ; IOPL 0, no I/O bitmap: #GP(0)
        R3FAULT out 0x80, al                    ; #GP(0)
        R3FAULT insb                            ; #GP(0)
        mov     ax, SEL_DATA0
        R3FAULT mov ds, ax                      ; DPL 0 data at CPL 3: #GP(0x10)
        R3FAULT mov ss, ax                      ; #GP(0x10)
        mov     ax, SEL_DATA3
        ; non-privileged system instructions work
        smsw    ax
        sgdt    [SCRATCH]
        str     ax
        ; POPF at CPL 3 with IOPL 0: IF and IOPL are kept, other flags change
        pushfd
        pop     eax
        or      eax, 0x3000 | 0x200 | 0x800 | 0x1      ; IOPL 3, IF, OF, CF
        push    eax
        popfd
        pushfd
        pop     ebx
        ; a call gate to ring 0 with two dword parameters
        push    dword 0x1111
        push    dword 0x2222
        call    0x4B:0xDEAD                     ; the offset is ignored
        mov     ecx, esp
        mov     eax, es                         ; ES was DPL 0 on return: null
        mov     ax, SEL_DATA3
        mov     es, ax
        ; a call gate to ring 1
        call    0x63:0
        mov     eax, esp
        ; a gate whose DPL is below CPL
        R3FAULT call 0x73:0                     ; #GP(0x70)
        ; JMP through a call gate to an inner ring
        R3FAULT jmp 0x4B:0                      ; #GP(0x08)
        ; a call gate whose code segment is not present
        R3FAULT call 0x7B:0                     ; #NP(0x80)
        ; interrupt and trap gates with a stack switch
        int     0x40
        int     0x41
        R3FAULT int 0x42                        ; gate DPL 0: #GP(0x42*8+2)
        int     0x44                            ; into ring 1
        R3FAULT int3                            ; IDT gate DPL 0: #GP(3*8+2)
        ; conforming code: CPL stays 3, CS.RPL = 3
        call    0x43:conforming
        jmp     0x43:.conf_jmp
.conf_jmp:
        mov     eax, cs
        jmp     SEL_CODE3:.conf_back
.conf_back:
        ; back to ring 0
        mov     dword [ss:CONT], ring0_again
        int     0x43
ring0_again:
        ; ---- ring 0 -> ring 3 by RETF (to an outer ring: SS:ESP popped) ----------------------
        push    dword SEL_DATA3
        push    dword STACK3_TOP - 0x100
        push    dword SEL_CODE3
        push    dword ring3_retf
        retf
ring3_retf:
        mov     eax, ss
        mov     ebx, esp
        mov     dword [ss:CONT], ring0_3
        int     0x43
ring0_3:
        ; ---- ring 0 -> ring 1 by IRET, then an interrupt from ring 1 -------------------------
        push    dword 0x59
        push    dword STACK1_TOP - 0x80
        pushfd
        push    dword 0x51
        push    dword ring1
        iretd
ring1:
        mov     eax, cs
        mov     ebx, ss
        int     0x40                            ; ring 1 -> ring 0: SS0:ESP0
        mov     ax, 0x59
        mov     ds, ax
        R3FAULT mov eax, cr0                    ; CPL 1: #GP(0)
        mov     dword [ss:CONT], ring0_4
        int     0x43
ring0_4:
        ; ---- IOPL 3: CLI and IN work at CPL 3 ------------------------------------------------
        push    dword SEL_DATA3
        push    dword STACK3_TOP
        pushfd
        or      dword [esp], 0x3000             ; IOPL 3 in the new EFLAGS
        push    dword SEL_CODE3
        push    dword ring3_iopl
        iretd
ring3_iopl:
        cli
        in      al, 0x80
        pushfd
        pop     eax
        and     eax, ~0x3000
        push    eax
        popfd                                   ; CPL 3 cannot change IOPL: kept at 3
        pushfd
        pop     ebx
        mov     dword [ss:CONT], ring0_5
        int     0x43
ring0_5:
        pushfd
        and     dword [esp], ~0x3000
        popfd                                   ; CPL 0: IOPL back to 0
        xor     eax, eax
        jmp     exit

; ---- handlers --------------------------------------------------------------------------------
int_gate_handler:                       ; any ring, frame: EIP CS EFLAGS [ESP SS]
        mov     ebp, [esp]
        mov     ebp, [esp + 4]
        mov     ebp, [esp + 8]
        mov     ebp, cs
        mov     ebp, ss
        test    byte [esp + 4], 3               ; from an outer ring?
        jz      .same
        mov     ebp, [esp + 12]
        mov     ebp, [esp + 16]
.same:
        iretd

call_gate_handler:                      ; ring 0, frame: EIP CS p2 p1 ESP SS
        mov     ebp, [esp]
        mov     ebp, [esp + 4]
        mov     ebp, [esp + 8]
        mov     ebp, [esp + 12]
        mov     ebp, [esp + 16]
        mov     ebp, [esp + 20]
        mov     ebp, cs
        mov     ebp, ss
        mov     ebp, ds                         ; DS (DPL 3) is usable here and kept
        mov     ax, SEL_DATA0
        mov     es, ax                          ; DPL 0: nulled by the return to ring 3
        retf    8

ring1_gate_handler:                     ; ring 1, frame: EIP CS ESP SS
        mov     ebp, cs
        mov     ebp, ss
        mov     ebp, esp
        mov     ebp, [esp + 8]
        retf

conforming:                             ; conforming code, DPL 0, entered at CPL 3
        mov     eax, cs
        mov     ebx, ss
        retf

to_ring0:                               ; INT 0x43: drop the frame, continue at [CONT]
        add     esp, 20
        mov     ax, SEL_DATA0
        mov     ds, ax
        mov     es, ax
        mov     fs, ax
        mov     gs, ax
        jmp     [ss:CONT]

        align   8
gdt:
        GDT_COMMON
        DESC    0, 0xFFFFF, 0x9F, 0xC           ; 0x40 code32 conforming, DPL 0
        GATE    call_gate_handler, SEL_CODE0, 0xEC, 2   ; 0x48 call gate DPL 3 -> ring 0, 2 params
        DESC    0, 0xFFFFF, 0xBB, 0xC           ; 0x50 code32 DPL 1
        DESC    0, 0xFFFFF, 0xB3, 0xC           ; 0x58 data32 DPL 1
        GATE    ring1_gate_handler, 0x50, 0xEC, 0       ; 0x60 call gate DPL 3 -> ring 1
        dq      0                               ; 0x68
        GATE    call_gate_handler, SEL_CODE0, 0x8C, 0   ; 0x70 call gate DPL 0
        GATE    call_gate_handler, 0x80, 0xEC, 0        ; 0x78 call gate to a not-present code segment
        DESC    0, 0xFFFFF, 0x1A, 0xC           ; 0x80 code32, not present
gdt_end:

        IDT_DEFAULT
        EXC_STUBS

        ROM_TAIL
