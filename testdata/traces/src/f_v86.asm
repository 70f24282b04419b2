; f_v86 - virtual-8086 mode.
;
; Covers: entering V86 by a 32-bit IRET with VM = 1 (all six segments from the frame, bases
; = selector * 16), real-mode style segment loads and 32-bit operands/addresses inside V86,
; the IOPL-sensitive instructions at IOPL 0 (CLI, STI, PUSHF, POPF, INT n, IRET: #GP(0) to the
; ring-0 monitor, whose frame holds ES/DS/FS/GS and which finds DS-GS null), privileged
; instructions (HLT, MOV CR, LGDT: #GP(0)), INT3 through a DPL-0 gate (#GP(3*8+2)), the I/O
; permission bitmap (checked in V86 whatever the IOPL: byte and word accesses, IN/OUT/OUTS),
; a #DE from V86, then IOPL 3 set by the monitor: CLI, PUSHF/POPF(D) (IOPL kept), INT n
; through a DPL-3 interrupt gate to ring 0 and back by IRETD, IRET inside V86; finally the
; monitor leaves V86 for good. STI is never executed at IOPL 3 (IF stays 0).

%include "common.inc"

%define V86STATE 0x0514

        bits    16
start16:
        ENTER_PM gdt, gdt_end

        bits    32
pm32_entry:
        mov     dword [TSS0 + 4], STACK0_TOP    ; ESP0
        mov     dword [TSS0 + 8], SEL_DATA0     ; SS0
        mov     word [TSS0 + 0x66], 0x68        ; I/O bitmap right after the TSS
        mov     edi, TSS0 + 0x68
        mov     eax, 0xFFFFFFFF
        mov     ecx, 9                          ; 32 bytes of bitmap + the 0xFF terminator
        rep stosd
        mov     byte [TSS0 + 0x68 + 0x80 / 8], 0xFE     ; port 0x80 allowed
        mov     ax, SEL_TSS0
        ltr     ax
        SETGATE 6, monitor_ud, SEL_CODE0, 0x8E          ; UD2 = call the monitor
        SETGATE 0x41, v86_int, SEL_CODE0, 0xEE          ; INT 0x41 from V86 (IOPL 3)
        mov     dword [V86STATE], 0
        mov     dword [0x20010], 0x2010F00D
        mov     dword [0x30020], 0x3020F00D
        ; ---- into V86 ------------------------------------------------------------------------
        push    dword 0x4000                    ; GS
        push    dword 0x3000                    ; FS
        push    dword 0x2000                    ; DS
        push    dword 0x0000                    ; ES
        push    dword 0x0000                    ; SS
        push    dword 0x7800                    ; ESP
        push    dword 0x00020002                ; EFLAGS: VM, IOPL 0
        push    dword 0xF000                    ; CS
        push    dword R(v86_code)               ; EIP
        iretd

v86_done:                                       ; ring 0 again, from the monitor
        mov     ax, SEL_DATA0
        mov     ds, ax
        mov     es, ax
        mov     fs, ax
        mov     gs, ax
        mov     eax, [V86STATE]
        jmp     exit

; ---- the monitor -----------------------------------------------------------------------------
monitor_ud:                             ; frame: EIP CS EFLAGS ESP SS ES DS FS GS
        mov     ebp, [esp + 8]                  ; EFLAGS (VM set)
        mov     ebp, [esp + 20]                 ; ES
        mov     ebp, [esp + 24]                 ; DS
        mov     ebp, ds                         ; null
        inc     dword [ss:V86STATE]
        cmp     dword [ss:V86STATE], 2
        je      .leave
        or      dword [esp + 8], 0x3000         ; IOPL 3
        add     dword [esp], 2                  ; skip the UD2
        iretd
.leave:
        add     esp, 36
        jmp     v86_done

v86_int:                                ; INT 0x41 from V86 at IOPL 3
        mov     ebp, [esp]                      ; IP after the INT
        mov     ebp, [esp + 4]                  ; CS
        mov     ebp, [esp + 8]                  ; EFLAGS
        mov     ebp, [esp + 12]                 ; ESP
        mov     ebp, [esp + 16]                 ; SS
        mov     ebp, [esp + 32]                 ; GS
        mov     ebp, fs                         ; null
        iretd

; ---- V86 code (CS = F000) --------------------------------------------------------------------
        bits    16
%macro V86FAULT 1+
        mov     dword [ss:RESUME], R(%%after)
        %1
%%after:
%endmacro
v86_code:
        mov     ax, [0x10]                      ; DS = 0x2000
        mov     eax, [0x10]
        mov     bx, ds
        mov     cx, ss
        mov     dx, fs
        mov     eax, [fs:0x20]                  ; FS = 0x3000
        mov     ax, 0x1234
        mov     es, ax
        mov     ax, es
        xor     ax, ax
        mov     es, ax
        mov     ebx, 0x10
        mov     eax, [ebx + 0]                  ; 32-bit addressing in V86
        push    eax
        pop     ecx
        push    cs
        pop     ax
        call    0xF000:R(v86_far)               ; far CALL/RETF in V86
        ; IOPL-sensitive at IOPL 0: #GP(0)
        V86FAULT cli
        V86FAULT sti
        V86FAULT pushf
        V86FAULT popf
        V86FAULT pushfd
        V86FAULT int 0x21
        V86FAULT iret
        ; privileged
        V86FAULT hlt
        V86FAULT mov eax, cr0
        V86FAULT lgdt [0]
        V86FAULT int3                           ; gate DPL 0: #GP(0x1A)
        ; I/O bitmap: port 0x80 allowed, 0x81 not
        in      al, 0x80
        out     0x80, al
        mov     dx, 0x80
        in      al, dx
        V86FAULT out 0x81, al                   ; #GP(0)
        V86FAULT in ax, 0x80                    ; word access covers 0x81: #GP(0)
        V86FAULT in eax, 0x7E                   ; 0x7E-0x81: #GP(0)
        mov     si, 0x10
        outsb                                   ; DS:SI -> port 0x80
        ; a #DE in V86 goes to the monitor too
        xor     cx, cx
        V86FAULT div cx
        ; call the monitor: IOPL 3 from now on
        ud2
        ; IOPL 3
        cli
        pushf
        pop     ax
        pushfd
        pop     eax
        and     ax, ~0x3000                     ; try to clear IOPL
        push    eax
        popfd                                   ; CPL 3: IOPL kept
        pushf
        pop     bx
        int     0x41                            ; through the IDT (DPL-3 gate) to ring 0
        pushf
        push    cs
        push    word R(.after_iret)
        iret                                    ; IRET inside V86 at IOPL 3
.after_iret:
        V86FAULT out 0x81, al                   ; the I/O bitmap still applies: #GP(0)
        in      al, 0x80
        ud2                                     ; leave V86
v86_far:
        mov     ax, 0xFA4
        retf

        bits    32
        align   8
gdt:
        GDT_COMMON
gdt_end:

        IDT_DEFAULT
        EXC_STUBS

        ROM_TAIL
