/* atomnet int8 kernels (C99, no dependencies), arithmetic as TFLite Micro's reference kernels. */
#ifndef ATOMNET_K_H
#define ATOMNET_K_H
#include <stdint.h>
int32_t atomnet_mbqm(int32_t x, int32_t mult, int shift);
void atomnet_k_conv(const int8_t *in, int ih, int iw, int ic, int in_zp, const int8_t *w, const int32_t *bias,
                    int kh, int kw, int sh, int sw, int ph, int pw, int8_t *out, int oh, int ow, int oc,
                    int out_zp, const int32_t *mult, const int32_t *shift, int amin, int amax);
void atomnet_k_dwconv(const int8_t *in, int ih, int iw, int ic, int in_zp, const int8_t *w, const int32_t *bias,
                      int kh, int kw, int sh, int sw, int ph, int pw, int dm, int8_t *out, int oh, int ow,
                      int out_zp, const int32_t *mult, const int32_t *shift, int amin, int amax);
void atomnet_k_fc(const int8_t *in, int batches, int depth, int in_zp, const int8_t *w, int w_zp,
                  const int32_t *bias, int8_t *out, int units, int out_zp, const int32_t *mult, const int32_t *shift,
                  int amin, int amax);
void atomnet_k_avgpool(const int8_t *in, int ih, int iw, int c, int fh, int fw, int sh, int sw, int ph, int pw,
                       int8_t *out, int oh, int ow, int amin, int amax);
void atomnet_k_copy(const int8_t *in, int8_t *out, int n);
void atomnet_k_softmax(const int8_t *in, int8_t *out, int rows, int depth, int32_t in_mult, int in_left_shift,
                       int diff_min);
void atomnet_k_add(const int8_t *a, const int8_t *b, int8_t *out, int n, int a_off, int b_off, int out_off,
                   int left_shift, int32_t am, int as, int32_t bm, int bs, int32_t om, int os, int amin, int amax);
void atomnet_k_mean_hw(const int8_t *in, int hw, int c, int8_t *out, int in_zp, int32_t mult, int shift,
                       int out_zp);
void atomnet_k_mul(const int8_t *a, const int8_t *b, int8_t *out, const int32_t *g, int a_off, int b_off,
                   int out_off, int32_t mult, int shift, int amin, int amax);
void atomnet_k_pad(const int8_t *in, int8_t *out, const int32_t *g, int value);
void atomnet_k_hswish(const int8_t *in, int8_t *out, int n, int in_zp, int out_zp, int out_mult16, int out_exp,
                      int rel_mult16, int rel_exp);
void atomnet_k_logistic(const int8_t *in, int8_t *out, int n, int in_zp, int32_t radius, int32_t mult,
                        int left_shift);
void atomnet_k_dwconv_inplace(int8_t *buf, int ih, int iw, int cn, int in_zp, const int8_t *w, const int32_t *bias, int kh, int kw, int sh, int sw, int ph, int pw, int oh, int ow, int out_zp, const int32_t *mult, const int32_t *shift, int amin, int amax, int8_t *scratch);
#endif
