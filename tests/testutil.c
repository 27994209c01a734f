#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "gemm.h"
#include "optim.h"
#include "registry.h"
#include "rng.h"
#include "util.h"

#define TU_MAX_BLOCKS 4096
static void *tu_blocks[TU_MAX_BLOCKS];
static int tu_nblocks;

void *tu_keep(void *p) {
    if (tu_nblocks == TU_MAX_BLOCKS) {
        fprintf(stderr, "test arena full\n");
        exit(1);
    }
    tu_blocks[tu_nblocks++] = p;
    return p;
}

void *tu_mem(size_t bytes) {
    return tu_keep(rb_calloc(1, bytes, "test buffer"));
}

void tu_free_all(void) {
    while (tu_nblocks > 0) free(tu_blocks[--tu_nblocks]);
}

/* RB_TEST_BACKEND (tests/CMakeLists.txt registers the model tests once per backend): the backend
 * every test config uses, and the one op-level products run on. */
void tu_apply_backend(Config *c) {
    const char *b = getenv("RB_TEST_BACKEND");
    if (b && *b) tu_set(c, "backend", b);
}

__attribute__((constructor)) static void tu_select_backend(void) {
    const char *b = getenv("RB_TEST_BACKEND");
    int k = b && *b ? gemm_backend_index(b) : RB_GEMM_OPENBLAS;
    if (k < 0 || gemm_check(k, RB_PREC_FP32) != 0) {
        fprintf(stderr, "test GEMM backend %s: %s\n", b && *b ? b : "openblas",
                k < 0 ? "not a backend of this build" : rb_error());
        exit(1);
    }
    gemm_select(k, RB_PREC_FP32);
}

void tu_tiny_config(Config *c) {
    config_defaults(c);
    tu_apply_backend(c);
    c->n_layer = 2;
    c->d_model = 16;
    c->n_head = 2;
    c->seq_len = 8;
    c->batch_size = 2;
    c->mlp_hidden = 32;
    c->vocab_size = 64;
    c->init_std = 0.3; /* large weights: gradients well above fp32 finite-difference noise */
    c->steps = 10;
    c->warmup = 2;
    c->eval_every = 5;
    c->eval_tokens = 32;
    c->log_every = 1;
}

void tu_fill_batch(Model *m, unsigned seed) {
    Rng r;
    rng_seed(&r, seed);
    for (int i = 0; i < m->N; i++) {
        m->inputs[i] = (int)rng_below(&r, (uint32_t)m->V);
        m->targets[i] = (int)rng_below(&r, (uint32_t)m->V);
    }
}

char *tu_tempdir(void) {
    char *t = tu_keep(strdup("/tmp/resbench-test-XXXXXX"));
    if (!mkdtemp(t)) {
        perror("mkdtemp");
        exit(1);
    }
    return t;
}

char *tu_read(const char *path) {
    char *buf;
    size_t n;
    return rb_read_file(path, &buf, &n) == 0 ? tu_keep(buf) : NULL;
}

int tu_write(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(data, 1, n, f);
    fclose(f);
    return w == n ? 0 : -1;
}

char *tu_take(char **p, size_t n) {
    char *r = *p;
    *p += n;
    return r;
}

void tu_fixture_config(Config *c, const int32_t h[16], const char *variant, const double hyper[8]) {
    config_defaults(c);
    c->n_layer = h[2];
    c->d_model = h[3];
    c->n_head = h[4];
    c->seq_len = h[5];
    c->batch_size = h[6];
    c->mlp_hidden = h[7];
    c->vocab_size = h[8];
    c->steps = h[9];
    c->tie_embeddings = h[11];
    c->warmup = h[12];
    tu_set(c, "variant", variant); /* the arm first: option keys apply on top of it */
    if (h[13] > 0) tu_set_int(c, "attnres_blocks", h[13]);
    if (h[14] > 0) tu_set_int(c, "mhc_streams", h[14]);
    if (h[15] > 0) tu_set_int(c, "sinkhorn_iters", h[15]);
    c->lr = hyper[0];
    c->min_lr = hyper[1];
    c->weight_decay = hyper[2];
    c->grad_clip = hyper[3];
    c->beta1 = hyper[4];
    c->beta2 = hyper[5];
    c->adam_eps = hyper[6];
    c->rope_theta = hyper[7];
}

