/* Allocation calls so far by the code linked into this test binary (tests/alloc_count.c). */
#ifndef RB_ALLOC_COUNT_H
#define RB_ALLOC_COUNT_H
#include <stddef.h>

long tu_alloc_calls(void);

#endif
