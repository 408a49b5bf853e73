/* Per-layer timing hooks for the generated model.c (-DATOMNET_HOOKS_HEADER=\"hooks.h\").
 * The CMSDK APB timer 0 (0x40000000) counts down at the MPS2 board clock, 25 MHz; under
 * qemu -icount shift=0 one instruction is 1 ns of virtual time, so one tick = 40 instructions. */
#ifndef ATOMNET_HOOKS_H
#define ATOMNET_HOOKS_H
#include <stdint.h>
#define ATOMNET_MAX_LAYERS 4096
#define ATOMNET_TIMER_VALUE (*(volatile uint32_t *)0x40000004u)
extern uint32_t atomnet_layer_ticks[ATOMNET_MAX_LAYERS];
extern uint32_t atomnet_layer_t0;
/* complete statements (model.c writes them without a semicolon) */
#define ATOMNET_LAYER_BEGIN(i) atomnet_layer_t0 = ATOMNET_TIMER_VALUE;
#define ATOMNET_LAYER_END(i) \
    atomnet_layer_ticks[(i) < ATOMNET_MAX_LAYERS ? (i) : 0] += atomnet_layer_t0 - ATOMNET_TIMER_VALUE;
#endif
