/* Shared by the libFuzzer targets: the parsers under test read files, so each input is written to
 * a per-process scratch file first. */
#ifndef RB_FUZZ_COMMON_H
#define RB_FUZZ_COMMON_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include "registry.h"

/* configs are read through the installed variant table, as in resbench */
__attribute__((constructor)) static void fuzz_install_variants(void) {
    variants_install();
}

static const char *fuzz_file(const uint8_t *data, size_t size, const char *suffix) {
    static char path[256];
    snprintf(path, sizeof path, "/tmp/resbench-fuzz-%d%s", (int)getpid(), suffix);
    FILE *f = fopen(path, "wb");
    if (!f) return NULL;
    if (size) fwrite(data, 1, size, f);
    fclose(f);
    return path;
}

#endif
