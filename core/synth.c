/* Built-in synthetic data: deterministic from a seed, infinite, with an exactly computable floor.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"
#include "rng.h"
#include "util.h"

/* 32 printable symbols, most frequent English letters first, so samples are readable. */
static const char MARKOV_SYMBOLS[] = " etaoinshrdlcumwfgypbvkjxqz.,;'\n";
static const char HOPS_NODES[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

int parse_opts(const char *opts, const char *what, int n, const char *const names[], int *vals,
               const int lo[], const int hi[]) {
    if (!opts || !*opts) return 0;
    char buf[512];
    if (rb_copy_str(buf, sizeof buf, opts) != 0)
        return rb_fail("data '%s': options are longer than %zu characters", what, sizeof buf - 1);
    int seen[16] = {0};
    for (char *tok = buf, *next; tok; tok = next) {
        next = strchr(tok, ',');
        if (next) *next++ = 0;
        if (!*tok) return rb_fail("data '%s': empty option in '%s'", what, opts);
        char *eq = strchr(tok, '=');
        if (!eq) return rb_fail("data '%s': option '%s' is not name=value", what, tok);
        *eq = 0;
        int k = 0;
        while (k < n && strcmp(names[k], tok) != 0) k++;
        if (k == n) return rb_fail("data '%s': unknown option '%s'", what, tok);
        if (seen[k]++) return rb_fail("data '%s': option '%s' is given twice", what, tok);
        char *end;
        long v = strtol(eq + 1, &end, 10);
        if (*end || end == eq + 1 || v < lo[k] || v > hi[k])
            return rb_fail("data '%s': option %s=%s must be an integer in [%d, %d]", what, tok,
                           eq + 1, lo[k], hi[k]);
        vals[k] = (int)v;
    }
    return 0;
}

static double entropy(const double *p, int n) {
    double h = 0;
    for (int i = 0; i < n; i++)
        if (p[i] > 0) h -= p[i] * log(p[i]);
    return h;
}

/* Stationary distribution by power iteration on the lazy chain (I + P) / 2: same fixed points as
 * P, but aperiodic, so it converges geometrically for any sparse random chain. */
static void markov_stationary(const Markov *mk, double *pi) {
    int n = mk->n_ctx, A = mk->alphabet, K = mk->branch;
    double *next = rb_calloc(n, sizeof(double), "markov");
    for (int s = 0; s < n; s++) pi[s] = 1.0 / n;
    for (int it = 0; it < 100000; it++) {
        for (int s = 0; s < n; s++) next[s] = 0.5 * pi[s];
        for (int s = 0; s < n; s++)
            for (int j = 0; j < K; j++) {
                int ns = (int)(((long)s * A + mk->succ[s * K + j]) % n);
                next[ns] += 0.5 * pi[s] * mk->prob[s * K + j];
            }
        double diff = 0;
        for (int s = 0; s < n; s++) diff += fabs(next[s] - pi[s]);
        memcpy(pi, next, n * sizeof(double));
        if (diff < 1e-14) break;
    }
    free(next);
}

int markov_build(Markov *mk, const char *opts, uint64_t seed) {
    static const char *const names[] = {"alphabet", "order", "branch"};
    static const int lo[] = {2, 1, 1}, hi[] = {32, 3, 32};
    int vals[3] = {32, 2, 4};
    memset(mk, 0, sizeof *mk);
    if (parse_opts(opts, "synth:markov", 3, names, vals, lo, hi) != 0) return -1;
    if (vals[2] > vals[0])
        return rb_fail("data 'synth:markov': branch=%d exceeds alphabet=%d", vals[2], vals[0]);
    mk->alphabet = vals[0];
    mk->order = vals[1];
    mk->branch = vals[2];
    mk->n_ctx = 1;
    for (int i = 0; i < mk->order; i++) mk->n_ctx *= mk->alphabet;
    int n = mk->n_ctx, K = mk->branch, A = mk->alphabet;
    mk->succ = rb_calloc((size_t)n * K, sizeof(int), "markov");
    mk->prob = rb_calloc((size_t)n * K, sizeof(double), "markov");
    mk->pi_cdf = rb_calloc(n, sizeof(double), "markov");
    Rng rng;
    rng_seed(&rng, seed ^ 0x6d61726b6f76ULL);
    int perm[32];
    for (int s = 0; s < n; s++) {
        for (int a = 0; a < A; a++) perm[a] = a;
        double total = 0;
        for (int j = 0; j < K; j++) { /* K distinct successors, Dirichlet(1) probabilities */
            int pick = j + (int)rng_below(&rng, (uint32_t)(A - j));
            int tmp = perm[j];
            perm[j] = perm[pick];
            perm[pick] = tmp;
            mk->succ[s * K + j] = perm[j];
            mk->prob[s * K + j] = -log(1.0 - rng_uniform(&rng)) + 1e-3;
            total += mk->prob[s * K + j];
        }
        for (int j = 0; j < K; j++) mk->prob[s * K + j] /= total;
    }
    double *pi = rb_calloc(n, sizeof(double), "markov");
    markov_stationary(mk, pi);
    mk->entropy_rate = 0;
    for (int s = 0; s < n; s++) mk->entropy_rate += pi[s] * entropy(mk->prob + s * K, K);
    /* H(X_t | X_<t) for t < order, from the marginals of pi over the first t+1 symbols */
    double *marg = rb_calloc(n, sizeof(double), "markov");
    double prev = 0;
    for (int t = 0; t < mk->order; t++) {
        int width = 1;
        for (int i = 0; i <= t; i++) width *= A;
        memset(marg, 0, n * sizeof(double));
        for (int s = 0; s < n; s++) marg[s / (n / width)] += pi[s];
        double h = entropy(marg, width);
        mk->prefix_entropy[t] = h - prev;
        prev = h;
    }
    double acc = 0;
    for (int s = 0; s < n; s++) mk->pi_cdf[s] = (acc += pi[s]);
    free(marg);
    free(pi);
    return 0;
}

void markov_free(Markov *mk) {
    free(mk->succ);
    free(mk->prob);
    free(mk->pi_cdf);
    memset(mk, 0, sizeof *mk);
}

/* A row starts in a context drawn from the stationary distribution, so every position's conditional
 * entropy is known exactly (markov_floor). */
void markov_row(const Markov *mk, uint64_t seed, int *row, int len) {
    Rng rng;
    rng_seed(&rng, seed);
    int n = mk->n_ctx, K = mk->branch, A = mk->alphabet;
    double u = rng_uniform(&rng) * mk->pi_cdf[n - 1];
    int s = 0;
    while (s < n - 1 && mk->pi_cdf[s] <= u) s++;
    int ctx = s;
    for (int i = mk->order - 1; i >= 0; i--) {
        if (i < len) row[i] = (unsigned char)MARKOV_SYMBOLS[s % A];
        s /= A;
    }
    for (int t = mk->order; t < len; t++) {
        double r = rng_uniform(&rng), c = 0;
        int j = 0;
        for (; j < K - 1; j++) {
            c += mk->prob[ctx * K + j];
            if (r < c) break;
        }
        int sym = mk->succ[ctx * K + j];
        row[t] = (unsigned char)MARKOV_SYMBOLS[sym];
        ctx = (int)(((long)ctx * A + sym) % n);
    }
}

double markov_floor(const Markov *mk, int T) {
    double total = 0;
    for (int t = 1; t <= T; t++) total += t < mk->order ? mk->prefix_entropy[t] : mk->entropy_rate;
    return total / T;
}

static int markov_symbol(int byte) {
    const char *p = strchr(MARKOV_SYMBOLS, byte);
    return p && byte ? (int)(p - MARKOV_SYMBOLS) : -1;
}

double markov_logprob(const Markov *mk, const int *row, int len) {
    int A = mk->alphabet, K = mk->branch, ctx = 0;
    double lp = 0;
    for (int t = 0; t < len; t++) {
        int sym = markov_symbol(row[t]);
        if (sym < 0 || sym >= A) return -INFINITY;
        if (t >= mk->order) {
            int j = 0;
            while (j < K && mk->succ[ctx * K + j] != sym) j++;
            if (j == K) return -INFINITY;
            lp += log(mk->prob[ctx * K + j]);
        }
        ctx = (int)(((long)ctx * A + sym) % mk->n_ctx);
    }
    return lp;
}

int hops_build(Hops *hp, const char *opts) {
    static const char *const names[] = {"nodes", "hops", "queries"};
    static const int lo[] = {2, 1, 1}, hi[] = {52, 9, 64};
    int vals[3] = {16, 4, 8};
    if (parse_opts(opts, "synth:hops", 3, names, vals, lo, hi) != 0) return -1;
    hp->nodes = vals[0];
    hp->hops = vals[1];
    hp->queries = vals[2];
    hp->example_len = 2 * hp->nodes + 1 + 4 * hp->queries + 1;
    return 0;
}

static void shuffle(Rng *rng, int *a, int n) {
    for (int i = 0; i < n; i++) a[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)rng_below(rng, (uint32_t)(i + 1)), t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

/* Example: the edges of a random permutation f in random order "k v k v ... |", then queries
 * "s h a ;" with a = f^h(s), then '\n'. Rows start at an example boundary. */
void hops_row(const Hops *hp, uint64_t seed, int *row, int len) {
    Rng rng;
    rng_seed(&rng, seed);
    int f[52], order[52], pos = 0, N = hp->nodes;
    while (pos < len) {
        shuffle(&rng, f, N);
        shuffle(&rng, order, N);
        int ex[2 * 52 + 2 + 4 * 64];
        int e = 0;
        for (int i = 0; i < N; i++) {
            ex[e++] = HOPS_NODES[order[i]];
            ex[e++] = HOPS_NODES[f[order[i]]];
        }
        ex[e++] = '|';
        for (int q = 0; q < hp->queries; q++) {
            int s = (int)rng_below(&rng, (uint32_t)N), h = 1 + (int)rng_below(&rng, hp->hops);
            int a = s;
            for (int k = 0; k < h; k++) a = f[a];
            ex[e++] = HOPS_NODES[s];
            ex[e++] = '0' + h;
            ex[e++] = HOPS_NODES[a];
            ex[e++] = ';';
        }
        ex[e++] = '\n';
        for (int i = 0; i < e && pos < len; i++) row[pos++] = ex[i];
    }
}

/* Conditional entropy of the token at position q of an example (given everything before it). */
static double hops_position_entropy(const Hops *hp, int q) {
    int N = hp->nodes;
    if (q < 2 * N)
        return log((double)(N - q / 2)); /* key or value of slot q/2: remaining choices */
    if (q == 2 * N || q == hp->example_len - 1) return 0;
    int j = (q - 2 * N - 1) % 4;
    if (j == 0) return log((double)N);
    if (j == 1) return log((double)hp->hops);
    return 0; /* the answer is determined by the graph; ';' is fixed */
}

double hops_floor(const Hops *hp, int T) {
    double total = 0;
    for (int t = 1; t <= T; t++) total += hops_position_entropy(hp, t % hp->example_len);
    return total / T;
}

int compose_build(Compose *cp, const char *opts, uint64_t seed) {
    static const char *const names[] = {"symbols", "hops"};
    static const int lo[] = {2, 1}, hi[] = {52, 9};
    int vals[2] = {32, 4};
    if (parse_opts(opts, "synth:compose", 2, names, vals, lo, hi) != 0) return -1;
    cp->symbols = vals[0];
    cp->hops = vals[1];
    Rng rng; /* the function and the held-out pairs are the world: drawn from data_seed alone */
    rng_seed(&rng, seed);
    /* f is one random cycle through all symbols (Sattolo's shuffle), so f^h(s) differs for every
     * h < symbols: no multi-hop answer coincides with a shorter chain's */
    for (int i = 0; i < cp->symbols; i++) cp->f[i] = i;
    for (int i = cp->symbols - 1; i > 0; i--) {
        int j = (int)rng_below(&rng, (uint32_t)i), t = cp->f[i];
        cp->f[i] = cp->f[j];
        cp->f[j] = t;
    }
    memset(cp->held_out, 0, sizeof cp->held_out);
    for (int h = 2; h <= cp->hops; h++) { /* exactly half (rounded down) of the starts per h */
        int order[52];
        shuffle(&rng, order, cp->symbols);
        for (int i = 0; i < cp->symbols / 2; i++) cp->held_out[order[i]][h] = 1;
    }
    return 0;
}

/* May (s, h) appear in this split? Training: every pair not held out; validation: 1-hop queries
 * and the held-out pairs. */
static int compose_allowed(const Compose *cp, int split, int s, int h) {
    return h == 1 || cp->held_out[s][h] == (unsigned char)split;
}

/* Queries "s h a ;" back to back, (s, h) uniform over the split's allowed pairs (rejection); a row
 * starts at a query boundary. */
void compose_row(const Compose *cp, int split, uint64_t seed, int *row, int len) {
    Rng rng;
    rng_seed(&rng, seed);
    for (int pos = 0; pos < len;) {
        int s, h;
        do {
            s = (int)rng_below(&rng, (uint32_t)cp->symbols);
            h = 1 + (int)rng_below(&rng, cp->hops);
        } while (!compose_allowed(cp, split, s, h));
        int a = s;
        for (int k = 0; k < h; k++) a = cp->f[a];
        const int q[4] = {HOPS_NODES[s], '0' + h, HOPS_NODES[a], ';'};
        for (int i = 0; i < 4 && pos < len; i++) row[pos++] = q[i];
    }
}

/* Target t (t = 1..T) is row[t], at offset t % 4 of its query: a start s (entropy of the split's
 * marginal of s), a hop count (entropy of h given s: log of the allowed hop counts of s), then
 * the answer and ';', both determined. */
double compose_floor(const Compose *cp, int split, int T) {
    int n_s[52] = {0}, total = 0;
    for (int s = 0; s < cp->symbols; s++) {
        for (int h = 1; h <= cp->hops; h++) n_s[s] += compose_allowed(cp, split, s, h);
        total += n_s[s];
    }
    double h_start = 0, h_hops = 0;
    for (int s = 0; s < cp->symbols; s++) {
        double p = (double)n_s[s] / total;
        h_start -= p * log(p);
        h_hops += p * log((double)n_s[s]);
    }
    double sum = 0;
    for (int t = 1; t <= T; t++) sum += t % 4 == 0 ? h_start : t % 4 == 1 ? h_hops : 0;
    return sum / T;
}
