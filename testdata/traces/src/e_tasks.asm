; e_tasks - hardware task switches.
;
; Covers: JMP to a TSS (busy bits moved, no link), CALL to a TSS (back-link written, NT set,
; caller stays busy) and IRET with NT = 1 back to the caller (callee's busy bit and saved NT
; cleared), CALL and JMP through a task gate in the GDT, INT n through a task gate in the IDT,
; an exception (#GP with its error code) delivered through a task gate, a 16-bit TSS (CALL and
; a 16-bit IRET back), the per-task LDT, CR0.TS set by every switch, the register state saved
; into the old TSS (read back into registers), and the faults: JMP/CALL to a busy TSS
; (#GP(sel)) and IRET with NT = 1 whose back-link is not busy (#TS(sel)).
;
; Before switching to the 16-bit task the upper halves of the general registers are cleared:
; what a 16-bit TSS load does to them is not defined by the SDM (QEMU keeps them).

%include "common.inc"

%define TSS_B   (TSS_AREA + 0x000)
%define TSS_C   (TSS_AREA + 0x080)
%define TSS_D   (TSS_AREA + 0x100)
%define TSS_E   (TSS_AREA + 0x180)
%define TSS_F   (TSS_AREA + 0x200)      ; 16-bit
%define TSS_G   (TSS_AREA + 0x280)
%define TSS_X   (TSS_AREA + 0x300)      ; never runs

%define SEL_B   0x40
%define SEL_C   0x48
%define SEL_D   0x50
%define SEL_E   0x58
%define SEL_F   0x60
%define SEL_GATE_D 0x68
%define SEL_X   0x70
%define SEL_LDT_B 0x78
%define SEL_G   0x80

; TSS32 eip-label, esp, eax, ldt: a 32-bit TSS in ring 0 with flat segments
%macro TSS32 4
        dd      0                               ; back-link
        dd      STACK0_TOP, SEL_DATA0           ; ESP0, SS0
        dd      0, 0, 0, 0                      ; ESP1, SS1, ESP2, SS2
        dd      0                               ; CR3
        dd      %1                              ; EIP
        dd      0x00000002                      ; EFLAGS
        dd      %3, 0x0C0C0C0C, 0x0D0D0D0D, 0x0B0B0B0B  ; EAX ECX EDX EBX
        dd      %2                              ; ESP
        dd      0xBBBBBBBB, 0x51515151, 0xD1D1D1D1      ; EBP ESI EDI
        dd      SEL_DATA0, SEL_CODE0, SEL_DATA0, SEL_DATA0, SEL_DATA0, SEL_DATA0 ; ES CS SS DS FS GS
        dd      %4                              ; LDT
        dw      0, 0x68                         ; T, I/O map base (none)
%endmacro

        bits    16
start16:
        ENTER_PM gdt, gdt_end

        bits    32
pm32_entry:
        mov     esi, tss_templates
        mov     edi, TSS_AREA
        mov     ecx, (tss_templates_end - tss_templates) / 4
        rep movsd
        mov     esi, ldt_b
        mov     edi, LDT_RAM
        mov     ecx, 2
        rep movsd
        mov     dword [0x30010], 0x1DB1DB
        mov     ax, SEL_TSS0
        ltr     ax
        ; IDT vector 0x50: a task gate to task E
        mov     dword [IDT_RAM + 0x50 * 8], SEL_E << 16
        mov     dword [IDT_RAM + 0x50 * 8 + 4], 0x8500
        mov     eax, 0xA0A0A0A0
        mov     ebx, 0xA3A3A3A3
        mov     ecx, 0xA1A1A1A1
        mov     edx, 0xA2A2A2A2
        mov     esi, 0xA6A6A6A6
        mov     edi, 0xA7A7A7A7
        mov     ebp, 0xA5A5A5A5

        ; ---- JMP to a TSS --------------------------------------------------------------------
        jmp     SEL_B:0
        ; (task B jumps back here)
        mov     eax, [GDT_RAM + SEL_B + 4]      ; B no longer busy
        mov     ebx, [TSS_B + 32]               ; B's saved EIP
        mov     ecx, [TSS_B + 0x54]             ; B's saved DS
        mov     edx, cr0                        ; TS set
        clts

        ; ---- CALL to a TSS, IRET back --------------------------------------------------------
        call    SEL_C:0
        mov     eax, [GDT_RAM + SEL_C + 4]      ; C no longer busy
        mov     ebx, [TSS_C + 0]                ; C's back-link: our TSS
        mov     ecx, [TSS_C + 36]               ; C's saved EFLAGS: NT cleared
        pushfd
        pop     edx                             ; our NT: clear
        clts

        ; ---- task gate in the GDT: CALL, then JMP --------------------------------------------
        call    SEL_GATE_D:0
        mov     eax, [TSS_D + 0]
        jmp     SEL_GATE_D:0                    ; D continues after its IRET and jumps back
        mov     ebx, [GDT_RAM + SEL_D + 4]

        ; ---- task gate in the IDT ------------------------------------------------------------
        int     0x50
        mov     eax, [TSS_E + 0]
        mov     ebx, [GDT_RAM + SEL_E + 4]

        ; ---- an exception through a task gate ------------------------------------------------
        mov     dword [IDT_RAM + 13 * 8], SEL_G << 16
        mov     dword [IDT_RAM + 13 * 8 + 4], 0x8500
        mov     ax, 0x400
        mov     ds, ax                          ; #GP(0x400) -> task G, which skips it
        mov     esi, eax
        SETGATE 13, exc_stub_13, SEL_CODE0, 0x8E
        mov     ecx, [GDT_RAM + SEL_G + 4]

        ; ---- a 16-bit TSS --------------------------------------------------------------------
        xor     eax, eax
        xor     ebx, ebx
        xor     ecx, ecx
        xor     edx, edx
        xor     esi, esi
        xor     edi, edi
        xor     ebp, ebp
        call    SEL_F:0
        movzx   eax, word [TSS_F + 14]          ; F's saved IP
        movzx   ebx, word [TSS_F + 16]          ; F's saved FLAGS (NT cleared)
        movzx   ecx, word [TSS_F + 0]           ; F's back-link
        mov     edx, [GDT_RAM + SEL_F + 4]      ; 16-bit TSS, available again
        clts

        ; ---- faults --------------------------------------------------------------------------
        SETRESUME .f1
        jmp     SEL_TSS0:0                      ; ourselves (busy): #GP(0x28)
.f1:
        SETRESUME .f2
        call    SEL_TSS0:0                      ; #GP(0x28)
.f2:
        ; IRET with NT set and a back-link to a TSS that is not busy: #TS(back-link)
        mov     word [TSS0 + 0], SEL_X
        pushfd
        or      dword [esp], 0x4000
        popfd
        SETRESUME .f3
        iretd
.f3:
        pushfd
        pop     eax
        and     eax, ~0x4000
        push    eax
        popfd
        mov     eax, [GDT_RAM + SEL_TSS0 + 4]   ; still busy
        str     ebx
        jmp     exit

; ---- the other tasks -------------------------------------------------------------------------
task_b:
        mov     eax, [GDT_RAM + SEL_TSS0 + 4]   ; the old task: available
        mov     ebx, [GDT_RAM + SEL_B + 4]      ; busy
        str     ecx
        sldt    edx
        mov     esi, [TSS0 + 32]                ; the caller's saved EIP
        mov     edi, [TSS0 + 40]                ; EAX
        mov     ebp, [TSS0 + 36]                ; EFLAGS
        mov     eax, [TSS0 + 44]                ; ECX
        mov     eax, [TSS0 + 56]                ; ESP
        mov     eax, [TSS0 + 0x4C]              ; CS
        mov     eax, [TSS_B + 0]                ; no back-link
        pushfd
        pop     eax                             ; NT clear
        mov     ax, 0x04                        ; the task's LDT
        mov     ds, ax
        mov     eax, [0x10]
        mov     ax, SEL_DATA0
        mov     ds, ax
        jmp     SEL_TSS0:0

task_c:
        pushfd
        pop     eax                             ; NT set
        mov     ebx, [TSS_C + 0]                ; back-link
        mov     ecx, [GDT_RAM + SEL_TSS0 + 4]   ; the caller stays busy
        mov     edx, cr0
        SETRESUME .c1
        jmp     SEL_TSS0:0                      ; busy: #GP(0x28), handled in this task
.c1:
        SETRESUME .c2
        call    SEL_C:0                         ; ourselves: #GP(0x48)
.c2:
        iretd                                   ; NT: back to the caller

task_d:
        pushfd
        pop     eax
        mov     ebx, [TSS_D + 0]
        iretd
        ; entered again by JMP through the gate: no link, NT clear
        pushfd
        pop     eax
        mov     ebx, [GDT_RAM + SEL_TSS0 + 4]
        jmp     SEL_TSS0:0

task_e:
        pushfd
        pop     eax
        mov     ebx, [TSS_E + 0]
        mov     ecx, esp                        ; INT n pushes nothing on a task switch
        iretd

task_g:                                         ; #GP handler task
        pop     ebp                             ; the error code
        mov     eax, [TSS0 + 32]                ; the faulting EIP
        add     dword [TSS0 + 32], 2            ; skip `mov ds, ax`
        mov     ebx, [TSS_G + 0]
        iretd

        bits    16
task_f:                                         ; 16-bit task
        pushf
        pop     ax
        mov     bx, [TSS_F + 0]
        mov     cx, [TSS_F + 2]
        mov     dx, sp
        mov     si, cs
        mov     di, ss
        iret                                    ; 16-bit IRET with NT: back to the caller
        bits    32

        align   8
gdt:
        GDT_COMMON
        DESC    TSS_B, 0x67, 0x89, 0x0          ; 0x40
        DESC    TSS_C, 0x67, 0x89, 0x0          ; 0x48
        DESC    TSS_D, 0x67, 0x89, 0x0          ; 0x50
        DESC    TSS_E, 0x67, 0x89, 0x0          ; 0x58
        DESC    TSS_F, 0x2B, 0x81, 0x0          ; 0x60 16-bit TSS
        dw      0, SEL_D                        ; 0x68 task gate -> D
        db      0, 0x85
        dw      0
        DESC    TSS_X, 0x67, 0x89, 0x0          ; 0x70 never runs
        DESC    LDT_RAM, 0x07, 0x82, 0x0        ; 0x78 LDT of task B
        DESC    TSS_G, 0x67, 0x89, 0x0          ; 0x80
gdt_end:

ldt_b:
        DESC    0x30000, 0xFFF, 0x92, 0x4       ; 0x04

        align   4
tss_templates:
        TSS32   task_b, 0x7000, 0xB0B0B0B0, SEL_LDT_B
        times   0x80 - 0x68 db 0
        TSS32   task_c, 0x6C00, 0xC0C0C0C0, 0
        times   0x80 - 0x68 db 0
        TSS32   task_d, 0x6800, 0xD0D0D0D0, 0
        times   0x80 - 0x68 db 0
        TSS32   task_e, 0x6400, 0xE0E0E0E0, 0
        times   0x80 - 0x68 db 0
        ; 16-bit TSS F
        dw      0                               ; back-link
        dw      0x6000, SEL_DATA16              ; SP0, SS0
        dw      0, 0, 0, 0                      ; SP1, SS1, SP2, SS2
        dw      R(task_f)                       ; IP
        dw      0x0002                          ; FLAGS
        dw      0xF1, 0xF2, 0xF3, 0xF4          ; AX CX DX BX
        dw      0x5F00                          ; SP
        dw      0xF6, 0xF7, 0xF8                ; BP SI DI
        dw      SEL_DATA16, SEL_CODE16, SEL_DATA16, SEL_DATA16  ; ES CS SS DS
        dw      0                               ; LDT
        times   0x80 - 0x2C db 0
        TSS32   task_g, 0x5C00, 0x90909090, 0
        times   0x80 - 0x68 db 0
        TSS32   task_b, 0x5800, 0xEEEEEEEE, 0   ; X
        times   0x80 - 0x68 db 0
tss_templates_end:

        IDT_DEFAULT
        EXC_STUBS

        ROM_TAIL
