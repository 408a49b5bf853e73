/* atomnet int8 PAD / PADV2 over a 4-D tensor with a constant value (the output zero point, or PADV2's constant):
   values are copied unchanged, as in TFLite Micro. Written for atomnet. */
#include "atomnet_k.h"

/* g: input dims i0..i3, pads before p0..p3, output dims o0..o3. The output is filled from its last element to its
   first: an input element never lies after its place in the padded output, so in == out (in place) is safe. */
void atomnet_k_pad(const int8_t *in, int8_t *out, const int32_t *g, int value) {
    long n = (long)g[8] * g[9] * g[10] * g[11], o;
    for (o = n - 1; o >= 0; --o) {
        long r = o;
        long x3 = r % g[11] - g[7], x2, x1, x0;
        r /= g[11];
        x2 = r % g[10] - g[6];
        r /= g[10];
        x1 = r % g[9] - g[5];
        x0 = r / g[9] - g[4];
        if (x0 < 0 || x0 >= g[0] || x1 < 0 || x1 >= g[1] || x2 < 0 || x2 >= g[2] || x3 < 0 || x3 >= g[3])
            out[o] = (int8_t)value;
        else
            out[o] = in[((x0 * g[1] + x1) * g[2] + x2) * g[3] + x3];
    }
}
