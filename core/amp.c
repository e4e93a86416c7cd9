/* Host side of mixed precision: the precision setting, the fp16 loss scale and its dynamic schedule (core/amp.h). */
#include "amp.h"

int darknet3d_precision = DARKNET3D_FP32;
int darknet3d_channels_last = 1;
float amp_loss_scale = 1.f;

void amp_scaler_init(amp_scaler *s)
{
    s->scale = AMP_INIT_SCALE;
    s->good_steps = 0;
    s->skipped = 0;
}

int amp_scaler_step(amp_scaler *s, int overflow)
{
    if(overflow){
        s->scale *= 0.5f;
        if(s->scale < AMP_MIN_SCALE) s->scale = AMP_MIN_SCALE;
        s->good_steps = 0;
        s->skipped++;
        return 0;
    }
    if(++s->good_steps >= AMP_GROWTH_INTERVAL){
        if(s->scale * 2.f <= AMP_MAX_SCALE) s->scale *= 2.f;
        s->good_steps = 0;
    }
    return 1;
}

int amp_half(void) { return darknet3d_precision == DARKNET3D_FP16 || darknet3d_precision == DARKNET3D_BF16; }

size_t amp_bytes(size_t n) { return (n * AMP_ELT + 255) / 256 * 256; }
