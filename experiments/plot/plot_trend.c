/* `resbench plot --trend KEY --out DIR EXP...`: the paired delta of every variant to prenorm (final
 * validation loss, mean of the per-seed differences with its 95% t interval, Holm's verdict inside
 * each experiment) against a design key that the experiments vary, e.g. n_layer across the depth
 * ablations of campaign part 2. The experiments must agree on every other trajectory key. Writes
 * DIR/trend_KEY.csv, one trend_KEY_VARIANT.dat per variant and the figure trend_KEY.{png,svg}. */
#define _GNU_SOURCE /* open_memstream */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plot.h"
#include "results.h"
#include "util.h"

#define TREND_MAX_EXPS 32

typedef struct {
    double x;
    AblationTable t;
} TrendPoint;

/* The first run of e with a config and the baseline variant (its design stands for e's). */
static const ExpRun *baseline_run(const ExpResults *e) {
    for (int i = 0; i < e->n; i++)
        if (e->runs[i].has_cfg && !strcmp(exp_arm(&e->runs[i]), RB_BASELINE)) return &e->runs[i];
    return NULL;
}

/* Every trajectory key but KEY, seed and variant must agree with the first experiment's. */
static int check_same_design(const ExpRun *a, const ExpRun *b, const char *key, const char *da,
                             const char *db) {
    ConfigDiff d[64];
    int n = config_differences(&a->cfg, &b->cfg, CONFIG_TRAJECTORY, d, 64);
    for (int k = 0; k < n; k++) {
        if (!strcmp(d[k].key, key) || !strcmp(d[k].key, "seed")) continue;
        return rb_fail("plot --trend %s: %s and %s also differ in %s (%s vs %s); a trend varies "
                       "one key",
                       key, da, db, d[k].key, d[k].a, d[k].b);
    }
    return 0;
}

static int load_point(const char *dir, const char *key, TrendPoint *p, const ExpRun **first,
                      const char **first_dir, ExpResults *keep) {
    if (results_load(dir, "plot --trend", keep) != 0) return -1;
    const ExpRun *b = baseline_run(keep);
    if (!b)
        return rb_fail("plot --trend: %s has no finished %s run with a config.ini (the deltas are "
                       "to %s)",
                       dir, RB_BASELINE, RB_BASELINE);
    char v[64], *end;
    if (config_format_key(&b->cfg, key, v, sizeof v) != 0)
        return rb_fail("plot --trend: unknown key '%s' (see resbench train --help)", key);
    p->x = strtod(v, &end);
    if (end == v || *end || !isfinite(p->x))
        return rb_fail("plot --trend %s: %s has %s = %s, not a number", key, dir, key, v);
    if (*first && check_same_design(*first, b, key, *first_dir, dir) != 0) return -1;
    if (!*first) {
        *first = b;
        *first_dir = dir;
    }
    ablation_table(keep->runs, keep->n, (const char(*)[RB_ARM_MAX])keep->variants, keep->nv, &p->t);
    return 0;
}

static int cmp_x(const void *a, const void *b) {
    double d = ((const TrendPoint *)a)->x - ((const TrendPoint *)b)->x;
    return (d > 0) - (d < 0);
}

/* The arms compared with prenorm in any experiment, in order of first appearance; names holds
 * one per row of every table. */
static int trend_variants(const TrendPoint *pts, int n, char (*names)[RB_ARM_MAX]) {
    int nv = 0;
    for (int i = 0; i < n; i++)
        for (int r = 0; r < pts[i].t.n; r++) {
            const AblationRow *w = &pts[i].t.rows[r];
            int k = 0;
            while (k < nv && strcmp(names[k], w->name)) k++;
            if (w->compared && k == nv) rb_copy_str(names[nv++], RB_ARM_MAX, w->name);
        }
    return nv;
}

