#include "buildinfo.h"

#include <cblas.h>
#include <stdio.h>
#include <string.h>

#include "rb_git_rev.h" /* generated at every build (cmake/git_rev.cmake) */

#ifndef RESBENCH_BUILD_TYPE
#define RESBENCH_BUILD_TYPE "unknown"
#endif
#ifndef RESBENCH_BUILD_FLAGS
#define RESBENCH_BUILD_FLAGS "unknown"
#endif
#if defined(__clang__)
#define RB_COMPILER "clang " __clang_version__
#elif defined(__GNUC__)
#define RB_COMPILER "gcc " __VERSION__
#else
#define RB_COMPILER "unknown"
#endif
#ifdef RESBENCH_MPI
#define RB_MPI "on"
#else
#define RB_MPI "off"
#endif

const char *rb_git_rev(void) {
    return RB_GIT_REV;
}

/* One line of at most n - 1 characters: control characters become spaces, ends are trimmed. */
static void one_line(char *out, size_t n, const char *s) {
    if (!s) s = "";
    while (*s == ' ') s++;
    size_t k = 0;
    for (; s[k] && k + 1 < n; k++) out[k] = (unsigned char)s[k] < 0x20 ? ' ' : s[k];
    while (k > 0 && out[k - 1] == ' ') k--;
    out[k] = 0;
    if (!k) snprintf(out, n, "unknown");
}

void rb_build_facts(BuildFact *f) {
    const char *keys[RB_BUILD_FACTS] = {"git_rev", "build_type", "build_flags", "compiler",
                                        "mpi",     "blas",       "blas_core"};
    const char *values[RB_BUILD_FACTS] = {
        RB_GIT_REV, RESBENCH_BUILD_TYPE,   RESBENCH_BUILD_FLAGS,   RB_COMPILER,
        RB_MPI,     openblas_get_config(), openblas_get_corename()};
    for (int i = 0; i < RB_BUILD_FACTS; i++) {
        f[i].key = keys[i];
        one_line(f[i].value, sizeof f[i].value, values[i]);
    }
}
