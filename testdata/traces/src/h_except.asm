; h_except - exceptions: classes, escalation and delivery failures.
;
; Covers: #DE (DIV, IDIV), #BP and #OF (traps: EIP after the instruction), #BR and #UD
; (faults: EIP of the instruction, RF set in the pushed EFLAGS), #NM from CR0.EM and from
; CR0.MP+TS (WAIT), #GP(0) for an instruction longer than 15 bytes, single-step traps (TF,
; DR6.BS) including the instruction that clears TF, delivery failures with their error codes
; (gate not present: #NP(vector*8+2+EXT); gate of a bad type: #GP(vector*8+2); gate selector
; not a code segment: #GP(sel)), a benign combination (INT3 whose gate is not present: just
; #NP), a double fault from #GP -> #NP (contributory + contributory) through an interrupt gate
; and again through a task gate, and #TS from an interrupt at CPL 3 whose TSS.SS0 is invalid,
; handled by a task (task gate for vector 10). Ends with a normal exit (no shutdown).

%include "common.inc"

%define TSS_DF   (TSS_AREA + 0x000)
%define TSS_TS   (TSS_AREA + 0x080)
%define SEL_TSS_DF 0x40
%define SEL_TSS_TS 0x48
%define CONT     0x0510

; TSS32 eip-label, esp
%macro TSS32 2
        dd      0, STACK0_TOP, SEL_DATA0, 0, 0, 0, 0, 0
        dd      %1, 0x00000002
        dd      0, 0, 0, 0, %2, 0, 0, 0
        dd      SEL_DATA0, SEL_CODE0, SEL_DATA0, SEL_DATA0, SEL_DATA0, SEL_DATA0
        dd      0
        dw      0, 0x68
%endmacro

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
        mov     esi, tss_templates
        mov     edi, TSS_AREA
        mov     ecx, (tss_templates_end - tss_templates) / 4
        rep movsd
        SETGATE 8, df_handler, SEL_CODE0, 0x8E
        SETGATE 0x43, to_ring0, SEL_CODE0, 0xEE

%macro FAULT 1+
        SETRESUME %%after
        %1
%%after:
%endmacro

        ; ---- simple faults and traps ---------------------------------------------------------
        xor     edx, edx
        mov     eax, 1
        xor     ecx, ecx
        FAULT   div ecx                         ; #DE
        mov     eax, 0x80000000
        cdq
        mov     ecx, -1
        FAULT   idiv ecx                        ; #DE
        int3                                    ; #BP: trap
        mov     eax, 0x7FFFFFFF
        inc     eax
        into                                    ; #OF: trap
        mov     dword [SCRATCH], 0
        mov     dword [SCRATCH + 4], 10
        mov     eax, 11
        FAULT   bound eax, [SCRATCH]            ; #BR: fault
        FAULT   ud2                             ; #UD
        ; #NM
        mov     eax, cr0
        or      eax, 4                          ; EM
        mov     cr0, eax
        FAULT   fninit                          ; ESC with EM: #NM
        and     eax, ~4
        or      eax, 2 | 8                      ; MP, TS
        mov     cr0, eax
        FAULT   fwait                           ; WAIT with MP and TS: #NM
        clts
        and     eax, ~2
        mov     cr0, eax
        ; an instruction of 16 bytes: #GP(0)
        FAULT   db 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x90

        ; ---- single step ---------------------------------------------------------------------
        pushfd
        or      dword [esp], 0x100
        popfd                                   ; TF takes effect after the next instruction
        mov     eax, 1                          ; #DB after this
        mov     ebx, 2                          ; and this
        pushfd
        and     dword [esp], ~0x100
        popfd                                   ; and after this one (TF was set when it began)
        mov     ecx, 3
        mov     eax, dr6                        ; BS set

        ; ---- delivery failures ---------------------------------------------------------------
        ; INT3 whose gate is not present: #NP(3*8+2), a benign case
        and     byte [IDT_RAM + 3 * 8 + 5], 0x7F
        FAULT   int3
        or      byte [IDT_RAM + 3 * 8 + 5], 0x80
        ; INT n through a gate of a bad type (a 16-bit TSS type in the IDT): #GP(0x44*8+2)
        mov     dword [IDT_RAM + 0x44 * 8], SEL_CODE0 << 16
        mov     dword [IDT_RAM + 0x44 * 8 + 4], 0x8100
        FAULT   int 0x44
        ; a gate whose selector is a data segment: #GP(0x10)
        SETGATE 0x45, to_ring0, SEL_DATA0, 0x8E
        FAULT   int 0x45
        ; a gate whose selector is null: #GP(0)
        SETGATE 0x46, to_ring0, 0, 0x8E
        FAULT   int 0x46

        ; ---- double fault through an interrupt gate ------------------------------------------
        and     byte [IDT_RAM + 13 * 8 + 5], 0x7F        ; #GP gate not present
        mov     ax, 0x400
        FAULT   mov ds, ax                      ; #GP(0x400) -> #NP(0x6B) -> #DF(0)
        or      byte [IDT_RAM + 13 * 8 + 5], 0x80
        mov     eax, ds

        ; ---- double fault through a task gate ------------------------------------------------
        mov     dword [IDT_RAM + 8 * 8], SEL_TSS_DF << 16
        mov     dword [IDT_RAM + 8 * 8 + 4], 0x8500
        and     byte [IDT_RAM + 13 * 8 + 5], 0x7F
        mov     ax, 0x400
        mov     ds, ax                          ; -> #DF task, which resumes us at .df2
.df2:
        or      byte [IDT_RAM + 13 * 8 + 5], 0x80
        str     eax
        mov     ebx, [GDT_RAM + SEL_TSS_DF + 4]

        ; ---- #TS: an interrupt from CPL 3 with a bad SS0 -------------------------------------
        mov     dword [IDT_RAM + 10 * 8], SEL_TSS_TS << 16
        mov     dword [IDT_RAM + 10 * 8 + 4], 0x8500
        SETGATE 0x40, to_ring0, SEL_CODE0, 0xEE
        push    dword SEL_DATA3
        push    dword STACK3_TOP
        pushfd
        push    dword SEL_CODE3
        push    dword ring3
        iretd
ring3:
        mov     dword [ss:TSS0 + 8], SEL_DATA0 | 3      ; SS0 with RPL 3: invalid for ring 0
        mov     dword [ss:CONT], after_ts
        int     0x40                            ; #TS(0x10) -> task TS fixes SS0, resumes here:
.again:
        int     0x40                            ; now it works
after_ts:
        mov     ax, SEL_DATA0
        mov     ds, ax
        mov     es, ax
        mov     eax, [GDT_RAM + SEL_TSS_TS + 4]
        jmp     exit

; ---- handlers --------------------------------------------------------------------------------
df_handler:                             ; #DF through an interrupt gate: the saved CS:EIP is
        pop     ebp                     ; undefined (SDM), so it is neither read nor used
        mov     ebp, [ss:RESUME]
        mov     [esp], ebp
        mov     dword [ss:RESUME], 0
        iretd

df_task:                                ; #DF task: error code on its stack
        pop     ebp
        mov     eax, [TSS_DF + 0]               ; back-link
        mov     dword [TSS0 + 32], .resume_ptr  ; resume the interrupted task at .df2
        iretd
.resume_ptr equ pm32_entry.df2

ts_task:                                ; #TS task: the interrupted task is at CPL 3
        pop     ebp                             ; error code: the SS0 selector
        mov     eax, [TSS0 + 76]                ; its CS (ring 3)
        mov     ebx, [TSS0 + 32]                ; its EIP: the INT
        mov     dword [TSS0 + 8], SEL_DATA0     ; fix SS0
        mov     dword [TSS0 + 32], ring3.again
        iretd
        ; (never re-entered)

to_ring0:                               ; INT 0x40: drop the ring-3 frame, continue at [CONT]
        add     esp, 20
        jmp     [ss:CONT]

        align   8
gdt:
        GDT_COMMON
        DESC    TSS_DF, 0x67, 0x89, 0x0         ; 0x40
        DESC    TSS_TS, 0x67, 0x89, 0x0         ; 0x48
gdt_end:

        align   4
tss_templates:
        TSS32   df_task, 0x6000
        times   0x80 - 0x68 db 0
        TSS32   ts_task, 0x5C00
        times   0x80 - 0x68 db 0
tss_templates_end:

        IDT_DEFAULT
        EXC_STUBS

        ROM_TAIL
