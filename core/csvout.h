/* CSV output through libcsv (fields quoted only when they need it), flushed after every row. */
#ifndef RB_CSVOUT_H
#define RB_CSVOUT_H
#include <stdio.h>

typedef struct {
    FILE *f;
    char path[4096];
    char final_path[4096]; /* csv_open_atomic: renamed to this by csv_commit */
    int ncols;
} CsvOut;

/* append = 1 keeps existing rows (resume) and writes the header only for a new file; an existing
 * file whose first line is not HEADER is refused (appending would make it ragged). */
int csv_open(CsvOut *c, const char *path, const char *const header[], int ncols, int append);
/* 0 when PATH is absent, empty or starts with HEADER; else -1 with the two headers in rb_error. */
int csv_check_header(const char *path, const char *const header[], int ncols);
/* A results file written whole: rows go to PATH.tmp, which csv_commit renames to PATH (a killed
 * command leaves the previous PATH intact). */
int csv_open_atomic(CsvOut *c, const char *path, const char *const header[], int ncols);
int csv_commit(CsvOut *c);
/* NULL fields are written empty. */
int csv_row(CsvOut *c, const char *const fields[]);
void csv_close(CsvOut *c);
/* Rewrite PATH keeping the header and the rows whose first column (an integer) is <= max_step. */
int csv_truncate_after(const char *path, long max_step);

#endif
