/* atomnet fixed-point helpers shared by the int8 kernels (written for atomnet): the saturating rounding doubling
   high multiply and the rounding divide by a power of two that TFLite Micro's requantization uses. */
#ifndef ATOMNET_K_FIXED_H
#define ATOMNET_K_FIXED_H
#include <stdint.h>

static inline int32_t srdhm(int32_t a, int32_t b) {
    int64_t ab, nudge;
    if (a == b && a == INT32_MIN) return INT32_MAX;
    ab = (int64_t)a * (int64_t)b;
    nudge = ab >= 0 ? (1LL << 30) : (1 - (1LL << 30));
    return (int32_t)((ab + nudge) / (1LL << 31));
}

static inline int32_t rdbp(int32_t x, int e) {
    int32_t mask = (int32_t)((1LL << e) - 1);
    int32_t rem = x & mask;
    int32_t thr = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> e) + (rem > thr ? 1 : 0);
}

#endif
