/* In-place int8 depthwise convolution (channel multiplier 1), written for atomnet: the output overwrites the input
   buffer channel by channel, as TinyEngine's in-place depthwise does, so input and output share one planned buffer.
   Channel c is first copied (with its padding, filled with the input zero point) into `scratch`; output (y, x, c)
   is then written at (y*ow + x)*c_n + c, a position of channel c's own input, already copied. Arithmetic as
   atomnet_k_dwconv (TFLite Micro's reference): padded taps hold the zero point, so they add 0 as skipped taps do. */
#include "atomnet_k.h"

void atomnet_k_dwconv_inplace(int8_t *buf, int ih, int iw, int cn, int in_zp, const int8_t *w, const int32_t *bias,
                              int kh, int kw, int sh, int sw, int ph, int pw, int oh, int ow, int out_zp,
                              const int32_t *mult, const int32_t *shift, int amin, int amax, int8_t *scratch) {
    int hp = (oh - 1) * sh + kh, wp = (ow - 1) * sw + kw;
    int c, y, x, oy, ox, ky, kx;
    for (c = 0; c < cn; ++c) {
        for (y = 0; y < hp * wp; ++y) scratch[y] = (int8_t)in_zp;
        for (y = 0; y < ih; ++y) {
            int py = y + ph;
            if (py < 0 || py >= hp) continue;
            for (x = 0; x < iw; ++x) {
                int px = x + pw;
                if (px < 0 || px >= wp) continue;
                scratch[(long)py * wp + px] = buf[((long)y * iw + x) * cn + c];
            }
        }
        for (oy = 0; oy < oh; ++oy) for (ox = 0; ox < ow; ++ox) {
            const int8_t *base = scratch + (long)oy * sh * wp + (long)ox * sw;
            int32_t acc = 0;
            for (ky = 0; ky < kh; ++ky) for (kx = 0; kx < kw; ++kx)
                acc += ((int32_t)base[(long)ky * wp + kx] - in_zp) * (int32_t)w[((long)ky * kw + kx) * cn + c];
            if (bias) acc += bias[c];
            acc = atomnet_mbqm(acc, mult[c], shift[c]) + out_zp;
            if (acc < amin) acc = amin;
            if (acc > amax) acc = amax;
            buf[((long)oy * ow + ox) * cn + c] = (int8_t)acc;
        }
    }
}
