; c_paging - paging: 2-level with 4 KiB and 4 MiB (PSE) pages, PAE 3-level with 4 KiB and
; 2 MiB pages, accessed/dirty bits written by the walk (read back into registers), #PF with
; CR2 and the architectural error code (not present, write, user, reserved bit), CR0.WP,
; U/S and R/W from ring 3, INVLPG, CR3 reload, global pages and their flush by CR4.PGE.
;
; Only outcomes the SDM defines are checked: a page-table entry is changed and then used only
; after INVLPG, a CR3 load or a CR4.PGE toggle, never while a stale TLB entry could still be
; used.

%include "common.inc"

%define PD1     0x10000                 ; 2-level: page directory
%define PT1     0x11000                 ;          page table for 0-4 MiB
%define PD2     0x12000                 ; a second page directory (CR3 reload)
%define PT2     0x13000
%define PDPT    0x14000                 ; PAE
%define PAE_PD  0x15000
%define PAE_PT  0x16000

%define P       1
%define RW      2
%define US      4
%define ACC     0x20
%define DIRTY   0x40
%define PS      0x80
%define GLB     0x100

        bits    16
start16:
        ENTER_PM gdt, gdt_end

        bits    32
pm32_entry:
        mov     dword [TSS0 + 4], STACK0_TOP    ; ESP0
        mov     dword [TSS0 + 8], SEL_DATA0     ; SS0
        mov     word [TSS0 + 0x66], 0x1000      ; no I/O bitmap
        mov     ax, SEL_TSS0
        ltr     ax
        SETGATE 0x40, to_ring0, SEL_CODE0, 0xEE ; INT 0x40 from ring 3 -> back to ring 0
        ; page tables: identity map of the first MiB, user, writable
        mov     esi, pt_template
        mov     edi, PT1
        mov     ecx, 256
        rep movsd
        mov     esi, pt_template
        mov     edi, PT2
        mov     ecx, 256
        rep movsd
        mov     dword [PD1], PT1 | US | RW | P
        mov     dword [PD2], PT2 | US | RW | P
        ; special pages
        mov     dword [PT1 + 0x21 * 4], 0x21000 | US | P        ; read-only
        mov     dword [PT1 + 0x22 * 4], 0x22000 | RW | P        ; supervisor only
        mov     dword [PT1 + 0x23 * 4], 0                       ; not present
        mov     dword [PT1 + 0x24 * 4], 0x25000 | US | RW | P   ; 0x24000 -> 0x25000
        mov     dword [PT2 + 0x24 * 4], 0x27000 | US | RW | P   ; in PD2: 0x24000 -> 0x27000
        ; markers in physical pages
        mov     dword [0x20000], 0x20202020
        mov     dword [0x21000], 0x21212121
        mov     dword [0x22000], 0x22222222
        mov     dword [0x24000], 0x24242424
        mov     dword [0x25000], 0x25252525
        mov     dword [0x27000], 0x27272727
        mov     dword [0x28000], 0x28282828
        mov     dword [0x29000], 0x29292929
        mov     dword [0x2B000], 0x2B2B2B2B
        mov     dword [0x400010], 0x40404040

        ; ---- 2-level paging on ---------------------------------------------------------------
        mov     eax, PD1
        mov     cr3, eax
        mov     eax, cr0
        or      eax, 0x80000000
        mov     cr0, eax
        mov     eax, cr0
        ; accessed and dirty bits
        mov     ebx, [PT1 + 0x20 * 4]           ; neither yet
        mov     eax, [0x20000]
        mov     ebx, [PT1 + 0x20 * 4]           ; accessed
        mov     [0x20004], eax
        mov     ebx, [PT1 + 0x20 * 4]           ; accessed and dirty
        mov     ecx, [PD1]                      ; the directory entry is accessed too
        ; an alias
        mov     eax, [0x24000]                  ; 0x25252525
        ; not present: read, then write
        SETRESUME .a1
        mov     eax, [0x23000]                  ; #PF(0), CR2 = 0x23000
.a1:
        SETRESUME .a2
        mov     [0x23010], eax                  ; #PF(2)
.a2:
        ; the page directory entry not present
        SETRESUME .a3
        mov     eax, [0xC00004]                 ; #PF(0), CR2 = 0xC00004
