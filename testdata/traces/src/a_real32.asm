; a_real32 - real mode with 32-bit operands and addressing, and exceptions through the IVT.
;
; Covers: operand-size and address-size prefixes in 16-bit code (32-bit ALU, shifts, rotates,
; multiply/divide, bit operations, MOVZX/MOVSX, CWDE/CDQ, XADD/CMPXCHG/BSWAP, SETcc/CMOVcc,
; SHLD/SHRD), 32-bit addressing forms ([base + index*scale + disp]) in real mode, 32-bit
; PUSH/POP/PUSHAD/POPAD/PUSHFD/POPFD/ENTER/LEAVE, string instructions with a32 and REP,
; LOOP/JECXZ with ECX, far CALL/RETF, and the IVT: #DE (DIV and IDIV overflow), #BP (INT3),
; #OF (INTO), #BR (BOUND), #UD (UD2 and an invalid encoding), INT n and IRET.
; Handlers read the frame (IP, CS, FLAGS) into registers and resume at [RESUME] when set.

%include "common.inc"

        bits    16
start16:
        cli
        cld
        xor     edx, edx
        xor     ax, ax
        mov     ds, ax
        mov     es, ax
        mov     ss, ax
        mov     esp, 0x7000
        ; IVT: vectors 0-7 and 0x21 -> rhandler_v (F000:offset)
%assign v 0
%rep 8
        mov     dword [v * 4], (0xF000 << 16) | R(rhandler_ %+ v)
%assign v v+1
%endrep
        mov     dword [0x21 * 4], (0xF000 << 16) | R(rhandler_21)
        mov     dword [RESUME], 0
        mov     dword [DATA16_VAL], 0x00008765

; ---- 32-bit arithmetic ---------------------------------------------------------------------
        mov     eax, 0x89ABCDEF
        mov     ebx, 0x12345678
        add     eax, ebx
        adc     eax, 0x7FFFFFFF
        sub     ebx, eax
        sbb     ebx, 1
        neg     ebx
        not     eax
        and     eax, 0xF0F0F0F0
        or      ebx, 0x0F000001
        xor     eax, ebx
        cmp     eax, ebx
        inc     eax
        dec     ebx
        test    eax, 0x80000000
        mov     ecx, 0xFFFFFFFF
        add     ecx, 1                  ; CF, ZF, AF
        mov     ecx, 0x7FFFFFFF
        inc     ecx                     ; OF
        mov     ecx, 0x80000000
        sub     ecx, 1                  ; OF
        ; multiply and divide
        mov     eax, 0x12345678
        mov     ecx, 0x9ABCDEF0
        mul     ecx
        mov     eax, -1234567
        mov     ecx, 89
        imul    ecx
        imul    ebx, ecx, 0x101
        imul    esi, [DATA16_VAL], -3
        imul    eax, ecx
        mov     edx, 0x00000012
        mov     eax, 0x34567890
        mov     ecx, 0x1000
        div     ecx
        mov     edx, -1
        mov     eax, -100000
        mov     ecx, 7
        idiv    ecx
        mov     ax, 1000
        mov     cl, 7
        div     cl
        mov     ax, -1000
        mov     cl, 9
        idiv    cl
        ; shifts and rotates (counts of 1 and others; OF is compared only for counts of 1)
        mov     eax, 0x81234567
        shl     eax, 1
        shr     eax, 3
        sar     eax, 5
        mov     cl, 4
        shl     eax, cl
        rol     eax, 8
        ror     eax, 1
        rcl     eax, 1
        rcr     eax, 1
        mov     cl, 13
        rcl     eax, cl
        rcr     eax, cl
        mov     cl, 0
        shl     eax, cl                 ; count 0: flags unchanged
        mov     ebx, 0xDEADBEEF
        shld    eax, ebx, 12
        mov     cl, 20
        shrd    eax, ebx, cl
        mov     dx, 0x1234
        mov     ax, 0x5678
        shld    ax, dx, 4
        ; bit operations
        mov     eax, 0x00010100
        bt      eax, 8
        bts     eax, 31
        btr     eax, 16
        btc     eax, 0
        mov     ecx, 35
        bt      eax, ecx                ; register bit offset taken mod 32
        bsf     ebx, eax
        bsr     edx, eax
        ; memory bit string with a register offset (reaches past the dword)
        mov     dword [SCRATCH], 0
        mov     dword [SCRATCH + 4], 0
        mov     ecx, 37
        bts     [SCRATCH], ecx
        mov     edi, [SCRATCH + 4]
        mov     ecx, -3
        mov     dword [SCRATCH + 8], 0x80000000
        bt      [SCRATCH + 12], ecx     ; bit 29 of SCRATCH+8 .. (offset -3 from +12)
        ; conversions and exchanges
        mov     al, 0x80
        movsx   ebx, al
        movzx   ecx, al
        mov     ax, 0x8001
        cwde
        cdq
        mov     ax, 0x7FFF
        cwd
        cbw
        movsx   esi, word [DATA16_VAL]
        movzx   edi, word [DATA16_VAL]
        mov     eax, 0x11223344
        bswap   eax
        mov     ebx, 5
        xadd    eax, ebx
        mov     eax, 0x55
        mov     dword [SCRATCH], 0x55
        mov     ecx, 0x66
        cmpxchg [SCRATCH], ecx          ; equal: stores ECX
        cmpxchg [SCRATCH], ecx          ; now unequal: loads EAX
        mov     edx, [SCRATCH]
        xchg    eax, edx
        xchg    [SCRATCH], ebx
        ; SETcc / CMOVcc
        cmp     eax, edx
        setl    al
        setbe   ah
        seto    bl
        sets    bh
        mov     ecx, 0x1111
        mov     edx, 0x2222
        cmp     ecx, edx
        cmovb   ecx, edx
        cmovg   edx, [DATA16_VAL]
        cmovns  esi, ecx