double tu_max_rel(const float *a, const float *ref, size_t n) {
    double mx = 0, ref_max = 0;
    for (size_t i = 0; i < n; i++) {
        mx = fmax(mx, fabs((double)a[i] - ref[i]));
        ref_max = fmax(ref_max, fabs(ref[i]));
    }
    return ref_max > 0 ? mx / ref_max : mx;
}

void tu_jitter_ulp(float *x, size_t n) {
    uint64_t state = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < n; i++) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        double u = (double)(state >> 11) / 9007199254740992.0 * 2 - 1;
        x[i] *= (float)(1 + u * 0x1p-23);
    }
}

void tu_fixture_steps(Model *m, const int *tokens, const float *params, int steps, int jitter,
                      double *losses) {
    memcpy(m->params, params, m->n_params * 4);
    if (jitter) tu_jitter_ulp(m->params, m->n_params);
    memset(m->adam_m, 0, m->n_params * 4);
    memset(m->adam_v, 0, m->n_params * 4);
    for (int s = 0; s < steps; s++) {
        model_set_batch(m, tokens);
        model_zero_grad(m);
        losses[s] = tu_forward(m);
        tu_backward(m);
        ck_assert_msg(optimizer_step(m, lr_at(&m->cfg, s, steps), s + 1) == 0, "%s", rb_error());
    }
}

static int copy_file(const char *src, const char *dst) {
    FILE *in = fopen(src, "rb");
    if (!in) return -1;
    FILE *out = fopen(dst, "wb");
    if (!out) {
        fclose(in);
        return -1;
    }
    char buf[65536];
    size_t n;
    int rc = 0;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, n, out) != n) rc = -1;
    if (ferror(in)) rc = -1;
    fclose(in);
    if (fclose(out) != 0) rc = -1;
    return rc;
}

