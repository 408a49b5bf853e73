/* ARM semihosting (bkpt 0xAB) as QEMU implements it: console output and exit with a status. */
#ifndef ATOMNET_SEMIHOST_H
#define ATOMNET_SEMIHOST_H
#include <stdint.h>
void atomnet_puts(const char *s);
void atomnet_exit(int code);
#endif
