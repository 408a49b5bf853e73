/* atomnet int8 HARD_SWISH and LOGISTIC, elementwise (in == out is safe). Written for atomnet.
   HARD_SWISH follows TFLite's 16-bit fixed-point scheme: the input moved to a "hires" scale (x 2^7), one int16
   multiplier to the output scale, a second to the "reluish" scale where 3.0 is 2^15, the reluish value mapped to
   [0, 1] and multiplied in. LOGISTIC follows TFLite Micro's integer path: the input rescaled to Q4.27, gemmlowp's
   fixed-point exp and Newton-Raphson 1/(1+x), output Q0.8 with zero point -128. */
#include "atomnet_k.h"
#include "atomnet_k_fixed.h"

static int32_t srdhm16(int32_t a, int32_t b) {  /* int16 rounding doubling high multiply */
    int32_t ab = a * b;
    if (a == b && a == INT16_MIN) return INT16_MAX;
    return (int16_t)((ab + (ab >= 0 ? (1 << 14) : (1 - (1 << 14)))) / (1 << 15));
}

static int32_t sdhm16(int32_t a, int32_t b) {  /* int16 doubling high multiply, truncating */
    if (a == b && a == INT16_MIN) return INT16_MAX;
    return (int16_t)((a * b) / (1 << 15));
}

static int32_t rdbp16(int32_t x, int e) {  /* RoundingDivideByPOT on int16 (its mask is an int16 too) */
    int32_t mask = (int16_t)((1LL << e) - 1);
    int32_t rem = (int16_t)(x & mask);
    int32_t thr = (mask >> 1) + (x < 0 ? 1 : 0);
    return (int16_t)((x >> e) + (rem > thr ? 1 : 0));
}

static int32_t sat_shl16(int32_t x, int e) {
    int64_t v = (int64_t)x * ((int64_t)1 << e);
    return (int32_t)(v > INT16_MAX ? INT16_MAX : v < INT16_MIN ? INT16_MIN : v);
}

void atomnet_k_hswish(const int8_t *in, int8_t *out, int n, int in_zp, int out_zp, int out_mult16, int out_exp,
                      int rel_mult16, int rel_exp) {
    int i;
    for (i = 0; i < n; ++i) {
        int32_t x = (int16_t)((int32_t)in[i] - in_zp);
        int32_t hires = (int16_t)(x * (1 << 7));
        int32_t pre = srdhm16(hires, out_mult16);
        int32_t rel = hires, v;
        if (rel_exp > 0) rel = sat_shl16(rel, rel_exp - 1);
        rel = srdhm16(rel, rel_mult16);
        if (rel_exp > 0) rel = sat_shl16(rel, 1);
        if (rel_exp < 0) rel = rdbp16(rel, -rel_exp);
        rel = (int16_t)((rel + (1 << 15)) >> 1);
        v = rdbp16(sdhm16(rel, pre), -out_exp) + out_zp;
        out[i] = (int8_t)(v < -128 ? -128 : v > 127 ? 127 : v);
    }
}

static int32_t sat_shl32(int32_t x, int e) {
    int32_t thr = (int32_t)((1LL << (31 - e)) - 1);
    if (x > thr) return INT32_MAX;
    if (x < -thr) return INT32_MIN;
    return (int32_t)((uint32_t)x << e);
}

static int32_t exp_on_quarter(int32_t a) {  /* exp on [-1/4, 0), Q0.31 in and out (Taylor around -1/8) */
    int32_t x = a + (1 << 28);
    int32_t x2 = srdhm(x, x), x3 = srdhm(x2, x), x4 = srdhm(x2, x2);
    int32_t poly = rdbp(srdhm(rdbp(x4, 2) + x3, 715827883) + x2, 1);
    return 1895147668 + srdhm(1895147668, x + poly);
}

static int32_t exp_neg_q4(int32_t a) {  /* exp(a) for a <= 0 in Q4.27, result Q0.31 */
    static const int32_t mults[6] = {1672461947, 1302514674, 790015084, 290630308, 39332535, 720401};
    const int32_t quarter = 1 << 25;
    int32_t amq = (a & (quarter - 1)) - quarter;
    int32_t r = exp_on_quarter(sat_shl32(amq, 4));
    int32_t rem = amq - a;
    int k;
    for (k = 0; k < 6; ++k)
        if (rem & (1 << (25 + k))) r = srdhm(r, mults[k]);
    return a == 0 ? INT32_MAX : r;
}

static int32_t one_over_one_plus(int32_t a) {  /* 1/(1+a) for a in [0, 1], Q0.31 in and out */
    int64_t s = (int64_t)a + INT32_MAX;
    int32_t half = (int32_t)((s + (s >= 0 ? 1 : -1)) / 2);
    int32_t x = 1515870810 + srdhm(half, -1010580540);  /* 48/17 - 32/17 d, Q2.29 */
    int k;
    for (k = 0; k < 3; ++k) x = x + sat_shl32(srdhm(x, (1 << 29) - srdhm(half, x)), 2);
    return sat_shl32(x, 1);
}

void atomnet_k_logistic(const int8_t *in, int8_t *out, int n, int in_zp, int32_t radius, int32_t mult,
                        int left_shift) {
    int i;
    for (i = 0; i < n; ++i) {
        int32_t x = (int32_t)in[i] - in_zp, q, pos, r, v;
        if (x <= -radius) { out[i] = -128; continue; }
        if (x >= radius) { out[i] = 127; continue; }
        q = atomnet_mbqm(x, mult, left_shift);
        pos = one_over_one_plus(exp_neg_q4(q > 0 ? -q : q));
        r = q == 0 ? (1 << 30) : q > 0 ? pos : INT32_MAX - pos;
        v = rdbp(r, 23) - 128;
        out[i] = (int8_t)(v < -128 ? -128 : v > 127 ? 127 : v);
    }
}
