/* atomnet int8 softmax: gemmlowp-style fixed-point exp and reciprocal, as TFLite Micro's reference kernel
   (input Q5.26 scaled differences, Q12 accumulation; output scale 1/256, zero point -128). Written for atomnet. */
#include "atomnet_k.h"
#include "atomnet_k_fixed.h"


static int32_t sat_shl(int32_t x, int e) {  /* saturating rounding multiply by 2^e, e > 0 */
    int32_t thr = (int32_t)((1LL << (31 - e)) - 1);
    if (x > thr) return INT32_MAX;
    if (x < -thr) return INT32_MIN;
    return (int32_t)((uint32_t)x << e);
}

static int32_t exp_quarter(int32_t a) {  /* Q0 input in [-1/4, 0) */
    int32_t x = a + (1 << 28);
    int32_t x2 = srdhm(x, x), x3 = srdhm(x2, x), x4 = srdhm(x2, x2);
    int32_t x4_4 = rdbp(x4, 2);
    int32_t poly = rdbp(srdhm(x4_4 + x3, 715827883) + x2, 1);
    return 1895147668 + srdhm(1895147668, x + poly);
}

static int32_t exp_neg(int32_t a) {  /* Q5.26 input <= 0, Q0.31 output */
    const int32_t quarter = 1 << 24;
    int32_t amq = (a & (quarter - 1)) - quarter;
    int32_t result = exp_quarter(sat_shl(amq, 5));
    int32_t rem = amq - a;
    static const int32_t mults[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
    int i;
    for (i = 0; i < 7; ++i)
        if (rem & (1 << (26 - 2 + i))) result = srdhm(result, mults[i]);
    if (a == 0) result = INT32_MAX;
    return result;
}

static int clz32(uint32_t x) {
    int n = 0;
    if (x == 0) return 32;
    while (!(x & 0x80000000u)) { x <<= 1; ++n; }
    return n;
}

static int32_t reciprocal(int32_t x, int int_digits, int *bits_over_unit) {
    int hp1 = clz32((uint32_t)x);
    int32_t a = (int32_t)(((uint32_t)x << hp1) - (1u << 31));
    int64_t s = (int64_t)a + INT32_MAX;
    int32_t half_den = (int32_t)((s + (s >= 0 ? 1 : -1)) / 2);
    int32_t r = 1515870810 + srdhm(half_den, -1010580540);
    int i;
    *bits_over_unit = int_digits - hp1;
    for (i = 0; i < 3; ++i) {
        int32_t hdx = srdhm(half_den, r);
        int32_t one_minus = (1 << 29) - hdx;
        r = r + sat_shl(srdhm(r, one_minus), 2);
    }
    return sat_shl(r, 1);
}

void atomnet_k_softmax(const int8_t *in, int8_t *out, int rows, int depth, int32_t in_mult, int in_left_shift,
                       int diff_min) {
    int r, c;
    for (r = 0; r < rows; ++r) {
        const int8_t *ip = in + (long)r * depth;
        int8_t *op = out + (long)r * depth;
        int32_t mx = -128, sum = 0, scale;
        int bits;
        for (c = 0; c < depth; ++c) if (ip[c] > mx) mx = ip[c];
        for (c = 0; c < depth; ++c) {
            int32_t d = (int32_t)ip[c] - mx;
            if (d >= diff_min) sum += rdbp(exp_neg(srdhm(d * (1 << in_left_shift), in_mult)), 12);
        }
        scale = reciprocal(sum, 12, &bits);
        for (c = 0; c < depth; ++c) {
            int32_t d = (int32_t)ip[c] - mx;
            if (d >= diff_min) {
                int32_t e = exp_neg(srdhm(d * (1 << in_left_shift), in_mult));
                int32_t v = rdbp(srdhm(scale, e), bits + 31 - 8) - 128;
                op[c] = (int8_t)(v < -128 ? -128 : v > 127 ? 127 : v);
            } else {
                op[c] = -128;
            }
        }
    }
}
