/* atomnet int8 MUL with 4-D broadcasting (same shapes, a constant scalar, the SE gate [1,1,1,C] x [1,H,W,C] in
   either order). Arithmetic of TFLite Micro's reference kernel: offsets added to both inputs, the int32 product
   rescaled once by s1*s2/so (computed in double by the generator), output offset, activation clamp.
   Written for atomnet. */
#include "atomnet_k.h"

/* g: output dims d0..d3, then the element strides of a (4) and of b (4); a stride of 0 broadcasts that axis.
   Output elements are visited in increasing order and each is written after its inputs are read, so out may be
   the same buffer as a full-size input (in place). */
void atomnet_k_mul(const int8_t *a, const int8_t *b, int8_t *out, const int32_t *g, int a_off, int b_off,
                   int out_off, int32_t mult, int shift, int amin, int amax) {
    long i0, i1, i2, i3, o = 0;
    for (i0 = 0; i0 < g[0]; ++i0) for (i1 = 0; i1 < g[1]; ++i1) for (i2 = 0; i2 < g[2]; ++i2) {
        const int8_t *pa = a + i0 * g[4] + i1 * g[5] + i2 * g[6];
        const int8_t *pb = b + i0 * g[8] + i1 * g[9] + i2 * g[10];
        for (i3 = 0; i3 < g[3]; ++i3, ++o) {
            int32_t x = (int32_t)pa[i3 * g[7]] + a_off, y = (int32_t)pb[i3 * g[11]] + b_off;
            int32_t v = atomnet_mbqm(x * y, mult, shift) + out_off;
            out[o] = (int8_t)(v < amin ? amin : v > amax ? amax : v);
        }
    }
}
