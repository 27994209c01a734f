/* The table of residual variants. Adding a variant = its file in variants/ (built by a glob) +
 * one line here; its options, flavour and checks live in its own table entry. */
#include "registry.h"

#include <string.h>

extern const VariantOps variant_prenorm, variant_attnres_full, variant_attnres_block,
    variant_denseformer, variant_mhc, variant_hc, variant_postnorm, variant_laurel, variant_frac,
    variant_mudd;

const VariantOps *const rb_variants[] = {&variant_prenorm,
                                         &variant_attnres_full,
                                         &variant_attnres_block,
                                         &variant_denseformer,
                                         &variant_mhc,
                                         &variant_hc,
                                         &variant_postnorm,
                                         &variant_laurel,
                                         &variant_frac,
                                         &variant_mudd,
                                         NULL};

int variants_install(void) {
    return config_use_variants(rb_variants);
}

const VariantOps *variant_find(const char *name) {
    for (int i = 0; rb_variants[i]; i++)
        if (strcmp(rb_variants[i]->name, name) == 0) return rb_variants[i];
    return NULL;
}

const char *variant_names(void) {
    static char buf[512];
    buf[0] = 0;
    for (int i = 0; rb_variants[i]; i++) {
        if (i) strncat(buf, "|", sizeof buf - strlen(buf) - 1);
        strncat(buf, rb_variants[i]->name, sizeof buf - strlen(buf) - 1);
    }
    return buf;
}
