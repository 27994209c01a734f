#include "data.h"

#include <errno.h>
#include <glob.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"
#include "util.h"

#define LLMC_MAGIC 20240520
#define LLMC_HEADER_INTS 256

static int check_len(const Data *d, const char *what, size_t n, const char *src) {
    if (n < (size_t)d->T + 1)
        return rb_fail("data %s: %s split has %zu tokens, fewer than seq_len+1 = %d (lower seq_len "
                       "or val_fraction, or use more data)",
                       src, what, n, d->T + 1);
    return 0;
}

static int load_text(Data *d, const Config *c, const char *path) {
    char *buf;
    size_t n;
    if (rb_read_file(path, &buf, &n) != 0) return rb_fail("data text: %s", rb_error());
    if (n == 0) {
        free(buf);
        return rb_fail("data text:%s: file is empty", path);
    }
    if (c->vocab_size < 256) {
        free(buf);
        return rb_fail("data text:%s: byte-level text needs vocab_size >= 256 (got %d)", path,
                       c->vocab_size);
    }
    size_t nval = (size_t)(n * c->val_fraction);
    d->n_train = n - nval;
    d->n_val = nval;
    d->train = rb_calloc(n, sizeof(uint16_t), "text tokens");
    for (size_t i = 0; i < n; i++) d->train[i] = (unsigned char)buf[i];
    d->val = d->train + d->n_train;
    free(buf);
    if (check_len(d, "train", d->n_train, path) || check_len(d, "validation", d->n_val, path))
        return -1;
    return 0;
}

/* Read one llm.c shard and append its tokens to *toks. */
static int read_shard(const char *path, int vocab, uint16_t **toks, size_t *n) {
    char *buf;
    size_t size;
    if (rb_read_file(path, &buf, &size) != 0) return rb_fail("data llmc: %s", rb_error());
    int32_t header[LLMC_HEADER_INTS];
    if (size < sizeof header) {
        free(buf);
        return rb_fail("data llmc: %s: %zu bytes, too short for the 1024-byte header", path, size);
    }
    memcpy(header, buf, sizeof header);
    if (header[0] != LLMC_MAGIC || header[1] != 1) {
        free(buf);
        return rb_fail("data llmc: %s: bad header (magic %d version %d, expected %d and 1)", path,
                       header[0], header[1], LLMC_MAGIC);
    }
    size_t ntok = (size_t)(uint32_t)header[2];
    if (ntok == 0 && size == sizeof header) {
        free(buf);
        return rb_fail("data llmc: %s: the shard holds no tokens (a header of 0 tokens and nothing "
                       "after it); remove it or write its tokens",
                       path);
    }
    if (size != sizeof header + 2 * ntok) {
        free(buf);
        return rb_fail("data llmc: %s: header says %zu tokens but the file has %zu bytes (expected "
                       "%zu)",
                       path, ntok, size, sizeof header + 2 * ntok);
    }
    uint16_t *grown = realloc(*toks, (*n + ntok + 1) * sizeof(uint16_t));
    if (!grown) {
        free(buf);
        return rb_fail("data llmc: %s: out of memory", path);
    }
    *toks = grown;
    memcpy(*toks + *n, buf + sizeof header, 2 * ntok);
    free(buf);
    for (size_t i = 0; i < ntok; i++)
        if ((*toks)[*n + i] >= vocab)
            return rb_fail("data llmc: %s: token %u at position %zu is >= vocab_size=%d", path,
                           (*toks)[*n + i], i, vocab);
    *n += ntok;
    return 0;
}

static int load_llmc(Data *d, const Config *c, const char *pattern) {
    glob_t g;
    int rc = glob(pattern, 0, NULL, &g);
    if (rc != 0 || g.gl_pathc == 0) {
        if (rc == 0) globfree(&g);
        return rb_fail("data llmc:%s: no file matches", pattern);
    }
    int failed = 0;
    char a_val[1024] = ""; /* a validation shard, named when there is no training shard */
    for (size_t i = 0; i < g.gl_pathc && !failed; i++) {
        const char *base = strrchr(g.gl_pathv[i], '/');
        base = base ? base + 1 : g.gl_pathv[i];
        int is_val = strstr(base, "val") != NULL;
        if (is_val && !a_val[0]) snprintf(a_val, sizeof a_val, "%s", g.gl_pathv[i]);
        failed = read_shard(g.gl_pathv[i], c->vocab_size, is_val ? &d->val : &d->train,
                            is_val ? &d->n_val : &d->n_train) != 0;
    }
    globfree(&g);
    if (failed) return -1;
    if (d->n_train == 0)
        return rb_fail("data llmc:%s: no training shard: every matching file is a validation shard "
                       "(its name contains 'val', e.g. %s)",
                       pattern, a_val);
    if (!d->val) { /* no val shard: hold out the end of the training tokens */
        size_t nval = (size_t)(d->n_train * c->val_fraction);
        d->val = rb_calloc(nval + 1, sizeof(uint16_t), "llmc val");
        memcpy(d->val, d->train + d->n_train - nval, nval * sizeof(uint16_t));
        d->n_val = nval;
        d->n_train -= nval;
    }
    if (check_len(d, "train", d->n_train, pattern) || check_len(d, "validation", d->n_val, pattern))
        return -1;
    return 0;
}

