/* INI config files and key=value overrides: the input is an INI text, optionally followed by a
 * line "--" and one key=value argument per line. */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = 0;
    char *args = strstr(text, "\n--\n");
    if (args) *args = 0;
    Config c;
    config_defaults(&c);
    const char *path = fuzz_file((const uint8_t *)text, strlen(text), ".ini");
    int ok = path && config_load_ini(&c, path) == 0;
    for (char *line = args ? args + 4 : NULL; ok && line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        ok = config_apply_arg(&c, line) == 0;
        line = nl ? nl + 1 : NULL;
    }
    if (ok && config_validate(&c) == 0) {
        char *ini = config_to_ini(&c);
        Config back;
        config_defaults(&back);
        const char *p2 = fuzz_file((const uint8_t *)ini, strlen(ini), ".ini");
        if (p2 && (config_load_ini(&back, p2) != 0 || config_hash(&back) != config_hash(&c)))
            abort(); /* a valid config must round-trip through its resolved INI */
        free(ini);
    }
    free(text);
    return 0;
}
