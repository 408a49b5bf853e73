/* atomnet int8 ADD (inputs shifted left by 20, rescaled to twice the larger scale) and MEAN over H,W
   (zero-point-corrected int32 sum, one fixed-point rescale by in_scale / (out_scale * H*W)). Written for atomnet. */
#include "atomnet_k.h"

void atomnet_k_add(const int8_t *a, const int8_t *b, int8_t *out, int n, int a_off, int b_off, int out_off,
                   int left_shift, int32_t am, int as, int32_t bm, int bs, int32_t om, int os, int amin, int amax) {
    int i;
    for (i = 0; i < n; ++i) {
        int32_t x = (a[i] + a_off) * (1 << left_shift), y = (b[i] + b_off) * (1 << left_shift);
        int32_t s = atomnet_mbqm(x, am, as) + atomnet_mbqm(y, bm, bs);
        int32_t v = atomnet_mbqm(s, om, os) + out_off;
        out[i] = (int8_t)(v < amin ? amin : v > amax ? amax : v);
    }
}

void atomnet_k_mean_hw(const int8_t *in, int hw, int c, int8_t *out, int in_zp, int32_t mult, int shift,
                       int out_zp) {
    int ch, i;
    for (ch = 0; ch < c; ++ch) {
        int32_t acc = 0;
        for (i = 0; i < hw; ++i) acc += in[(long)i * c + ch] - in_zp;
        acc = atomnet_mbqm(acc, mult, shift);
        acc += out_zp;
        out[ch] = (int8_t)(acc < -128 ? -128 : acc > 127 ? 127 : acc);
    }
}
