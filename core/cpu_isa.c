/* The vector instruction level our CPU kernels dispatch on: the processor's, capped by oneDNN's ISA variable (cpu_isa.h). */
#include <stdlib.h>
#include <strings.h>
#include "cpu_isa.h"

int cpu_isa_capped(int cpu_level, const char *cap)
{
    int c = cpu_level;
    if(!cap || !*cap) return cpu_level;
    if(!strcasecmp(cap, "SSE41") || !strcasecmp(cap, "AVX")) c = CPU_ISA_BASE;
    else if(!strcasecmp(cap, "AVX2") || !strncasecmp(cap, "AVX2_", 5)) c = CPU_ISA_AVX2;
    return c < cpu_level ? c : cpu_level;
}

int cpu_isa_level(void)
{
    static int v = -1;
    if(v < 0){
        int hw = CPU_ISA_BASE;
#if defined(__x86_64__) || defined(__i386__)
        __builtin_cpu_init();
        if(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
            hw = __builtin_cpu_supports("avx512f") ? CPU_ISA_AVX512 : CPU_ISA_AVX2;
#endif
        const char *cap = getenv("ONEDNN_MAX_CPU_ISA");
        if(!cap || !*cap) cap = getenv("DNNL_MAX_CPU_ISA");
        v = cpu_isa_capped(hw, cap);
    }
    return v;
}

int cpu_isa_avx2_mode(int mode)
{
    const int cpu = cpu_isa_level();
    return cpu >= CPU_ISA_AVX2 && (mode == 2 || (mode == 1 && cpu == CPU_ISA_AVX2));
}
