/* The DESIGN §4 toy test of the s2r gradient: logits from a label shifted by 4 voxels, gradient descent on MSE(T_s2r(sigmoid(z)), R_label); prints loss and Dice to the label per binarize mode and learning rate. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "darknet3d.h"
#include "dtransform_layer.h"

#define N 32

static double dice(const float *z, const float *lab, int n)
{
    long a = 0, b = 0, c = 0;
    int i;
    for(i = 0; i < n; ++i){ int p = z[i] > 0, l = lab[i] > 0.5f; a += p & l; b += p; c += l; }
    return b + c ? 2.0 * a / (b + c) : 1.0;
}

int main(int argc, char **argv)
{
    int steps = argc > 1 ? atoi(argv[1]) : 200;
    int n = N * N * N, i, x, y, z;
    float *lab = calloc(n, sizeof(float)), *sh = calloc(n, sizeof(float));
    /* an ellipsoid (radii 9, 7, 8) and the same shifted by 4 voxels along w */
    for(z = 0; z < N; ++z) for(y = 0; y < N; ++y) for(x = 0; x < N; ++x){
        float a = (z - 15.5f) / 8, b = (y - 15.5f) / 7, c = (x - 13.5f) / 9, c2 = (x - 17.5f) / 9;
        lab[x + N * (y + N * z)] = a * a + b * b + c * c <= 1;
        sh[x + N * (y + N * z)] = a * a + b * b + c2 * c2 <= 1;
    }
    dtransform_params pl;
    dtransform_default_params(&pl);
    pl.scale = 1;
    float *Rl = calloc(n, sizeof(float)), *R = calloc(n, sizeof(float)), *g = calloc(n, sizeof(float));
    float *zz = calloc(n, sizeof(float)), *p = calloc(n, sizeof(float)), *dp = calloc(n, sizeof(float));
    struct { const char *name; int bin; float tau; } modes[] = {
        {"ste", DT_BIN_STE, 50}, {"sigmoid tau=50", DT_BIN_SIGMOID, 50}, {"sigmoid tau=200", DT_BIN_SIGMOID, 200}, {"softmin", DT_BIN_SOFTMIN, 50}};
    float lrs[] = {0.1f, 1.f, 10.f};
    int m, li, t;
    printf("toy: %d^3 ellipsoid, logits 3*(2*shifted-1) (shift 4 voxels along w), loss = sum (R - R_label)^2 / 2, %d steps of plain GD on the logits\n", N, steps);
    printf("%-16s %6s %12s %12s %12s %10s %10s\n", "binarize", "lr", "loss0", "loss_min", "loss_end", "dice0", "dice_end");
    for(m = 0; m < 4; ++m){
        /* R_label: the same transform family on the true label (ste/sigmoid compare with the kornia map, softmin with its own) */
        pl.binarize = modes[m].bin == DT_BIN_SOFTMIN ? DT_BIN_SOFTMIN : DT_BIN_STE;
        dtransform_state *sl = dtransform_alloc(&pl, 1, N, N, N, 0);
        dtransform_forward(sl, lab, Rl);
        dtransform_free(sl);
        for(li = 0; li < 3; ++li){
            dtransform_params pp = pl;
            pp.binarize = modes[m].bin; pp.tau = modes[m].tau;
            dtransform_state *s = dtransform_alloc(&pp, 1, N, N, N, 0);
            for(i = 0; i < n; ++i) zz[i] = 3.f * (2 * sh[i] - 1);
            double loss0 = 0, lmin = 1e30, loss = 0, d0 = dice(zz, lab, n);
            for(t = 0; t <= steps; ++t){
                for(i = 0; i < n; ++i) p[i] = 1.f / (1.f + expf(-zz[i]));
                dtransform_forward(s, p, R);
                loss = 0;
                for(i = 0; i < n; ++i){ g[i] = R[i] - Rl[i]; loss += 0.5 * g[i] * g[i]; }
                if(t == 0) loss0 = loss;
                if(loss < lmin) lmin = loss;
                if(t == steps || !isfinite(loss)) break;
                memset(dp, 0, n * sizeof(float));
                dtransform_backward(s, g, dp);
                for(i = 0; i < n; ++i){
                    float gz = dp[i] * p[i] * (1 - p[i]);
                    if(isfinite(gz)) zz[i] -= lrs[li] * gz;
                }
            }
            printf("%-16s %6g %12.4f %12.4f %12.4f %10.4f %10.4f\n", modes[m].name, lrs[li], loss0, lmin, loss, d0, dice(zz, lab, n));
            fflush(stdout);
            dtransform_free(s);
        }
    }
    free(lab); free(sh); free(Rl); free(R); free(g); free(zz); free(p); free(dp);
    return 0;
}
