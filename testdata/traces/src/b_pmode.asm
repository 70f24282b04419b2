; b_pmode - entering protected mode; descriptor loads with their checks and error codes.
;
; Covers: LGDT/LIDT, CR0.PE, the far jump into 32-bit code, data-segment loads (base from the
; descriptor, accessed bit written back to the GDT, readable code in DS, expand-down data),
; LDT loads (LLDT, TI=1 selectors), mixing 16- and 32-bit code segments with far CALL/RETF,
; LSL/LAR on the loaded descriptors, and faults with their error codes, each caught by an IDT
; handler that records the frame and resumes:
;   #GP(sel) execute-only code, system descriptor, RPL/DPL violations, selector past the GDT
;          limit, TI=1 with a null LDTR, SS not writable / DPL != CPL / RPL != CPL
;   #GP(0)   SS = null, far jump to a data segment ... (sel), LLDT of a non-LDT descriptor
;   #NP(sel) not-present data segment in DS, in an LDT, and a not-present code segment (JMP)
;   #SS(sel) not-present segment loaded into SS
;   #TS(sel) task switch to a TSS whose limit is too small
;   #GP(vector*8+2) INT n past the IDT limit
; and finally the way back to real mode through a 16-bit code segment, keeping a 4 GiB FS
; limit in the descriptor cache ("unreal mode").
;
; Not exercised (QEMU does not check them; see README.md): data accesses beyond a segment
; limit or through a null selector, writes to read-only data or code segments.

%include "common.inc"

        bits    16
start16:
        ENTER_PM gdt, gdt_end

        bits    32
pm32_entry:
        ltr     word [cs:tr_sel]        ; (memory operand form)
        mov     esi, ldt
        mov     edi, LDT_RAM
        mov     ecx, (ldt_end - ldt) / 4
        rep movsd
        ; ---- data segment loads ---------------------------------------------------------------
        mov     dword [DATA + 0x10], 0xA5A5A5A5
        mov     ebx, [GDT_RAM + 0x40 + 4]       ; access byte 0x92: not accessed yet
        mov     ax, 0x40                        ; 16-bit data, base DATA
        mov     ds, ax
        mov     eax, [0x10]                     ; = [DATA + 0x10]
        mov     ebx, [es:GDT_RAM + 0x40 + 4]    ; accessed bit now set (0x93)
        mov     ax, 0x58                        ; readable code segment in DS
        mov     ds, ax
        mov     eax, [start16]                  ; reads ROM bytes
        mov     ax, 0x48                        ; expand-down data segment in ES
        mov     es, ax
        mov     eax, [es:DATA + 0x10]           ; above the limit: valid for expand-down
        lsl     ecx, ax                         ; limit 0xFFFF
        lar     edx, ax
        mov     ax, 0x70                        ; DPL 3 data at CPL 0 (DS: fine)
        mov     ds, ax
        mov     ax, 0x68                        ; read-only data in DS: fine
        mov     ds, ax
        mov     ax, SEL_DATA0
        mov     ds, ax
        mov     es, ax
        mov     ax, 0                           ; null selectors in DS/ES/FS/GS are fine
        mov     fs, ax
        mov     gs, ax
        mov     ax, 0x3                         ; null with RPL 3: also fine
        mov     gs, ax
        mov     ax, SEL_DATA0
        mov     fs, ax
        mov     gs, ax

        ; ---- faults on segment loads ---------------------------------------------------------
%macro LOADFAULT 2              ; segment register, selector
        SETRESUME %%after
        mov     ax, %2
        mov     %1, ax
