/* Counts the allocation calls of the code linked statically into a test binary (core, variants,
 * the test itself): the link wraps malloc, calloc, realloc, aligned_alloc and posix_memalign
 * (-Wl,--wrap=..., tests/CMakeLists.txt), so every such call passes through here on its way to
 * the real allocator (glibc's, or the sanitizer's or valgrind's that replaced it). A malloc/free
 * pair counts although it leaves the heap as it was. Calls inside shared libraries (OpenBLAS,
 * oneDNN, libgomp, libc's own strdup) are not seen. */
#include "alloc_count.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t k, size_t n);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t align, size_t n);
int __real_posix_memalign(void **p, size_t align, size_t n);

static long calls; /* updated atomically: OpenMP threads allocate too */

long tu_alloc_calls(void) {
    return __atomic_load_n(&calls, __ATOMIC_SEQ_CST);
}

static void count(void) {
    __atomic_add_fetch(&calls, 1, __ATOMIC_SEQ_CST);
}

void *__wrap_malloc(size_t n) {
    count();
    return __real_malloc(n);
}
void *__wrap_calloc(size_t k, size_t n) {
    count();
    return __real_calloc(k, n);
}
void *__wrap_realloc(void *p, size_t n) {
    count();
    return __real_realloc(p, n);
}
void *__wrap_aligned_alloc(size_t align, size_t n) {
    count();
    return __real_aligned_alloc(align, n);
}
int __wrap_posix_memalign(void **p, size_t align, size_t n) {
    count();
    return __real_posix_memalign(p, align, n);
}