/* cp -r without a child process (valgrind would trace every cp the shell starts) */
int tu_copy_tree(const char *src, const char *dst) {
    struct stat st;
    if (stat(src, &st) != 0) return -1;
    if (!S_ISDIR(st.st_mode)) return copy_file(src, dst);
    if (mkdir(dst, 0755) != 0) return -1;
    DIR *dir = opendir(src);
    if (!dir) return -1;
    int rc = 0;
    const struct dirent *e;
    while (rc == 0 && (e = readdir(dir)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char from[4096], to[4096];
        snprintf(from, sizeof from, "%s/%s", src, e->d_name);
        snprintf(to, sizeof to, "%s/%s", dst, e->d_name);
        rc = tu_copy_tree(from, to);
    }
    closedir(dir);
    return rc;
}

double tu_fd_directional(tu_loss_fn f, void *ctx, float *x, const float *dir, long n, float eps) {
    float *saved = malloc(n * sizeof(float));
    memcpy(saved, x, n * sizeof(float));
    for (long i = 0; i < n; i++) x[i] = saved[i] + eps * dir[i];
    double lp = f(ctx);
    for (long i = 0; i < n; i++) x[i] = saved[i] - eps * dir[i];
    double lm = f(ctx);
    memcpy(x, saved, n * sizeof(float));
    free(saved);
    return (lp - lm) / (2.0 * eps);
}

static double rel_err(double a, double b) {
    double d = fabs(a - b), s = fmax(fabs(a), fabs(b));
    return s > 0 ? d / s : 0;
}

double tu_grad_check(tu_loss_fn f, void *ctx, float *x, const float *g, long n, float eps, int k) {
    float *dir = calloc(n, sizeof(float));
    double norm = 0, worst = 0;
    for (long i = 0; i < n; i++) norm += (double)g[i] * g[i];
    norm = sqrt(norm);
    if (norm > 0) { /* unit direction g/|g|: the derivative along it is |g| */
        for (long i = 0; i < n; i++) dir[i] = (float)(g[i] / norm);
        worst = rel_err(norm, tu_fd_directional(f, ctx, x, dir, n, eps));
    }
    memset(dir, 0, n * sizeof(float));
    for (int j = 0; j < k && j < n; j++) { /* the k largest |g| not yet taken */
        long best = -1;
        for (long i = 0; i < n; i++)
            if (dir[i] == 0 && (best < 0 || fabs(g[i]) > fabs(g[best]))) best = i;
        if (best < 0 || g[best] == 0) break;
        dir[best] = 1.0f;
        float one[1] = {1.0f};
        double fd = tu_fd_directional(f, ctx, x + best, one, 1, eps);
        double e = rel_err(g[best], fd);
        if (e > worst) worst = e;
    }
    free(dir);
    return worst;
}

void (*tu_randomize_conn)(Model *m);
float tu_fd_eps = 2e-3f, tu_fd_eps_alt = 0.0f;

double tu_forward(Model *m) {
    ck_assert_msg(model_forward(m) == 0, "model_forward: %s", rb_error());
    return m->loss;
}

void tu_backward(Model *m) {
    ck_assert_msg(model_backward(m) == 0, "model_backward: %s", rb_error());
}

static double model_loss(void *p) {
    return tu_forward((Model *)p);
}

/* Every tensor: along grad/|grad| and on its 8 largest entries. The loss is a mean over 16 tokens
 * of ~4 nats; eps = 1e-2 on weights of std 0.3 keeps FD noise and truncation near 1e-4 relative,
 * far below the 5e-3 tolerance, while a wrong gradient term is off by O(1). */
void tu_model_grad_check(const Config *c) {
    Model m;
    ck_assert_msg(model_build(&m, c) == 0, "%s", rb_error());
    if (tu_randomize_conn) tu_randomize_conn(&m);
    tu_fill_batch(&m, 7);
    model_zero_grad(&m);
    tu_forward(&m);
    tu_backward(&m);
    float *g = tu_mem(m.n_params * sizeof(float));
    memcpy(g, m.grads, m.n_params * sizeof(float));
    for (int k = 0; k < m.n_tensors; k++) {
        const ParamTensor *t = &m.tensors[k];
        if (!t->count) continue;
        double e = tu_grad_check(model_loss, &m, m.params + t->offset, g + t->offset,
                                 (long)t->count, tu_fd_eps, 8);
        if (tu_fd_eps_alt > 0) /* the better of two steps: truncation vs rounding noise */
            e = fmin(e, tu_grad_check(model_loss, &m, m.params + t->offset, g + t->offset,
                                      (long)t->count, tu_fd_eps_alt, 8));
        ck_assert_msg(e < 5e-3, "%s (tie=%d): tensor %s rel err %g", c->variant, c->tie_embeddings,
                      t->name, e);
    }
    model_free(&m);
}

int tu_run_cli(const char *args, char *out, size_t n) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "RESBENCH_PLOTS=%s/plots %s %s 2>&1", RB_SOURCE_DIR, RB_BINARY, args);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t got = fread(out, 1, n - 1, p);
    out[got] = 0;
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* every test program reads configs through the installed variant table, as resbench does */
__attribute__((constructor)) static void tu_install_variants(void) {
    variants_install();
}

void tu_set(Config *c, const char *key, const char *value) {
    ck_assert_msg(config_set(c, key, value, "test") == 0, "%s", rb_error());
}

void tu_set_int(Config *c, const char *key, long value) {
    char v[32];
    snprintf(v, sizeof v, "%ld", value);
    tu_set(c, key, v);
}
