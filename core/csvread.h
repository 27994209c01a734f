/* Reading resbench's CSV files (libcsv parser): a whole file as a table of strings. */
#ifndef RB_CSVREAD_H
#define RB_CSVREAD_H
#include <stddef.h>

typedef struct {
    char **cells; /* rows x ncols, row-major; row 0 is the header */
    size_t rows, ncols, cap;
    size_t cur_col; /* parser state */
    int bad;
} CsvTable;

/* Loads PATH; every row must have the header's column count. -1 with rb_error() on failure. */
int csv_load(const char *path, CsvTable *t);
void csv_table_free(CsvTable *t);
/* Index of a header column, or -1. */
int csv_col(const CsvTable *t, const char *name);
/* Cell of data row r (0-based, header excluded) as text / number (NAN when empty). */
const char *csv_cell(const CsvTable *t, size_t r, int col);
double csv_num(const CsvTable *t, size_t r, int col);
size_t csv_nrows(const CsvTable *t); /* data rows */
/* The cell as an integer, or `fallback` when it is empty, not finite or beyond +-1e9 (a cast of
 * such a value would be undefined). */
int csv_int(const CsvTable *t, size_t r, int col, int fallback);

#endif
