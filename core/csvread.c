#include "csvread.h"

#include <csv.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static void on_field(void *data, size_t len, void *user) {
    CsvTable *t = user;
    if (t->rows == 0) { /* header row: columns are counted as they come */
        t->ncols = t->cur_col + 1;
    } else if (t->cur_col >= t->ncols) {
        t->bad = 1;
        return;
    }
    size_t idx = t->rows * (t->ncols ? t->ncols : 1) + t->cur_col;
    if (t->rows == 0) idx = t->cur_col;
    if (idx >= t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 256;
        while (cap <= idx) cap *= 2;
        char **grown = rb_realloc(t->cells, cap * sizeof(char *), "reading CSV");
        memset(grown + t->cap, 0, (cap - t->cap) * sizeof(char *));
        t->cells = grown;
        t->cap = cap;
    }
    char *s = malloc(len + 1);
    if (!s) rb_out_of_memory("reading CSV");
    memcpy(s, data, len);
    s[len] = 0;
    t->cells[idx] = s;
    t->cur_col++;
}

static void on_row(int c, void *user) {
    CsvTable *t = user;
    (void)c;
    if (t->rows > 0 && t->cur_col != t->ncols) t->bad = 1;
    t->rows++;
    t->cur_col = 0;
}

int csv_load(const char *path, CsvTable *t) {
    memset(t, 0, sizeof *t);
    char *buf;
    size_t n;
    if (rb_read_file(path, &buf, &n) != 0) return -1;
    struct csv_parser p;
    csv_init(&p, CSV_APPEND_NULL);
    int ok =
        csv_parse(&p, buf, n, on_field, on_row, t) == n && csv_fini(&p, on_field, on_row, t) == 0;
    csv_free(&p);
    free(buf);
    if (!ok || t->bad || t->rows == 0) {
        csv_table_free(t);
        return rb_fail(
            "%s: malformed CSV (a row has a different number of columns than the header, "
            "or the file is empty)",
            path);
    }
    return 0;
}

void csv_table_free(CsvTable *t) {
    for (size_t i = 0; i < t->cap; i++) free(t->cells[i]);
    free(t->cells);
    memset(t, 0, sizeof *t);
}

int csv_col(const CsvTable *t, const char *name) {
    for (size_t c = 0; c < t->ncols; c++)
        if (t->cells[c] && strcmp(t->cells[c], name) == 0) return (int)c;
    return -1;
}

size_t csv_nrows(const CsvTable *t) {
    return t->rows ? t->rows - 1 : 0;
}

const char *csv_cell(const CsvTable *t, size_t r, int col) {
    if (col < 0 || r + 1 >= t->rows) return "";
    const char *s = t->cells[(r + 1) * t->ncols + (size_t)col];
    return s ? s : "";
}

double csv_num(const CsvTable *t, size_t r, int col) {
    const char *s = csv_cell(t, r, col);
    char *end;
    double v = strtod(s, &end);
    return end == s ? NAN : v;
}

int csv_int(const CsvTable *t, size_t r, int col, int fallback) {
    double v = csv_num(t, r, col);
    return isfinite(v) && fabs(v) <= 1e9 ? (int)v : fallback;
}
