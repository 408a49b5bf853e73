/* Startup code for the emulated MPS2 boards (QEMU -M mps2-an500 / mps2-an386), written for atomnet.
 * Vector table, .data copy, .bss zeroing, FPU enable, stack painting for the high-water mark. */
#include <stdint.h>

extern uint32_t __data_load, __data_start, __data_end, __bss_start, __bss_end;
extern uint32_t __stack_limit, __stack_top;
extern int main(void);
void atomnet_exit(int code);

#define ATOMNET_STACK_PAINT 0xA5A5A5A5u

static void default_handler(void) {
    atomnet_exit(3); /* any fault ends the run with a distinct code */
}

void Reset_Handler(void);
void NMI_Handler(void) __attribute__((weak, alias("default_handler")));
void HardFault_Handler(void) __attribute__((weak, alias("default_handler")));
void MemManage_Handler(void) __attribute__((weak, alias("default_handler")));
void BusFault_Handler(void) __attribute__((weak, alias("default_handler")));
void UsageFault_Handler(void) __attribute__((weak, alias("default_handler")));

__attribute__((section(".vectors"), used)) static void (*const vectors[16])(void) = {
    (void (*)(void))(&__stack_top), Reset_Handler, NMI_Handler, HardFault_Handler,
    MemManage_Handler, BusFault_Handler, UsageFault_Handler, 0, 0, 0, 0,
    default_handler, default_handler, 0, default_handler, default_handler,
};

__attribute__((naked, noreturn)) void Reset_Handler(void) {
    /* Paint the whole stack before anything uses it (naked: no frame yet), then set up memory in C. */
    __asm volatile(
        "ldr r0, =__stack_limit\n"
        "ldr r1, =__stack_top\n"
        "ldr r2, =0xA5A5A5A5\n"
        "1: cmp r0, r1\n"
        "bhs 2f\n"
        "str r2, [r0], #4\n"
        "b 1b\n"
        "2: bl atomnet_c_start\n"
        "b .\n");
}

__attribute__((noreturn, used)) void atomnet_c_start(void) {
    uint32_t *src = &__data_load, *dst = &__data_start;
    while (dst < &__data_end) *dst++ = *src++;
    for (dst = &__bss_start; dst < &__bss_end; ++dst) *dst = 0;
#if defined(__ARM_FP)
    *(volatile uint32_t *)0xE000ED88u |= (0xFu << 20); /* CPACR: CP10/CP11 full access */
    __asm volatile("dsb\n isb");
#endif
    atomnet_exit(main());
    for (;;) {
    }
}

uint32_t atomnet_stack_used_bytes(void) {
    const uint32_t *p = &__stack_limit;
    while (p < &__stack_top && *p == ATOMNET_STACK_PAINT) ++p;
    return (uint32_t)((const char *)&__stack_top - (const char *)p);
}

uint32_t atomnet_stack_size_bytes(void) {
    return (uint32_t)((const char *)&__stack_top - (const char *)&__stack_limit);
}