static int is_synth(const Data *d) {
    return d->kind == DATA_MARKOV || d->kind == DATA_HOPS || d->kind == DATA_COMPOSE;
}

/* Size of the validation set: eval_tokens rounded up to whole batches, or for eval_tokens=0 (text
 * and llm.c only) as many whole batches of non-overlapping windows as the held-out split holds. */
static int set_val_rows(Data *d, const Config *c) {
    long B = c->batch_size, T = c->seq_len;
    if (c->eval_tokens > 0) {
        d->val_rows = (c->eval_tokens + B * T - 1) / (B * T) * B;
        return 0;
    }
    if (is_synth(d))
        return rb_fail("key 'eval_tokens': 0 (the whole held-out split) needs text: or llmc: data; "
                       "%s has no finite split, give a token count",
                       c->data);
    long windows = (long)((d->n_val - 1) / (size_t)T);
    if (windows < B)
        return rb_fail("key 'eval_tokens': 0 asks for the whole held-out split, but it holds %ld "
                       "windows of seq_len=%ld, fewer than one batch of batch_size=%ld",
                       windows, T, B);
    d->val_rows = windows / B * B;
    return 0;
}

static int open_source(Data *d, const Config *c) {
    const char *s = c->data;
    if (strncmp(s, "synth:", 6) == 0) {
        const char *name = s + 6, *colon = strchr(name, ':');
        size_t len = colon ? (size_t)(colon - name) : strlen(name);
        const char *opts = colon ? colon + 1 : "";
        if (c->vocab_size < 128)
            return rb_fail("data %s: synthetic data uses byte tokens, needs vocab_size >= 128", s);
        if (len == 6 && strncmp(name, "markov", 6) == 0) {
            d->kind = DATA_MARKOV;
            return markov_build(&d->mk, opts, rb_mix64(d->seed));
        }
        if (len == 4 && strncmp(name, "hops", 4) == 0) {
            d->kind = DATA_HOPS;
            return hops_build(&d->hp, opts);
        }
        if (len == 7 && strncmp(name, "compose", 7) == 0) {
            d->kind = DATA_COMPOSE;
            return compose_build(&d->cp, opts, rb_mix64(d->seed ^ 0xC0FFEEULL));
        }
        return rb_fail("key 'data': unknown generator '%s' (allowed: synth:markov, synth:hops, "
                       "synth:compose)",
                       s);
    }
    if (strncmp(s, "text:", 5) == 0) {
        d->kind = DATA_TEXT;
        return load_text(d, c, s + 5);
    }
    if (strncmp(s, "llmc:", 5) == 0) {
        d->kind = DATA_LLMC;
        return load_llmc(d, c, s + 5);
    }
    return rb_fail("key 'data': '%s' is not synth:markov, synth:hops, text:PATH or llmc:GLOB", s);
}

int data_open(Data *d, const Config *c) {
    memset(d, 0, sizeof *d);
    d->T = c->seq_len;
    d->seed = (uint64_t)c->data_seed;
    if (open_source(d, c) != 0) return -1;
    return set_val_rows(d, c);
}

long data_val_batches(const Data *d, int B) {
    return d->val_rows / B;
}

void data_close(Data *d) {
    if (d->kind == DATA_MARKOV) markov_free(&d->mk);
    if (d->kind == DATA_LLMC) free(d->val);
    free(d->train);
    memset(d, 0, sizeof *d);
}

/* Seed of one row: split 0 = train, 1 = validation. */
static uint64_t row_seed(const Data *d, int split, uint64_t row) {
    return rb_mix64(rb_mix64(d->seed * 2 + (uint64_t)split) ^ (row * 0x9E3779B97F4A7C15ULL));
}

