/* Runs the generated model once on the embedded input and reports over semihosting:
 *   ATOMNET rc <rc>
 *   TICKS <total>            (timer ticks around atomnet_invoke)
 *   LAYER <i> <ticks>        (one line per layer)
 *   STACK <used> <size>      (painted-stack high-water mark, bytes)
 *   OUT <hex bytes>
 *   END                                                                                 */
#include <stdint.h>
#include <string.h>

#include "hooks.h"
#include "model.h"
#include "semihost.h"

extern const int8_t atomnet_test_input[ATOMNET_INPUT_BYTES];
uint32_t atomnet_stack_used_bytes(void);
uint32_t atomnet_stack_size_bytes(void);
uint32_t atomnet_layer_ticks[ATOMNET_MAX_LAYERS];
uint32_t atomnet_layer_t0;

static char line[160];

static char *put_u32(char *p, uint32_t v) {
    char tmp[11];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v);
    while (n) *p++ = tmp[--n];
    return p;
}

static void put_kv(const char *key, uint32_t a, int two, uint32_t b) {
    char *p = line;
    while (*key) *p++ = *key++;
    *p++ = ' ';
    p = put_u32(p, a);
    if (two) {
        *p++ = ' ';
        p = put_u32(p, b);
    }
    *p++ = '\n';
    *p = 0;
    atomnet_puts(line);
}

int main(void) {
    volatile uint32_t *timer = (volatile uint32_t *)0x40000000u; /* CMSDK APB timer 0 */
    timer[2] = 0xFFFFFFFFu;                                      /* RELOAD */
    timer[1] = 0xFFFFFFFFu;                                      /* VALUE */
    timer[0] = 1u;                                               /* CTRL: enable */
    memcpy(atomnet_input(), atomnet_test_input, ATOMNET_INPUT_BYTES);
    uint32_t t0 = ATOMNET_TIMER_VALUE;
    int rc = atomnet_invoke();
    uint32_t t1 = ATOMNET_TIMER_VALUE;
    put_kv("ATOMNET rc", (uint32_t)rc, 0, 0);
    put_kv("TICKS", t0 - t1, 0, 0);
    for (uint32_t i = 0; i < ATOMNET_NUM_LAYERS && i < ATOMNET_MAX_LAYERS; ++i)
        put_kv("LAYER", i, 1, atomnet_layer_ticks[i]);
    put_kv("STACK", atomnet_stack_used_bytes(), 1, atomnet_stack_size_bytes());
    static const char hex[] = "0123456789abcdef";
    const uint8_t *out = (const uint8_t *)atomnet_output();
    uint32_t n = ATOMNET_OUTPUT_BYTES, i = 0;
    atomnet_puts("OUT ");
    while (i < n) {
        char *p = line;
        for (uint32_t k = 0; k < 64 && i < n; ++k, ++i) {
            *p++ = hex[out[i] >> 4];
            *p++ = hex[out[i] & 15u];
        }
        *p = 0;
        atomnet_puts(line);
    }
    atomnet_puts("\nEND\n");
    return rc;
}
