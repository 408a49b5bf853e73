/* atomnet int8 kernels: fixed-point requantization as in TFLite Micro (written for atomnet). */
#include "atomnet_k.h"
#include "atomnet_k_fixed.h"


int32_t atomnet_mbqm(int32_t x, int32_t mult, int shift) {
    int left = shift > 0 ? shift : 0;
    int right = shift > 0 ? 0 : -shift;
    return rdbp(srdhm((int32_t)((uint32_t)x << left), mult), right);
}

static int8_t clampq(int32_t v, int amin, int amax) {
    if (v < amin) v = amin;
    if (v > amax) v = amax;
    return (int8_t)v;
}

void atomnet_k_conv(const int8_t *in, int ih, int iw, int ic, int in_zp, const int8_t *w, const int32_t *bias,
                    int kh, int kw, int sh, int sw, int ph, int pw, int8_t *out, int oh, int ow, int oc,
                    int out_zp, const int32_t *mult, const int32_t *shift, int amin, int amax) {
    int oy, ox, o, ky, kx, c;
    for (oy = 0; oy < oh; ++oy) for (ox = 0; ox < ow; ++ox) for (o = 0; o < oc; ++o) {
        int32_t acc = 0;
        int y0 = oy * sh - ph, x0 = ox * sw - pw;
        for (ky = 0; ky < kh; ++ky) {
            int y = y0 + ky;
            if (y < 0 || y >= ih) continue;
            for (kx = 0; kx < kw; ++kx) {
                int x = x0 + kx;
                const int8_t *ip, *wp;
                if (x < 0 || x >= iw) continue;
                ip = in + ((long)y * iw + x) * ic;
                wp = w + (((long)o * kh + ky) * kw + kx) * ic;
                for (c = 0; c < ic; ++c) acc += ((int32_t)ip[c] - in_zp) * (int32_t)wp[c];
            }
        }
        if (bias) acc += bias[o];
        acc = atomnet_mbqm(acc, mult[o], shift[o]) + out_zp;
        out[((long)oy * ow + ox) * oc + o] = clampq(acc, amin, amax);
    }
}

void atomnet_k_dwconv(const int8_t *in, int ih, int iw, int ic, int in_zp, const int8_t *w, const int32_t *bias,
                      int kh, int kw, int sh, int sw, int ph, int pw, int dm, int8_t *out, int oh, int ow,
                      int out_zp, const int32_t *mult, const int32_t *shift, int amin, int amax) {
    int oy, ox, c, m, ky, kx, oc = ic * dm;
    for (oy = 0; oy < oh; ++oy) for (ox = 0; ox < ow; ++ox) for (c = 0; c < ic; ++c) for (m = 0; m < dm; ++m) {
        int o = c * dm + m;
        int32_t acc = 0;
        int y0 = oy * sh - ph, x0 = ox * sw - pw;
        for (ky = 0; ky < kh; ++ky) {
            int y = y0 + ky;
            if (y < 0 || y >= ih) continue;
            for (kx = 0; kx < kw; ++kx) {
                int x = x0 + kx;
                if (x < 0 || x >= iw) continue;
                acc += ((int32_t)in[((long)y * iw + x) * ic + c] - in_zp) * (int32_t)w[((long)ky * kw + kx) * oc + o];
            }
        }
        if (bias) acc += bias[o];
        acc = atomnet_mbqm(acc, mult[o], shift[o]) + out_zp;
        out[((long)oy * ow + ox) * oc + o] = clampq(acc, amin, amax);
    }
}

void atomnet_k_fc(const int8_t *in, int batches, int depth, int in_zp, const int8_t *w, int w_zp,
                  const int32_t *bias, int8_t *out, int units, int out_zp, const int32_t *mult, const int32_t *shift,
                  int amin, int amax) {
    int b, u, d;
    for (b = 0; b < batches; ++b) for (u = 0; u < units; ++u) {
        int32_t acc = 0;
        for (d = 0; d < depth; ++d)
            acc += ((int32_t)in[(long)b * depth + d] - in_zp) * ((int32_t)w[(long)u * depth + d] - w_zp);
        if (bias) acc += bias[u];
        acc = atomnet_mbqm(acc, mult[u], shift[u]) + out_zp;
        out[(long)b * units + u] = clampq(acc, amin, amax);
    }
}

void atomnet_k_avgpool(const int8_t *in, int ih, int iw, int c, int fh, int fw, int sh, int sw, int ph, int pw,
                       int8_t *out, int oh, int ow, int amin, int amax) {
    int oy, ox, ch, y, x;
    for (oy = 0; oy < oh; ++oy) for (ox = 0; ox < ow; ++ox) for (ch = 0; ch < c; ++ch) {
        int y0 = oy * sh - ph, x0 = ox * sw - pw;
        int32_t sum = 0, cnt = 0, avg;
        for (y = y0; y < y0 + fh; ++y) {
            if (y < 0 || y >= ih) continue;
            for (x = x0; x < x0 + fw; ++x) {
                if (x < 0 || x >= iw) continue;
                sum += in[((long)y * iw + x) * c + ch];
                ++cnt;
            }
        }
        if (cnt == 0) cnt = 1;
        avg = sum > 0 ? (sum + cnt / 2) / cnt : (sum - cnt / 2) / cnt;
        out[((long)oy * ow + ox) * c + ch] = clampq(avg, amin, amax);
    }
}

void atomnet_k_copy(const int8_t *in, int8_t *out, int n) {
    int i;
    if (in == out) return;
    for (i = 0; i < n; ++i) out[i] = in[i];
}
