#include "csvout.h"

#include <csv.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

static int write_field(FILE *f, const char *s) {
    if (strpbrk(s, ",\"\r\n")) return csv_fwrite(f, s, strlen(s));
    return fputs(s, f) < 0 ? -1 : 0;
}

static int write_row(CsvOut *c, const char *const fields[]) {
    for (int i = 0; i < c->ncols; i++) {
        if (i && fputc(',', c->f) == EOF) return -1;
        if (fields[i] && write_field(c->f, fields[i]) != 0) return -1;
    }
    if (fputc('\n', c->f) == EOF || fflush(c->f) != 0) return -1;
    return 0;
}

static int check_header(FILE *probe, const char *path, const char *const header[], int ncols) {
    char line[4096], want[4096];
    size_t w = 0;
    for (int i = 0; i < ncols && w < sizeof want; i++)
        w += (size_t)snprintf(want + w, sizeof want - w, "%s%s", i ? "," : "", header[i]);
    if (!fgets(line, sizeof line, probe)) return 0; /* empty: the header is written below */
    line[strcspn(line, "\r\n")] = 0;
    if (!strcmp(line, want)) return 0;
    return rb_fail("%s: its columns (%s) are not this resbench's (%s): the run was written by "
                   "another version; finish it with that version or start a new run",
                   path, line, want);
}

int csv_check_header(const char *path, const char *const header[], int ncols) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int bad = check_header(f, path, header, ncols);
    fclose(f);
    return bad;
}

int csv_open(CsvOut *c, const char *path, const char *const header[], int ncols, int append) {
    memset(c, 0, sizeof *c);
    rb_copy_str(c->path, sizeof c->path, path);
    c->ncols = ncols;
    FILE *probe = append ? fopen(path, "r") : NULL;
    int exists = 0;
    if (probe) {
        int bad = check_header(probe, path, header, ncols);
        exists = ftell(probe) > 0;
        fclose(probe);
        if (bad) return -1;
    }
    c->f = fopen(path, append ? "a" : "w");
    if (!c->f) return rb_fail("cannot write %s: %s", path, strerror(errno));
    if (!exists && write_row(c, header) != 0)
        return rb_fail("cannot write %s: %s", path, strerror(errno));
    return 0;
}

int csv_open_atomic(CsvOut *c, const char *path, const char *const header[], int ncols) {
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return rb_fail("path too long: %s", path);
    if (csv_open(c, tmp, header, ncols, 0) != 0) return -1;
    rb_copy_str(c->final_path, sizeof c->final_path, path);
    return 0;
}

int csv_commit(CsvOut *c) {
    int bad = !c->f || fflush(c->f) != 0 || fsync(fileno(c->f)) != 0;
    int err = errno;
    if (c->f && fclose(c->f) != 0 && !bad) {
        bad = 1;
        err = errno;
    }
    c->f = NULL;
    if (bad) {
        unlink(c->path);
        return rb_fail("cannot write %s: %s", c->final_path, strerror(err));
    }
    if (rename(c->path, c->final_path) != 0) {
        err = errno;
        unlink(c->path);
        return rb_fail("cannot rename %s to %s: %s", c->path, c->final_path, strerror(err));
    }
    return rb_fsync_dir(c->final_path);
}

int csv_row(CsvOut *c, const char *const fields[]) {
    if (write_row(c, fields) != 0) return rb_fail("cannot write %s: %s", c->path, strerror(errno));
    return 0;
}

void csv_close(CsvOut *c) {
    if (c->f) fclose(c->f);
    c->f = NULL;
}

int csv_truncate_after(const char *path, long max_step) {
    char *buf;
    size_t n;
    if (rb_read_file(path, &buf, &n) != 0) return 0; /* nothing written yet: nothing to drop */
    char *out = rb_calloc(n + 1, 1, "csv");
    size_t len = 0;
    int line = 0;
    for (char *p = buf; *p;) {
        char *nl = strchr(p, '\n');
        size_t l = nl ? (size_t)(nl - p + 1) : strlen(p);
        int keep = line == 0 || (nl && strtol(p, NULL, 10) <= max_step); /* drop a torn last line */
        if (keep) {
            memcpy(out + len, p, l);
            len += l;
        }
        p += l;
        line++;
    }
    int rc = rb_write_file_atomic(path, out, len);
    free(out);
    free(buf);
    return rc;
}