static void synth_row(const Data *d, int split, uint64_t seed, int *row) {
    if (d->kind == DATA_MARKOV)
        markov_row(&d->mk, seed, row, d->T + 1);
    else if (d->kind == DATA_HOPS)
        hops_row(&d->hp, seed, row, d->T + 1);
    else
        compose_row(&d->cp, split, seed, row, d->T + 1);
}

double data_probe_chance(const Data *d) {
    return d->kind == DATA_HOPS      ? 1.0 / d->hp.nodes
           : d->kind == DATA_COMPOSE ? 1.0 / d->cp.symbols
                                     : NAN;
}

int data_probe_hops(const Data *d) {
    return d->kind == DATA_HOPS ? d->hp.hops : d->kind == DATA_COMPOSE ? d->cp.hops : 0;
}

static void copy_window(const uint16_t *toks, size_t off, int len, int *row) {
    for (int t = 0; t < len; t++) row[t] = toks[off + t];
}

void data_train_batch(const Data *d, long step, int B, int *rows) {
    data_train_rows(d, step, B, 0, B, rows);
}

void data_val_batch(const Data *d, long k, int B, int *rows) {
    data_val_rows(d, k, B, 0, B, rows);
}

void data_train_rows(const Data *d, long step, int B, int r0, int n, int *rows) {
    int len = d->T + 1;
    for (int j = 0; j < n; j++) {
        int r = r0 + j;
        uint64_t seed = row_seed(d, 0, (uint64_t)step * B + r);
        if (is_synth(d)) {
            synth_row(d, 0, seed, rows + (size_t)j * len);
            continue;
        }
        Rng rng;
        rng_seed(&rng, seed);
        size_t span = d->n_train - (size_t)len + 1;
        size_t off = (size_t)(rng_uniform(&rng) * (double)span);
        copy_window(d->train, off, len, rows + (size_t)j * len);
    }
}

void data_val_rows(const Data *d, long k, int B, int r0, int n, int *rows) {
    int len = d->T + 1;
    for (int j = 0; j < n; j++) {
        uint64_t i = (uint64_t)k * B + r0 + j;
        if (is_synth(d)) {
            synth_row(d, 1, row_seed(d, 1, i), rows + (size_t)j * len);
            continue;
        }
        /* window i of val_rows starts at round(i * (n_val - len) / (val_rows - 1)): evenly spread,
         * first at the start of the split and last at its end (rows past val_rows wrap) */
        uint64_t nrows = d->val_rows > 1 ? (uint64_t)d->val_rows : 1, span = d->n_val - len;
        uint64_t w = i % nrows;
        size_t off = nrows > 1 ? (size_t)((w * span * 2 + (nrows - 1)) / (2 * (nrows - 1))) : 0;
        copy_window(d->val, off, len, rows + (size_t)j * len);
    }
}

double data_loss_floor(const Data *d) {
    if (d->kind == DATA_MARKOV) return markov_floor(&d->mk, d->T);
    if (d->kind == DATA_HOPS) return hops_floor(&d->hp, d->T);
    if (d->kind == DATA_COMPOSE) return compose_floor(&d->cp, 1, d->T); /* validation rows */
    return NAN;
}

void data_describe(const Data *d, char *buf, size_t n) {
    switch (d->kind) {
    case DATA_MARKOV:
        snprintf(buf, n,
                 "synth:markov alphabet=%d order=%d branch=%d: entropy rate %.4f nats/token, "
                 "loss floor at T=%d %.4f",
                 d->mk.alphabet, d->mk.order, d->mk.branch, d->mk.entropy_rate, d->T,
                 data_loss_floor(d));
        break;
    case DATA_HOPS:
        snprintf(buf, n,
                 "synth:hops nodes=%d hops=%d queries=%d: %d-token examples, loss floor at T=%d "
                 "%.4f nats/token",
                 d->hp.nodes, d->hp.hops, d->hp.queries, d->hp.example_len, d->T,
                 data_loss_floor(d));
        break;
    case DATA_COMPOSE:
        snprintf(buf, n,
                 "synth:compose symbols=%d hops=%d: queries 's h f^h(s) ;' over one fixed random "
                 "function, loss floor at T=%d %.4f nats/token",
                 d->cp.symbols, d->cp.hops, d->T, data_loss_floor(d));
        break;
    default:
        snprintf(buf, n, "%s: %zu train tokens, %zu validation tokens",
                 d->kind == DATA_TEXT ? "text" : "llmc", d->n_train, d->n_val);
    }
}