; ---- 32-bit addressing in real mode -------------------------------------------------------
        mov     ebx, SCRATCH
        mov     esi, 3
        mov     dword [ebx + esi*4], 0xCAFEBABE
        mov     eax, [ebx + 12]
        mov     edi, 0x10
        mov     dword [ebx + edi*2 + 0x10], 0x01020304
        mov     ecx, [SCRATCH + 0x30]
        lea     edx, [ebx + esi*8 + 0x1234]
        lea     eax, [esi*2 + esi]
        lea     ebp, [ebx + edi]
        mov     word [ebp], 0xBEEF      ; EBP base -> SS
        mov     ax, [ss:ebp]
        mov     ebp, 0
        mov     eax, [ebx*2 - SCRATCH]  ; scaled base, negative displacement
        mov     eax, SCRATCH + 2
        db      0x67, 0x8B, 0x00        ; mov ax, [eax] (modrm 00 is [bx+si] without a32)
        mov     eax, 0
        mov     al, [SCRATCH + 3*4]
        xlatb                           ; 16-bit XLAT: DS:[BX+AL]
        a32 xlatb                       ; 32-bit XLAT: DS:[EBX+AL]

; ---- stack: 32-bit pushes and pops, frames -------------------------------------------------
        push    eax
        push    dword 0x12345678
        push    word 0x9ABC
        pop     cx
        pop     edx
        pop     esi
        pushad
        mov     eax, 1
        mov     ebx, 2
        popad
        pushfd
        pop     eax
        or      eax, 0x00000800 | 0x00000001    ; OF, CF
        push    eax
        popfd
        pushfd
        pop     ebx
        pushf
        popf
        enter   8, 0
        mov     dword [ebp - 4], 0x77
        leave
        o32 enter 16, 1
        o32 leave
        push    word 0
        popf                            ; flags cleared
        call    near_sub
        call    dword near_sub32
        call    0xF000:R(far_sub)
        call    dword 0xF000:R(far_sub32)
        push    cs
        call    near_to_far             ; near call to a RETF 2
        jmp     after_stack

near_sub:
        mov     eax, 0x1001
        ret
near_sub32:
        mov     eax, 0x1002
        o32 ret
far_sub:
        mov     eax, 0x1003
        retf
far_sub32:
        mov     eax, [esp]              ; 32-bit return EIP
        movzx   ebx, word [esp + 4]     ; CS (the upper half of its slot is not written on a 686)
        o32 retf
near_to_far:
        mov     eax, 0x1005
        push    word 0xAAAA
        pop     dx
        retf                            ; pops IP (pushed by the near call) and CS (pushed)

after_stack:
; ---- strings and loops --------------------------------------------------------------------
        mov     esi, DATA16_STR
        mov     ax, 0xF000
        mov     ds, ax
        mov     si, R(DATA16_STR)
        mov     edi, SCRATCH + 0x40
        mov     ecx, 5
        rep movsb
        xor     ax, ax
        mov     ds, ax
        mov     esi, SCRATCH + 0x40
        mov     edi, SCRATCH + 0x80
        mov     ecx, 2
        a32 rep movsw                   ; ESI/EDI/ECX
        mov     edi, SCRATCH + 0x90
        mov     eax, 0x41424344
        mov     ecx, 3
        a32 rep stosd
        mov     esi, SCRATCH + 0x90
        a32 lodsd
        lodsb
        mov     edi, SCRATCH + 0x90
        mov     al, 0x43
        mov     ecx, 4
        repne scasb
        mov     esi, SCRATCH + 0x40
        mov     edi, SCRATCH + 0x80
        mov     ecx, 8
        a32 repe cmpsb
        std
        mov     si, SCRATCH + 0x93
        lodsb
        lodsw
        cld
        mov     ecx, 3
        xor     eax, eax