.a3:
        ; CR0.WP = 0: a supervisor write to a read-only page works
        mov     dword [0x21008], 0x12345678
        mov     ebx, [PT1 + 0x21 * 4]           ; dirty
        mov     eax, cr0
        or      eax, 0x00010000                 ; WP
        mov     cr0, eax
        SETRESUME .a4
        mov     dword [0x2100C], 0              ; #PF(3)
.a4:
        mov     eax, [0x21008]
        ; a write that straddles two pages, the second read-only
        SETRESUME .a5
        mov     dword [0x20FFE], 0xFFFFFFFF     ; #PF(3), CR2 = 0x21000 (the faulting page)
.a5:

        ; ---- 4 MiB pages ---------------------------------------------------------------------
        mov     eax, cr4
        or      eax, 0x10                       ; PSE
        mov     cr4, eax
        mov     dword [PD1 + 1 * 4], 0x400000 | PS | RW | P     ; 0x400000 -> 0x400000
        mov     dword [PD1 + 2 * 4], 0x400000 | PS | US | RW | P ; 0x800000 -> 0x400000
        mov     eax, [0x400010]
        mov     dword [0x800014], 0x44444444
        mov     ebx, [0x400014]
        mov     ecx, [PD1 + 1 * 4]              ; accessed
        mov     edx, [PD1 + 2 * 4]              ; accessed and dirty

        ; ---- INVLPG --------------------------------------------------------------------------
        mov     dword [PT1 + 0x24 * 4], 0x27000 | US | RW | P
        invlpg  [0x24000]
        mov     eax, [0x24000]                  ; 0x27272727
        mov     dword [PT1 + 0x24 * 4], 0x25000 | US | RW | P
        invlpg  [0x24123]                       ; any address in the page
        mov     eax, [0x24000]                  ; 0x25252525

        ; ---- CR3 reload ----------------------------------------------------------------------
        mov     eax, PD2
        mov     cr3, eax
        mov     eax, [0x24000]                  ; 0x27272727 through PD2
        mov     ebx, [PD2]                      ; accessed
        mov     eax, PD1
        mov     cr3, eax
        mov     eax, [0x24000]                  ; 0x25252525 again

        ; ---- global pages --------------------------------------------------------------------
        mov     eax, cr4
        or      eax, 0x80                       ; PGE
        mov     cr4, eax
        mov     dword [PT1 + 0x28 * 4], 0x28000 | GLB | US | RW | P
        invlpg  [0x28000]
        mov     eax, [0x28000]                  ; 0x28282828
        mov     eax, cr3
        mov     cr3, eax                        ; a CR3 load keeps global entries...
        mov     eax, [0x28000]                  ; ...and the mapping is unchanged anyway
        mov     dword [PT1 + 0x28 * 4], 0x29000 | GLB | US | RW | P
        mov     eax, cr4
        and     eax, ~0x80
        mov     cr4, eax                        ; clearing PGE flushes global entries
        or      eax, 0x80
        mov     cr4, eax
        mov     eax, [0x28000]                  ; 0x29292929

        ; ---- ring 3: U/S and R/W -------------------------------------------------------------
        push    dword SEL_DATA3
        push    dword STACK3_TOP
        pushfd
        push    dword SEL_CODE3
        push    dword ring3
        iretd
ring3:
        mov     ax, SEL_DATA3
        mov     ds, ax
        mov     es, ax
        mov     eax, [0x20000]                  ; user page: fine
        mov     dword [0x24000], 0x33333333     ; user writable: fine
        SETRESUME .u1
        mov     eax, [0x22000]                  ; supervisor page -> #PF(5)
.u1:
        SETRESUME .u2
        mov     dword [0x21000], 0              ; read-only -> #PF(7)
.u2:
        SETRESUME .u3
        mov     dword [0x23000], 0              ; not present -> #PF(6)
.u3:
        SETRESUME .u4
        mov     eax, [0x400000]                 ; supervisor 4 MiB page -> #PF(5)
.u4:
        mov     eax, [0x800000]                 ; user 4 MiB page: fine
        SETRESUME .u5
        mov     eax, [PT1]                      ; page tables are user here: fine
        push    dword [0x22000]                 ; #PF(5) from a PUSH with a memory operand
.u5:
        int     0x40                            ; back to ring 0
