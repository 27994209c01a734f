/* The CSV reader used by plot, ablate, fit and report, and the claim measurements on top of it:
 * the input is a CSV file. */
#include <math.h>

#include "claims.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_file(data, size, ".csv");
    CsvTable t;
    if (!path || csv_load(path, &t) != 0) return 0;
    for (size_t r = 0; r < csv_nrows(&t); r++)
        for (size_t c = 0; c < t.ncols; c++) {
            const char *cell = csv_cell(&t, r, (int)c);
            if (!cell) __builtin_trap();
            (void)csv_num(&t, r, (int)c);
        }
    (void)csv_col(&t, "step");
    (void)profile_growth(&t);
    (void)profile_grad_cv(&t);
    int hops;
    (void)eval_accuracy(&t, 0, &hops);
    csv_table_free(&t);
    return 0;
}