/* DIR/trend_KEY.csv and one .dat per variant (x, delta, lo, hi, decided after Holm). */
static int write_trend(const char *out, const char *key, const TrendPoint *pts, int n,
                       char (*names)[RB_ARM_MAX], int nv) {
    char path[4300], *text = NULL;
    size_t len = 0;
    snprintf(path, sizeof path, "%s/trend_%s.csv", out, key);
    FILE *csv = open_memstream(&text, &len); /* written whole, atomically, below */
    if (!csv) return rb_fail("plot --trend: out of memory");
    fprintf(csv, "%s,variant,pairs,delta,lo,hi,p_holm,verdict_holm\n", key);
    for (int i = 0; i < n; i++)
        for (int r = 0; r < pts[i].t.n; r++) {
            const AblationRow *w = &pts[i].t.rows[r];
            if (!w->compared) continue;
            const Comparison *c = &w->c;
            fprintf(csv, "%.17g,", pts[i].x);
            if (strpbrk(w->name, ",\"")) { /* an arm's options are comma-separated */
                fputc('"', csv);
                for (const char *q = w->name; *q; q++) fprintf(csv, *q == '"' ? "\"\"" : "%c", *q);
                fputc('"', csv);
            } else {
                fputs(w->name, csv);
            }
            fprintf(csv, ",%d,%.6f,%.6f,%.6f,%.6g,%s\n", c->n, c->delta, c->delta - c->half_width,
                    c->delta + c->half_width, c->p_holm, verdict_name(c->verdict_holm));
        }
    fclose(csv);
    int rc = rb_write_file_atomic(path, text, len);
    free(text);
    if (rc != 0) return -1;
    for (int k = 0; k < nv; k++) {
        char file[RB_ARM_MAX]; /* the arm as a file name */
        if (exp_arm_file_name(file, sizeof file, names[k]) != 0) return -1;
        snprintf(path, sizeof path, "%s/trend_%s_%s.dat", out, key, file);
        FILE *f = fopen(path, "w"); /* figure data, like plot's .dat files */
        if (!f) return rb_fail("plot --trend: cannot write %s", path);
        fprintf(f, "# %s delta lo hi decided_after_holm (%s vs %s, final validation loss)\n", key,
                names[k], RB_BASELINE);
        for (int i = 0; i < n; i++)
            for (int r = 0; r < pts[i].t.n; r++) {
                const AblationRow *w = &pts[i].t.rows[r];
                if (!w->compared || strcmp(w->name, names[k])) continue;
                const Comparison *c = &w->c;
                fprintf(f, "%.17g %.6f %.6f %.6f %d\n", pts[i].x, c->delta,
                        c->delta - c->half_width, c->delta + c->half_width,
                        c->verdict_holm == VD_REPRODUCED || c->verdict_holm == VD_OPPOSITE);
            }
        if (fclose(f) != 0) return rb_fail("plot --trend: cannot write %s", path);
    }
    return 0;
}

int plot_trend(const char *key, const char *const *dirs, int ndirs, const char *out) {
    if (!out) return rb_fail("plot --trend: give --out DIR (the figure spans several experiments)");
    if (ndirs < 2 || ndirs > TREND_MAX_EXPS)
        return rb_fail("plot --trend %s: give 2 to %d experiment directories (got %d)", key,
                       TREND_MAX_EXPS, ndirs);
    static TrendPoint pts[TREND_MAX_EXPS];
    memset(pts, 0, sizeof pts);
    const ExpRun *first = NULL;
    const char *first_dir = NULL;
    ExpResults *keep = rb_calloc((size_t)ndirs, sizeof(ExpResults), "trend");
    int rc = 0, loaded = 0;
    for (int i = 0; i < ndirs && rc == 0; i++, loaded++)
        rc = load_point(dirs[i], key, &pts[i], &first, &first_dir, &keep[i]);
    for (int i = 1; i < ndirs && rc == 0; i++)
        for (int j = 0; j < i; j++)
            if (pts[i].x == pts[j].x)
                rc = rb_fail("plot --trend %s: %s and %s both have %s = %g", key, dirs[j], dirs[i],
                             key, pts[i].x);
    int rows = 0;
    for (int i = 0; i < loaded; i++) rows += pts[i].t.n;
    char(*names)[RB_ARM_MAX] = rb_calloc((size_t)rows + 1, RB_ARM_MAX, "trend");
    char *variants = rb_calloc((size_t)rows + 1, RB_ARM_MAX + 1, "trend"); /* every file name */
    int nv = 0;
    if (rc == 0) {
        qsort(pts, (size_t)ndirs, sizeof pts[0], cmp_x);
        nv = trend_variants(pts, ndirs, names);
        if (nv == 0)
            rc = rb_fail("plot --trend: no variant besides %s in these experiments", RB_BASELINE);
    }
    if (rc == 0) rc = rb_mkdir_p(out) != 0 || write_trend(out, key, pts, ndirs, names, nv);
    for (int k = 0; k < nv; k++) { /* the gnuplot word list: the arms' file names */
        char file[RB_ARM_MAX];
        if (exp_arm_file_name(file, sizeof file, names[k]) != 0) continue;
        if (k) strcat(variants, " ");
        strcat(variants, file);
    }
    if (rc == 0) {
        char extra[128];
        snprintf(extra, sizeof extra, "trendkey='%s'", key);
        rc = plot_gnuplot_with("trend.gp", out, variants, extra);
    }
    for (int i = 0; i < loaded; i++) {
        results_free(&keep[i]);
        ablation_table_free(&pts[i].t);
    }
    free(keep);
    free(names);
    free(variants);
    if (rc == 0) printf("plot: trend over %s of %d experiments written to %s\n", key, ndirs, out);
    return rc == 0 ? 0 : -1;
}