to_ring0:
        add     esp, 20                         ; drop the ring-3 frame
        mov     ax, SEL_DATA0
        mov     ds, ax
        mov     es, ax

        ; ---- PAE -----------------------------------------------------------------------------
        mov     eax, cr0
        and     eax, 0x7FFFFFFF
        mov     cr0, eax                        ; paging off
        mov     esi, pt_template_pae
        mov     edi, PAE_PT
        mov     ecx, 512
        rep movsd
        mov     edi, PDPT
        xor     eax, eax
        mov     ecx, 8
        rep stosd
        mov     dword [PDPT], PAE_PD | P
        mov     edi, PAE_PD
        mov     ecx, 1024
        rep stosd
        mov     dword [PAE_PD], PAE_PT | US | RW | P
        mov     dword [PAE_PD + 1 * 8], 0x400000 | PS | US | RW | P     ; 2 MiB: 0x200000 -> 0x400000
        mov     dword [PAE_PD + 2 * 8], 0x400000 | PS | RW | P          ; 2 MiB: 0x400000 -> 0x400000
        mov     dword [PAE_PT + 0x23 * 8], 0                             ; not present
        mov     dword [PAE_PT + 0x2A * 8], 0x2B000 | US | RW | P
        mov     dword [PAE_PT + 0x2A * 8 + 4], 0x80000000                ; XD with EFER.NXE = 0: reserved
        mov     dword [PAE_PT + 0x2C * 8], 0x2B000 | US | RW | P         ; 0x2C000 -> 0x2B000
        mov     eax, cr4
        or      eax, 0x20                       ; PAE
        mov     cr4, eax
        mov     eax, PDPT
        mov     cr3, eax
        mov     eax, cr0
        or      eax, 0x80000000
        mov     cr0, eax
        mov     eax, [0x2C000]                  ; 0x2B2B2B2B
        mov     ebx, [PAE_PT + 0x2C * 8]        ; accessed
        mov     [0x2C004], eax
        mov     ebx, [PAE_PT + 0x2C * 8]        ; accessed and dirty
        mov     ecx, [PAE_PD]                   ; accessed
        mov     eax, [0x200014]                 ; 2 MiB page onto 0x400000: 0x44444444
        mov     dword [0x200018], 0x55555555
        mov     ebx, [0x400018]                 ; through the identity map
        mov     ecx, [PAE_PD + 1 * 8]           ; accessed and dirty
        SETRESUME .p1
        mov     eax, [0x23000]                  ; #PF(0)
.p1:
        ; A reserved bit: the SDM (4.7) gives error code 9 (RSVD implies P = 1); QEMU pushes 8.
        ; A dedicated handler checks every bit of the error code except P.
        SETGATE 14, pf_rsvd, SEL_CODE0, 0x8E
        SETRESUME .p2
        mov     eax, [0x2A000]                  ; reserved bit -> #PF(9)
.p2:
        SETGATE 14, exc_stub_14, SEL_CODE0, 0x8E
        SETRESUME .p3
        mov     dword [0x40000010], 0           ; PDPTE 1 not present -> #PF(2)
.p3:
        SETRESUME .p4
        mov     eax, [0x600000]                 ; PDE 3 not present -> #PF(0)
.p4:
        mov     dword [PAE_PT + 0x2C * 8], 0x29000 | US | RW | P
        invlpg  [0x2C000]
        mov     eax, [0x2C000]                  ; 0x29292929

        ; ---- paging off, PAE off -------------------------------------------------------------
        mov     eax, cr0
        and     eax, 0x7FFEFFFF                 ; PG and WP off
        mov     cr0, eax
        mov     eax, cr4
        and     eax, ~0xB0
        mov     cr4, eax
        xor     eax, eax
        mov     cr3, eax
        mov     eax, [0x25000]                  ; 0x33333333, written from ring 3 at linear 0x24000
        jmp     exit

pf_rsvd:                                ; #PF handler that ignores bit 0 of the error code
        test    dword [esp], 0x08               ; RSVD: set
        test    dword [esp], ~0x09              ; the others: clear
        add     esp, 4
        mov     ebp, [ss:RESUME]
        mov     [esp], ebp
        mov     dword [ss:RESUME], 0
        iret

        align   8
gdt:
        GDT_COMMON
gdt_end:

        IDT_DEFAULT
        EXC_STUBS

        align   4
pt_template:                            ; 256 PTEs: identity, user, writable
%assign i 0
%rep 256
        dd      (i << 12) | US | RW | P
%assign i i+1
%endrep
pt_template_pae:                        ; 256 PAE PTEs: identity, user, writable
%assign i 0
%rep 256
        dd      (i << 12) | US | RW | P, 0
%assign i i+1
%endrep

        ROM_TAIL