%%after:
%endmacro
        LOADFAULT ds, 0x50              ; execute-only code -> #GP(0x50)
        LOADFAULT ds, 0x60              ; not present -> #NP(0x60)
        LOADFAULT ss, 0x60              ; not present in SS -> #SS(0x60)
        LOADFAULT ss, 0x68              ; read-only in SS -> #GP(0x68)
        LOADFAULT ss, 0x70              ; DPL 3 in SS at CPL 0 -> #GP(0x70)
        LOADFAULT ss, 0x13              ; RPL 3 in SS at CPL 0 -> #GP(0x10)
        LOADFAULT ss, 0                 ; null SS -> #GP(0)
        LOADFAULT ss, 0x58              ; code segment in SS -> #GP(0x58)
        LOADFAULT ds, 0x400             ; past the GDT limit -> #GP(0x400)
        LOADFAULT es, 0x28              ; TSS descriptor -> #GP(0x28)
        LOADFAULT fs, 0x13              ; RPL 3 > DPL 0 -> #GP(0x10)
        LOADFAULT gs, 0x04              ; LDT selector, LDTR null -> #GP(0x04)
        LOADFAULT ds, 0x9B              ; code DPL 0 non-conforming, RPL 3 -> #GP(0x98)
        ; a fault leaves the segment register unchanged
        mov     eax, ds
        mov     ebx, ss

        ; ---- the LDT -------------------------------------------------------------------------
        SETRESUME .after_lldt_bad
        mov     ax, SEL_DATA0
        lldt    ax                      ; not an LDT descriptor -> #GP(0x10)
.after_lldt_bad:
        mov     ax, 0x80
        lldt    ax
        sldt    ecx
        mov     dword [0x30000 + 0x20], 0x600DF00D
        mov     ax, 0x04                ; LDT entry 0: data, base 0x30000
        mov     ds, ax
        mov     eax, [0x20]
        mov     ebx, [es:LDT_RAM + 4]   ; accessed bit written to the LDT
        jmp     0x14:.ldt_code          ; a code segment from the LDT
.ldt_code:
        mov     ecx, cs
        jmp     SEL_CODE0:.ldt_back
.ldt_back:
        LOADFAULT ds, 0x0C              ; LDT entry 1 not present -> #NP(0x0C)
        LOADFAULT ds, 0x1C              ; LDT entry 3 is past the LDT limit -> #GP(0x1C)
        mov     ax, SEL_DATA0
        mov     ds, ax
        mov     ax, 0
        lldt    ax                      ; null LDTR is allowed
        LOADFAULT ds, 0x04              ; now #GP(0x04)

        ; ---- far jumps and calls -------------------------------------------------------------
        jmp     0x50:.xonly             ; execute-only code is fine for CS
.xonly:
        mov     eax, cs
        jmp     SEL_CODE0:.back0
.back0:
        SETRESUME .after_jmp_data
        jmp     SEL_DATA0:.after_jmp_data       ; data segment -> #GP(0x10)
.after_jmp_data:
        SETRESUME .after_jmp_np
        jmp     0x98:.after_jmp_np              ; not-present code -> #NP(0x98)
.after_jmp_np:
        SETRESUME .after_jmp_null
        jmp     0:.after_jmp_null               ; null -> #GP(0)
.after_jmp_null:
        ; a 32-bit far call into 16-bit code, which returns with a 32-bit RETF
        mov     ecx, 0x12345678
        call    SEL_CODE16:R(code16_sub)
        mov     ebx, eax
        ; a 16-bit far call from 16-bit code and back
        ; far call through memory (m16:32)
        call    far [cs:far_ptr]

        ; ---- task-state segments -------------------------------------------------------------
        str     eax
        SETRESUME .after_ts
        jmp     0x88:0                  ; TSS limit 0x20 < 0x67 -> #TS(0x88)
.after_ts:
        SETRESUME .after_busy
        jmp     SEL_TSS0:0              ; our own TSS is busy -> #GP(0x28)
.after_busy:
        mov     ebx, [GDT_RAM + SEL_TSS0 + 4]   ; busy type (0x8B)

        ; ---- INT n past the IDT limit --------------------------------------------------------
        lidt    [cs:idtr_small]
        SETRESUME .after_int
        int     0x50                    ; vector 0x50 > limit -> #GP(0x50*8+2)
