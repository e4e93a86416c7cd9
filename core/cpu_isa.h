/* The CPU's vector instruction level as our hand-written kernels see it: what the processor reports, capped by oneDNN's ONEDNN_MAX_CPU_ISA (or DNNL_MAX_CPU_ISA) so that one variable selects the same ISA for oneDNN and for us. */
#ifndef CPU_ISA_H
#define CPU_ISA_H

enum { CPU_ISA_BASE = 0, CPU_ISA_AVX2 = 1, CPU_ISA_AVX512 = 2 };

/* CPU_ISA_AVX512: AVX-512F (with AVX2 and FMA); CPU_ISA_AVX2: AVX2 and FMA without AVX-512F; else CPU_ISA_BASE.
 * A cap named by ONEDNN_MAX_CPU_ISA (read first) or DNNL_MAX_CPU_ISA lowers the level, never raises it: oneDNN's
 * names, any case: SSE41 and AVX cap to CPU_ISA_BASE, AVX2 and the AVX2_* names to CPU_ISA_AVX2; AVX512_*,
 * AVX10_*, ALL and names we do not know leave the processor's level. Read once per process. */
int cpu_isa_level(void);
/* 1 when an AVX2 kernel with a mode switch runs: mode 0 never, 1 (the kernels' default) at the AVX2 level only (an
 * AVX-512 machine keeps its own paths), 2 at the AVX2 level or above (the tests compare such kernels anywhere) */
int cpu_isa_avx2_mode(int mode);
/* the level for a processor level and a cap value (NULL: none); what cpu_isa_level applies, for the tests */
int cpu_isa_capped(int cpu_level, const char *cap);
#endif
