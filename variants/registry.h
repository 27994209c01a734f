/* The table of residual variants (variants/registry.c). The command layer installs it into the
 * core's config once (variants_install) before reading any config; the core sees variants only
 * through that table and the interface it owns (core/variant.h). */
#ifndef RB_REGISTRY_H
#define RB_REGISTRY_H
#include "variant.h"

extern const VariantOps *const rb_variants[]; /* NULL-terminated, in the order of --help */
/* Hands rb_variants to config_use_variants: 0, or -1 with rb_error(). */
int variants_install(void);
const VariantOps *variant_find(const char *name);
const char *variant_names(void); /* "a|b|c" */

#endif