.after_int:
        lidt    [cs:idtr_value]
        sidt    [SCRATCH]
        mov     eax, [SCRATCH]
        mov     ebx, [SCRATCH + 2]
        sgdt    [SCRATCH]
        mov     eax, [SCRATCH]
        mov     ebx, [SCRATCH + 2]

        ; ---- LAR / LSL / VERR / VERW on this program's descriptors ---------------------------
        xor     edx, edx
%macro PROBE 1
        mov     ax, %1
        lar     ebx, ax
        lsl     ecx, ax
        verr    ax
        verw    ax
%endmacro
        PROBE   0x40
        PROBE   0x48
        PROBE   0x50
        PROBE   0x58
        PROBE   0x60
        PROBE   0x88
        PROBE   0x400
        PROBE   SEL_CODE16

        ; ---- back to real mode, keeping a 4 GiB FS limit -------------------------------------
        mov     ax, SEL_DATA0           ; 4 GiB limit
        mov     fs, ax
        jmp     SEL_CODE16:R(to_real16)

        bits    16
to_real16:
        mov     ax, SEL_DATA16          ; 64 KiB limits for the others
        mov     ds, ax
        mov     es, ax
        mov     ss, ax
        mov     gs, ax
        mov     eax, cr0
        and     al, 0xFE
        mov     cr0, eax
        jmp     0xF000:R(real_again)
real_again:
        xor     ax, ax
        mov     ds, ax
        mov     es, ax
        mov     ss, ax
        mov     sp, 0x7000
        mov     fs, ax                  ; real-mode load: base 0, the 4 GiB limit stays
        mov     ebx, 0x20010
        mov     eax, [fs:ebx]           ; unreal-mode read above 64 KiB
        o32 lidt [cs:R(ivt_value)]
        xor     eax, eax
        jmp     0xF000:R(exit)

code16_sub:                             ; 16-bit code, called with a 32-bit far call
        mov     ax, cs
        mov     dx, ss
        movzx   eax, ax
        push    word 0x1234             ; 16-bit push in 16-bit code on a 32-bit stack
        pop     dx
        o32 retf

        bits    32
far_target:
        mov     eax, 0xFA4
        retf

tr_sel:         dw      SEL_TSS0
far_ptr:        dd      far_target
                dw      SEL_CODE0
idtr_small:     dw      0x50 * 8 - 1
                dd      IDT_RAM
ivt_value:      dw      0x3FF
                dd      0

        align   8
gdt:
        GDT_COMMON
        DESC    DATA, 0xFFFF, 0x92, 0x0         ; 0x40 data16 base DATA, not accessed
        DESC    0, 0xFFFF, 0x96, 0x4            ; 0x48 data32 expand-down, limit FFFF
        DESC    0, 0xFFFFF, 0x99, 0xC           ; 0x50 code32 execute-only
        DESC    0, 0xFFFFF, 0x9B, 0xC           ; 0x58 code32 readable
        DESC    0, 0xFFFFF, 0x12, 0xC           ; 0x60 data, not present
        DESC    0, 0xFFFFF, 0x90, 0xC           ; 0x68 data read-only
        DESC    0, 0xFFFFF, 0xF2, 0xC           ; 0x70 data DPL 3
        dq      0                               ; 0x78
        DESC    LDT_RAM, 0x17, 0x82, 0x0        ; 0x80 LDT (3 entries)
        DESC    TSS_AREA, 0x20, 0x89, 0x0       ; 0x88 TSS with a too-small limit
        dq      0                               ; 0x90
        DESC    0, 0xFFFFF, 0x1A, 0xC           ; 0x98 code, not present
gdt_end:

ldt:
        DESC    0x30000, 0xFFF, 0x92, 0x4       ; 0x04 data, base 0x30000
        DESC    0, 0xFFFFF, 0x12, 0xC           ; 0x0C data, not present
        DESC    0, 0xFFFFF, 0x9B, 0xC           ; 0x14 code32
ldt_end:

        IDT_DEFAULT
        EXC_STUBS

        ROM_TAIL
