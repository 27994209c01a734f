/* Shared test helpers: tiny configs, temp dirs, finite-difference checks, Check runner main. */
#ifndef RB_TESTUTIL_H
#define RB_TESTUTIL_H
#include <check.h>
#include <stddef.h>

#include "config.h"
#include "model.h"
#include "util.h"

/* Test arena: zeroed memory released by tu_free_all (the teardown of every test case, see
 * RB_TEST_MAIN), so LeakSanitizer reports only leaks of the code under test. */
void *tu_mem(size_t bytes);
void *tu_keep(void *p); /* hand a malloc'd pointer to the arena */
void tu_free_all(void);

/* Sets one config key (a variant, a variant option, any key); fails the test on an error. */
void tu_set(Config *c, const char *key, const char *value);
void tu_set_int(Config *c, const char *key, long value);

/* Sets c's backend from RB_TEST_BACKEND when set (the per-backend test registrations). */
void tu_apply_backend(Config *c);
/* model_forward / model_backward that fail the test with rb_error() when the step fails;
 * tu_forward returns the loss. */
double tu_forward(Model *m);
void tu_backward(Model *m);
/* A tiny model that runs in milliseconds: 2 blocks, d=16, 2 heads, T=8, B=2, V=64. */
void tu_tiny_config(Config *c);
/* Fill a model's batch with deterministic tokens < V. */
void tu_fill_batch(Model *m, unsigned seed);
/* mkdtemp under /tmp (path in the arena). */
char *tu_tempdir(void);
char *tu_read(const char *path); /* whole file (in the arena) or NULL */
int tu_write(const char *path, const void *data, size_t n);
/* Fixture files (tests/fixtures, docs/formats.md): the next n bytes of a buffer; the Config a
 * fixture header describes (h[16] shape and options, hyper[8] AdamW and RoPE); the largest
 * absolute difference relative to the largest |ref|; every x multiplied by 1 + u 2^-23 with u a
 * fixed pseudo-random sequence in [-1, 1) (one ulp of rounding, to see how far rounding carries).
 */
char *tu_take(char **p, size_t n);
void tu_fixture_config(Config *c, const int32_t h[16], const char *variant, const double hyper[8]);
double tu_max_rel(const float *a, const float *ref, size_t n);
void tu_jitter_ulp(float *x, size_t n);
/* `steps` optimizer steps (the config's optimizer, fresh moments) on one batch from `params`
 * (jittered when set); losses[s] is the loss before step s. */
void tu_fixture_steps(Model *m, const int *tokens, const float *params, int steps, int jitter,
                      double *losses);
int tu_copy_tree(const char *src, const char *dst); /* recursive copy, 0 on success */

/* Run the resbench binary with args (stdout and stderr captured into out); returns its exit code.
 */
int tu_run_cli(const char *args, char *out, size_t n);

/* Central-difference derivative of f along direction dir (n entries of x), in double. */
typedef double (*tu_loss_fn)(void *ctx);
double tu_fd_directional(tu_loss_fn f, void *ctx, float *x, const float *dir, long n, float eps);
/* Checks the analytic gradient g of f wrt x: (a) along the unit direction g/|g| over all n entries,
 * (b) entry-wise on the k entries with the largest |g|. Returns the worst relative error. */
double tu_grad_check(tu_loss_fn f, void *ctx, float *x, const float *g, long n, float eps, int k);

/* Finite differences of the mean loss wrt every parameter tensor of a model built from c (along
 * grad/|grad| and on the 8 largest entries, eps tu_fd_eps, tolerance 5e-3; see testutil.c). If
 * tu_randomize_conn is set it is applied to the model first (non-trivial connection weights). */
void tu_model_grad_check(const Config *c);
extern void (*tu_randomize_conn)(Model *m);
/* The finite-difference step of tu_model_grad_check (default 2e-3, see testutil.c) and, when
 * tu_fd_eps_alt > 0, a second step: each tensor passes with the better of the two (a wrong
 * gradient is off by O(1) at both). */
extern float tu_fd_eps, tu_fd_eps_alt;

#define RB_TEST_MAIN(suite_fn)                                                                     \
    int main(void) {                                                                               \
        Suite *suite = suite_fn();                                                                 \
        SRunner *sr = srunner_create(suite);                                                       \
        srunner_run_all(sr, CK_NORMAL);                                                            \
        int failed = srunner_ntests_failed(sr);                                                    \
        srunner_free(sr);                                                                          \
        return failed ? 1 : 0;                                                                     \
    }

#endif
