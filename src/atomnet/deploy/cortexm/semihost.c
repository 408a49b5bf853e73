#include "semihost.h"

static int semihost_call(int op, void *arg) {
    register int r0 __asm("r0") = op;
    register void *r1 __asm("r1") = arg;
    __asm volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void atomnet_puts(const char *s) { semihost_call(0x04, (void *)s); /* SYS_WRITE0 */ }

void atomnet_exit(int code) {
    /* SYS_EXIT_EXTENDED: ADP_Stopped_ApplicationExit with the status, so QEMU exits with it. */
    uint32_t block[2] = {0x20026u, (uint32_t)code};
    semihost_call(0x20, block);
    for (;;) {
    }
}
