/* Data sources. Every batch is a pure function of (data_seed, split, row index), so a resumed run
 * reads exactly what an uninterrupted one would, and the data order is independent of the model
 * seed. synth:markov[:alphabet=32,order=2,branch=4]  sparse random Markov chain ("language-like")
 *   synth:hops[:nodes=16,hops=4,queries=8]        multi-hop pointer chasing (needs depth)
 *   synth:compose[:symbols=32,hops=4]             composition of a function stored in the weights
 *   text:PATH   any file as bytes; the last val_fraction is validation
 *   llmc:GLOB   llm.c uint16 token shards; files with "val" in the name are validation */
#ifndef RB_DATA_H
#define RB_DATA_H
#include <stddef.h>
#include <stdint.h>

#include "config.h"

typedef enum { DATA_MARKOV, DATA_HOPS, DATA_COMPOSE, DATA_TEXT, DATA_LLMC } DataKind;

typedef struct {
    int alphabet, order, branch, n_ctx;     /* contexts = alphabet^order */
    int *succ;                              /* (n_ctx, branch) successor symbols */
    double *prob;                           /* (n_ctx, branch) */
    double *pi_cdf;                         /* (n_ctx) cumulative stationary distribution */
    double entropy_rate, prefix_entropy[8]; /* H(X_t | X_<t) for t < order */
} Markov;

typedef struct {
    int nodes, hops, queries, example_len;
} Hops;

/* synth:compose: one random cyclic permutation f over `symbols` letters, drawn once from data_seed;
 * rows are queries "s h a ;" with a = f^h(s). The facts f(s) are learned from the 1-hop queries.
 * Half of the multi-hop (s, h) pairs are held out (drawn from data_seed): training rows never
 * contain them, validation rows contain only them and 1-hop queries, so a multi-hop answer in
 * validation cannot be recalled, only composed from h lookups in sequence. */
typedef struct {
    int symbols, hops;
    int f[52];
    unsigned char held_out[52][10]; /* (s, h): 1 = validation only (h >= 2) */
} Compose;

typedef struct {
    DataKind kind;
    int T;
    uint64_t seed;
    uint16_t *train, *val; /* text/llmc tokens */
    size_t n_train, n_val;
    long val_rows; /* rows in the fixed validation set (a multiple of batch_size) */
    Markov mk;
    Hops hp;
    Compose cp;
} Data;

int data_open(Data *d, const Config *c);
void data_close(Data *d);
/* B rows of T+1 tokens: row r of training step `step` is global row step*B + r. */
void data_train_batch(const Data *d, long step, int B, int *rows);
/* Validation batches per evaluation: val_rows / batch_size. */
long data_val_batches(const Data *d, int B);
/* Validation batch k (rows k*B .. k*B+B-1 of the fixed validation set). For text and llm.c data
 * the set's val_rows windows are spread evenly over the whole held-out split (the first starts at
 * its beginning, the last ends at its end), so every run measures the same, representative text;
 * eval_tokens=0 asks for as many windows as fit without overlap (the whole split). */
void data_val_batch(const Data *d, long k, int B, int *rows);
/* Rows r0 .. r0+n-1 of those batches (one rank's share of a data-parallel step). */
void data_train_rows(const Data *d, long step, int B, int r0, int n, int *rows);
void data_val_rows(const Data *d, long k, int B, int r0, int n, int *rows);
/* Exact expected loss (nats/token) of the true distribution for T-token rows, or NAN if unknown. */
double data_loss_floor(const Data *d);
/* One line describing the source. */
void data_describe(const Data *d, char *buf, size_t n);

/* core/synth.c */
int markov_build(Markov *mk, const char *opts, uint64_t seed);
void markov_free(Markov *mk);
void markov_row(const Markov *mk, uint64_t seed, int *row, int len);
double markov_floor(const Markov *mk, int T);
/* Sum of log p(x_t | context) over t = order..len-1 of a row (for tests and diagnostics). */
double markov_logprob(const Markov *mk, const int *row, int len);
int hops_build(Hops *hp, const char *opts);
void hops_row(const Hops *hp, uint64_t seed, int *row, int len);
double hops_floor(const Hops *hp, int T);
int compose_build(Compose *cp, const char *opts, uint64_t seed);
/* split 0 = training queries, 1 = validation queries (see Compose). */
void compose_row(const Compose *cp, int split, uint64_t seed, int *row, int len);
double compose_floor(const Compose *cp, int split, int T);
/* Largest hop count of the reasoning probe's data (hops, compose), 0 for other sources. */
int data_probe_hops(const Data *d);
/* Accuracy of a uniform guess among the probe's candidate answers (1/nodes, 1/symbols); NAN for
 * other sources. */
double data_probe_chance(const Data *d);
/* Parse "k=v,k=v" options into named ints; unknown names are an error. */
int parse_opts(const char *opts, const char *what, int n, const char *const names[], int *vals,
               const int lo[], const int hi[]);

#endif