.loop1:
        add     eax, ecx
        a32 loop .loop1                 ; ECX counter
        mov     ecx, 0x10002
.loop2:
        inc     eax
        loop    .loop2                  ; CX counter: 2 iterations, ECX high word kept
        mov     ecx, 0
        jecxz   .jz_ok
        mov     eax, 0xBAD
.jz_ok:
        mov     cx, 0
        mov     ecx, 0x10000
        jcxz    .jcxz_ok
        mov     eax, 0xBAD
.jcxz_ok:
        mov     ecx, 2
.loop3:
        cmp     eax, 0
        loopne  .loop3

; ---- exceptions through the IVT ------------------------------------------------------------
        ; #DE: divide by zero (fault: IP of the DIV is pushed), resume after it
        mov     word [RESUME], R(.after_de1)
        xor     ecx, ecx
        mov     eax, 10
        div     ecx
.after_de1:
        ; #DE: quotient overflow
        mov     word [RESUME], R(.after_de2)
        mov     edx, 5
        mov     eax, 0
        mov     ecx, 2
        div     ecx
.after_de2:
        ; #DE: IDIV overflow (-2^31 / -1)
        mov     word [RESUME], R(.after_de3)
        mov     eax, 0x80000000
        cdq
        mov     ecx, -1
        idiv    ecx
.after_de3:
        ; #DE: 8-bit divide
        mov     word [RESUME], R(.after_de4)
        mov     ax, 0x1000
        mov     bl, 2
        div     bl
.after_de4:
        ; #BP: INT3 is a trap, the pushed IP is the next instruction
        int3
        int     3
        ; #OF: INTO with OF clear does nothing; with OF set it traps
        xor     eax, eax
        into
        mov     eax, 0x7FFFFFFF
        add     eax, 1
        into
        ; #BR: BOUND out of range (fault), in range (nothing)
        mov     dword [SCRATCH], 10
        mov     dword [SCRATCH + 4], 20
        mov     eax, 15
        bound   eax, [SCRATCH]
        mov     word [RESUME], R(.after_br)
        mov     eax, 21
        bound   eax, [SCRATCH]
.after_br:
        mov     word [SCRATCH + 8], -5
        mov     word [SCRATCH + 10], 5
        mov     word [RESUME], R(.after_br2)
        mov     ax, -6
        bound   ax, [SCRATCH + 8]
.after_br2:
        ; #UD: UD2, and a register operand where only memory is valid (LEA eax, eax)
        mov     word [RESUME], R(.after_ud1)
        ud2
.after_ud1:
        mov     word [RESUME], R(.after_ud2)
        db      0x66, 0x8D, 0xC0        ; lea eax, eax
.after_ud2:
        ; INT n and IRET; the handler sees the pushed FLAGS
        mov     ax, 0x0ACE
        stc
        int     0x21
        ; IRET to a frame built by hand, with FLAGS bits that stay (DF, OF) and IF clear
        pushf
        push    cs
        push    word R(.after_iret)
        mov     bp, sp
        or      word [bp + 4], 0x0C00   ; DF | OF
        iret
.after_iret:
        pushf
        pop     ax
        cld
        ; a 32-bit IRET
        pushfd
        push    dword 0xF000
        push    dword R(.after_iretd)
        iretd
.after_iretd:
        xor     eax, eax
        jmp     0xF000:R(exit)

; ---- real-mode exception handlers ----------------------------------------------------------
; Each loads the frame into registers one at a time and resumes at [RESUME] if it is set.
%macro RHANDLER 1
rhandler_ %+ %1:
        mov     bp, sp
        mov     si, [bp]                ; IP
        mov     di, [bp + 2]            ; CS
        mov     bx, [bp + 4]            ; FLAGS
        mov     si, [ss:RESUME]
        test    si, si
        jz      %%ret
        mov     [bp], si                ; replace the pushed IP
        mov     word [ss:RESUME], 0
%%ret:
        iret
%endmacro

%assign v 0
%rep 8
        RHANDLER v
%assign v v+1
%endrep
        RHANDLER 21

DATA16_VAL equ SCRATCH + 0xF0
DATA16_STR:
        db      "hello"

        ROM_TAIL
