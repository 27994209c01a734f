/* The GEMM backend layer (gemm.h): OpenBLAS cblas_sgemm, oneDNN dnnl_sgemm (fp32) and oneDNN
 * matmul primitives with bf16 operands and fp32 destination (bf16). */
#define _GNU_SOURCE /* dladdr */
#include "gemm.h"

#include <cblas.h>
#include <dlfcn.h>
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#ifdef RESBENCH_ONEDNN
#include <oneapi/dnnl/dnnl.h>
#endif

/* OpenBLAS's own query (declared in its cblas.h builds, not in every one). */
char *openblas_get_corename(void);
char *openblas_get_config(void);

static const char *const BACKEND_NAMES[RB_GEMM_BACKENDS] = {"openblas", "onednn"};
static const char *const PRECISION_NAMES[RB_PRECISIONS] = {"fp32", "bf16"};
static int sel_backend = RB_GEMM_OPENBLAS, sel_precision = RB_PREC_FP32;

/* The library cblas_sgemm resolves to must be the one that answers openblas_get_config. A program
 * that also links GSL gets GSL's reference CBLAS (libgslcblas) instead when the linker meets it
 * first: the runs still work, 5-50x slower and with other roundings, while meta.ini says OpenBLAS.
 * Every run checks (through gemm_check), so a bad link cannot make a silent result. */
static int check_cblas_binding(void) {
    Dl_info sgemm, openblas;
    if (!dladdr((void *)cblas_sgemm, &sgemm) || !dladdr((void *)openblas_get_config, &openblas))
        return 0; /* a static link: one CBLAS only */
    if (sgemm.dli_fname && openblas.dli_fname && strcmp(sgemm.dli_fname, openblas.dli_fname) != 0)
        return rb_fail(
            "cblas_sgemm comes from %s, not from OpenBLAS (%s): another CBLAS was linked "
            "first; link GSL without libgslcblas (docs/architecture.md, Dependencies)",
            sgemm.dli_fname, openblas.dli_fname);
    return 0;
}

const char *gemm_backend_name(int backend) {
    return backend >= 0 && backend < RB_GEMM_BACKENDS ? BACKEND_NAMES[backend] : "?";
}

const char *gemm_precision_name(int precision) {
    return precision >= 0 && precision < RB_PRECISIONS ? PRECISION_NAMES[precision] : "?";
}

int gemm_backend_index(const char *name) {
    for (int b = 0; b < RB_GEMM_BACKENDS; b++)
        if (!strcmp(name, BACKEND_NAMES[b])) return b;
    return -1;
}

int gemm_precision_index(const char *name) {
    for (int p = 0; p < RB_PRECISIONS; p++)
        if (!strcmp(name, PRECISION_NAMES[p])) return p;
    return -1;
}

const char *gemm_openblas_core(void) {
    const char *s = openblas_get_corename();
    return s ? s : "unknown";
}

void gemm_select(int backend, int precision) {
    sel_backend = backend;
    sel_precision = precision;
}

int gemm_selected_backend(void) {
    return sel_backend;
}

int gemm_selected_precision(void) {
    return sel_precision;
}

/* The first product that failed since the last gemm_take_error. The products return nothing (the
 * ops call them bare, as llm.c calls sgemm, some from inside parallel loops), so a failure is
 * latched here, process-wide, and the step that ran them returns it. */
static int failed;
static char failure[512];

static void latch_failure(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void latch_failure(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
#pragma omp critical(gemm_failure)
    if (!failed) {
        vsnprintf(failure, sizeof failure, fmt, ap);
        failed = 1;
    }
    va_end(ap);
}

int gemm_take_error(void) {
    if (!failed) return 0;
    failed = 0;
    return rb_fail("%s", failure);
}

void gemm_round_bf16(uint16_t *dst, const float *src, size_t n) {
    long blocks = (long)((n + 4095) / 4096);
#pragma omp parallel for schedule(static) if (blocks > 8)
    for (long b = 0; b < blocks; b++) {
        size_t i0 = (size_t)b * 4096, i1 = i0 + 4096 < n ? i0 + 4096 : n;
        for (size_t i = i0; i < i1; i++) dst[i] = gemm_to_bf16(src[i]);
    }
}

/* dst (cols x rows) = the transpose of src (rows x cols, row-major), rounded to bf16. */
static void round_bf16_transposed(uint16_t *dst, const float *src, int rows, int cols) {
    enum { TB = 32 };
#pragma omp parallel for schedule(static)
    for (int c0 = 0; c0 < cols; c0 += TB)
        for (int r0 = 0; r0 < rows; r0 += TB) {
            int c1 = c0 + TB < cols ? c0 + TB : cols, r1 = r0 + TB < rows ? r0 + TB : rows;
            for (int c = c0; c < c1; c++)
                for (int r = r0; r < r1; r++)
                    dst[(size_t)c * rows + r] = gemm_to_bf16(src[(size_t)r * cols + c]);
        }
}

#ifndef RESBENCH_ONEDNN

int gemm_check(int backend, int precision) {
    if (check_cblas_binding() != 0) return -1;
    if (backend == RB_GEMM_ONEDNN)
        return rb_fail("key 'backend': 'onednn' is not in this build (install libdnnl-dev and "
                       "reconfigure; allowed here: openblas)");
    if (precision == RB_PREC_BF16)
        return rb_fail("key 'precision': 'bf16' needs backend=onednn, which is not in this build "
                       "(install libdnnl-dev and reconfigure)");
    return 0;
}

void gemm_f32(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N,
                K, alpha, A, lda, B, ldb, beta, C, ldc);
}

int gemm_prepare_linear(int N, int IC, int OC) {
    return 0;
}

long gemm_late_creations(void) {
    return 0;
}

int gemm_prepare_product(int tb, int M, int N, int K, int accumulate) {
    return 0;
}

void gemm_product(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B,
                  int ldb, float beta, float *C, int ldc) {
    gemm_f32(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
}

void gemm_linear_forward(float *out, const float *inp, const float *w, int N, int IC, int OC) {
    gemm_f32(0, 1, N, OC, IC, 1.0f, inp, IC, w, IC, 0.0f, out, OC);
}

void gemm_linear_backward(float *dinp, float *dw, const float *dout, const float *inp,
                          const float *w, int N, int IC, int OC, float beta_dinp) {
    if (dinp) gemm_f32(0, 0, N, IC, OC, 1.0f, dout, OC, w, IC, beta_dinp, dinp, IC);
    gemm_f32(1, 0, OC, IC, N, 1.0f, dout, OC, inp, IC, 1.0f, dw, IC);
}

void gemm_describe(char *buf, size_t n) {
    snprintf(buf, n, "openblas (%s, kernels %s); onednn: not in this build", openblas_get_config(),
             gemm_openblas_core());
}

size_t gemm_bf16_buffer_bytes(int N, int max_in, int max_out) {
    return 0;
}

#else /* RESBENCH_ONEDNN */

static dnnl_engine_t engine;
static dnnl_stream_t stream;

static int dnnl_ready(void) {
    if (engine) return 0;
    if (dnnl_engine_create(&engine, dnnl_cpu, 0) != dnnl_success ||
        dnnl_stream_create(&stream, engine, dnnl_stream_default_flags) != dnnl_success)
        return rb_fail("oneDNN: cannot create the CPU engine");
    return 0;
}

static int cpu_has_bf16(void) {
    /* oneDNN's view of the CPU (honours ONEDNN_MAX_CPU_ISA, which the tests use to stand in for
     * a CPU without AVX512_BF16) */
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    return (isa & dnnl_cpu_isa_avx512_core_bf16) == dnnl_cpu_isa_avx512_core_bf16;
}

int gemm_check(int backend, int precision) {
    if (check_cblas_binding() != 0) return -1;
    if (precision == RB_PREC_BF16 && backend != RB_GEMM_ONEDNN)
        return rb_fail("key 'precision': 'bf16' needs backend=onednn (OpenBLAS runs fp32 only)");
    if (precision == RB_PREC_BF16 && !cpu_has_bf16())
        return rb_fail("key 'precision': 'bf16' needs a CPU with AVX512_BF16 (oneDNN reports none "
                       "here; use precision=fp32)");
    if (backend == RB_GEMM_ONEDNN) return dnnl_ready();
    return 0;
}

void gemm_f32(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc) {
    if (sel_backend == RB_GEMM_ONEDNN) {
        /* dnnl_sgemm is row-major */
        if (dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', M, N, K, alpha, A, lda, B, ldb, beta, C,
                       ldc) != dnnl_success)
            latch_failure("oneDNN: dnnl_sgemm %d x %d x %d failed", M, N, K);
        return;
    }
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N,
                K, alpha, A, lda, B, ldb, beta, C, ldc);
}

/* bf16 products, each a oneDNN matmul C (M x N, fp32) (+)= A (M x K) B (K x N), the operands
 * rounded to bf16 into plain row-major buffers; B may be stored transposed (N x K). A linear
 * layer has three: out = inp W^T (B = W, transposed), dinp (+)= dout W and dw += dout^T inp (dout^T
 * rounded transposed). gemm_product's general op(A) op(B) rounds op(A) into A's buffer. */
typedef struct {
    int M, N, K, b_transposed, accumulate, nthreads;
    dnnl_primitive_t prim;
    dnnl_memory_t src, wei, dst, pad;
    void *pad_buf;
} Prim;

#define MAX_PRIMS 96
static Prim prims[MAX_PRIMS];
static int n_prims, next_evict;
static long late_creations;
/* operand buffers: A (tokens x inner), W (weights), T (the transposed dout, or inp) */
static uint16_t *buf_a, *buf_w, *buf_t;
static size_t cap_a, cap_w, cap_t;

static int grow(uint16_t **buf, size_t *cap, size_t n) {
    if (n <= *cap) return 0;
    uint16_t *p = realloc(*buf, n * sizeof(uint16_t));
    if (!p) return rb_fail("out of memory for the bf16 operand buffers (%zu MB)", n >> 19);
    *buf = p;
    *cap = n;
    return 0;
}

/* A (M x K) B (K x N) -> C (M x N), all row-major; B optionally stored transposed (N x K). */
static int create_prim(Prim *p, int M, int N, int K, int b_transposed, int accumulate) {
    dnnl_memory_desc_t a_md, b_md, c_md;
    dnnl_dims_t a_dims = {M, K}, a_str = {K, 1}, b_dims = {K, N}, c_dims = {M, N}, c_str = {N, 1};
    dnnl_dims_t b_str = {N, 1};
    if (b_transposed) {
        b_str[0] = 1;
        b_str[1] = K;
    }
    dnnl_matmul_desc_t md;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_desc_t pd = NULL;
    int ok =
        dnnl_memory_desc_init_by_strides(&a_md, 2, a_dims, dnnl_bf16, a_str) == dnnl_success &&
        dnnl_memory_desc_init_by_strides(&b_md, 2, b_dims, dnnl_bf16, b_str) == dnnl_success &&
        dnnl_memory_desc_init_by_strides(&c_md, 2, c_dims, dnnl_f32, c_str) == dnnl_success &&
        dnnl_matmul_desc_init(&md, &a_md, &b_md, NULL, &c_md) == dnnl_success &&
        dnnl_primitive_attr_create(&attr) == dnnl_success &&
        dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user) == dnnl_success;
    if (ok && accumulate)
        ok = dnnl_post_ops_create(&po) == dnnl_success &&
             dnnl_post_ops_append_sum(po, 1.0f) == dnnl_success &&
             dnnl_primitive_attr_set_post_ops(attr, po) == dnnl_success;
    ok = ok && dnnl_primitive_desc_create(&pd, &md, attr, engine, NULL) == dnnl_success;
    if (po) dnnl_post_ops_destroy(po);
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (!ok) return rb_fail("oneDNN: no bf16 matmul for %d x %d x %d", M, N, K);
    const dnnl_memory_desc_t *pad_md =
        dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    size_t pad_bytes = pad_md ? dnnl_memory_desc_get_size(pad_md) : 0;
    p->pad_buf = pad_bytes ? malloc(pad_bytes) : NULL;
    ok = (!pad_bytes || p->pad_buf) && dnnl_primitive_create(&p->prim, pd) == dnnl_success &&
         dnnl_memory_create(&p->src, &a_md, engine, DNNL_MEMORY_NONE) == dnnl_success &&
         dnnl_memory_create(&p->wei, &b_md, engine, DNNL_MEMORY_NONE) == dnnl_success &&
         dnnl_memory_create(&p->dst, &c_md, engine, DNNL_MEMORY_NONE) == dnnl_success;
    if (ok && pad_bytes)
        ok = dnnl_memory_create(&p->pad, pad_md, engine, p->pad_buf) == dnnl_success;
    dnnl_primitive_desc_destroy(pd);
    if (!ok) return rb_fail("oneDNN: cannot create the bf16 matmul %d x %d x %d", M, N, K);
    p->M = M;
    p->N = N;
    p->K = K;
    p->b_transposed = b_transposed;
    p->accumulate = accumulate;
    p->nthreads = omp_get_max_threads();
    return 0;
}

static void destroy_prim(Prim *p) {
    if (p->prim) dnnl_primitive_destroy(p->prim);
    dnnl_memory_t mems[4] = {p->src, p->wei, p->dst, p->pad};
    for (int i = 0; i < 4; i++)
        if (mems[i]) dnnl_memory_destroy(mems[i]);
    free(p->pad_buf);
    memset(p, 0, sizeof *p);
}

static Prim *find_prim(int M, int N, int K, int bt, int acc) {
    int nt = omp_get_max_threads();
    for (int i = 0; i < n_prims; i++) {
        Prim *p = &prims[i];
        if (p->M == M && p->N == N && p->K == K && p->b_transposed == bt && p->accumulate == acc &&
            p->nthreads == nt)
            return p;
    }
    return NULL;
}

/* The primitive of this product, created (and counted as late when late) if there is none. */
static Prim *get_prim(int M, int N, int K, int bt, int acc, int late) {
    Prim *p = find_prim(M, N, K, bt, acc);
    if (p) return p;
    if (dnnl_ready() != 0) return NULL;
    if (n_prims < MAX_PRIMS)
        p = &prims[n_prims++];
    else { /* full (only inference's many token counts get here): reuse the oldest late slot */
        p = &prims[next_evict];
        next_evict = (next_evict + 1) % MAX_PRIMS;
        destroy_prim(p);
    }
    if (create_prim(p, M, N, K, bt, acc) != 0) {
        destroy_prim(p);
        return NULL;
    }
    late_creations += late;
    return p;
}

/* A linear layer's three products (late: created at call time) and its operand buffers. */
static int linear_ready(int N, int IC, int OC, int dinp_acc, int late) {
    size_t io = (size_t)(IC > OC ? IC : OC);
    if (!get_prim(N, OC, IC, 1, 0, late) || !get_prim(N, IC, OC, 0, dinp_acc, late) ||
        !get_prim(OC, IC, N, 0, 1, late))
        return -1;
    return grow(&buf_a, &cap_a, (size_t)N * io) || grow(&buf_w, &cap_w, (size_t)IC * OC) ||
                   grow(&buf_t, &cap_t, (size_t)N * io)
               ? -1
               : 0;
}

static int selected_bf16(void) {
    return sel_backend == RB_GEMM_ONEDNN && sel_precision == RB_PREC_BF16;
}

int gemm_prepare_linear(int N, int IC, int OC) {
    if (!selected_bf16()) return 0;
    if (linear_ready(N, IC, OC, 0, 0) != 0 || linear_ready(N, IC, OC, 1, 0) != 0) return -1;
    next_evict = n_prims % MAX_PRIMS; /* prepared primitives are evicted last */
    return 0;
}

/* gemm_product's primitive and buffers: op(A) rounded into buf_t (M x K), B into buf_w. */
static int product_ready(int tb, int M, int N, int K, int accumulate, int late) {
    if (!get_prim(M, N, K, tb, accumulate, late)) return -1;
    return grow(&buf_t, &cap_t, (size_t)M * K) || grow(&buf_w, &cap_w, (size_t)K * N) ? -1 : 0;
}

int gemm_prepare_product(int tb, int M, int N, int K, int accumulate) {
    if (!selected_bf16()) return 0;
    if (product_ready(tb, M, N, K, accumulate, 0) != 0) return -1;
    next_evict = n_prims % MAX_PRIMS;
    return 0;
}

long gemm_late_creations(void) {
    return late_creations;
}

size_t gemm_bf16_buffer_bytes(int N, int max_in, int max_out) {
    size_t io = (size_t)(max_in > max_out ? max_in : max_out);
    return 2 * ((size_t)N * io * 2 + (size_t)max_in * max_out);
}

static void run_prim(int M, int N, int K, int bt, int acc, const void *a, const void *b, float *c) {
    Prim *p = get_prim(M, N, K, bt, acc, 1);
    if (!p) {
        latch_failure("%s", rb_error());
        return;
    }
    dnnl_memory_set_data_handle(p->src, (void *)a);
    dnnl_memory_set_data_handle(p->wei, (void *)b);
    dnnl_memory_set_data_handle(p->dst, c);
    dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, p->src},
                               {DNNL_ARG_WEIGHTS, p->wei},
                               {DNNL_ARG_DST, p->dst},
                               {DNNL_ARG_SCRATCHPAD, p->pad}};
    if (dnnl_primitive_execute(p->prim, stream, p->pad ? 4 : 3, args) != dnnl_success ||
        dnnl_stream_wait(stream) != dnnl_success)
        latch_failure("oneDNN: bf16 matmul %d x %d x %d failed", M, N, K);
}

void gemm_linear_forward(float *out, const float *inp, const float *w, int N, int IC, int OC) {
    if (sel_precision != RB_PREC_BF16) {
        gemm_f32(0, 1, N, OC, IC, 1.0f, inp, IC, w, IC, 0.0f, out, OC);
        return;
    }
    if (linear_ready(N, IC, OC, 0, 1) != 0) { /* buffers big enough, also when late */
        latch_failure("%s", rb_error());
        return;
    }
    gemm_round_bf16(buf_a, inp, (size_t)N * IC);
    gemm_round_bf16(buf_w, w, (size_t)OC * IC);
    run_prim(N, OC, IC, 1, 0, buf_a, buf_w, out);
}

void gemm_linear_backward(float *dinp, float *dw, const float *dout, const float *inp,
                          const float *w, int N, int IC, int OC, float beta_dinp) {
    if (sel_precision != RB_PREC_BF16) {
        if (dinp) gemm_f32(0, 0, N, IC, OC, 1.0f, dout, OC, w, IC, beta_dinp, dinp, IC);
        gemm_f32(1, 0, OC, IC, N, 1.0f, dout, OC, inp, IC, 1.0f, dw, IC);
        return;
    }
    int dinp_acc = beta_dinp != 0.0f;
    if (linear_ready(N, IC, OC, dinp_acc, 1) != 0) {
        latch_failure("%s", rb_error());
        return;
    }
    if (dinp) {
        gemm_round_bf16(buf_a, dout, (size_t)N * OC);
        gemm_round_bf16(buf_w, w, (size_t)OC * IC);
        run_prim(N, IC, OC, 0, dinp_acc, buf_a, buf_w, dinp);
    }
    round_bf16_transposed(buf_t, dout, N, OC);
    gemm_round_bf16(buf_a, inp, (size_t)N * IC);
    run_prim(OC, IC, N, 0, 1, buf_t, buf_a, dw);
}

void gemm_product(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B,
                  int ldb, float beta, float *C, int ldc) {
    if (sel_precision != RB_PREC_BF16) {
        gemm_f32(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    if (lda != (ta ? M : K) || ldb != (tb ? K : N) || ldc != N || (beta != 0.0f && beta != 1.0f)) {
        latch_failure("gemm_product: bf16 needs dense operands (lda %d, ldb %d, ldc %d for %d x "
                      "%d x %d) and beta 0 or 1 (%g)",
                      lda, ldb, ldc, M, N, K, (double)beta);
        return;
    }
    int acc = beta != 0.0f;
    if (product_ready(tb, M, N, K, acc, 1) != 0) {
        latch_failure("%s", rb_error());
        return;
    }
    if (ta)
        round_bf16_transposed(buf_t, A, K, M); /* A stored (K x M) */
    else
        gemm_round_bf16(buf_t, A, (size_t)M * K);
    gemm_round_bf16(buf_w, B, (size_t)K * N);
    run_prim(M, N, K, tb, acc, buf_t, buf_w, C);
}

void gemm_describe(char *buf, size_t n) {
    const dnnl_version_t *v = dnnl_version();
    static const struct {
        dnnl_cpu_isa_t isa;
        const char *name;
    } isas[] = {{dnnl_cpu_isa_avx512_core_amx, "avx512_core_amx"},
                {dnnl_cpu_isa_avx512_core_bf16, "avx512_core_bf16"},
                {dnnl_cpu_isa_avx512_core_vnni, "avx512_core_vnni"},
                {dnnl_cpu_isa_avx512_core, "avx512_core"},
                {dnnl_cpu_isa_avx2, "avx2"},
                {dnnl_cpu_isa_sse41, "sse41"}};
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    const char *isa_name = "unknown";
    for (size_t i = 0; i < sizeof isas / sizeof isas[0]; i++)
        if ((isa & isas[i].isa) == isas[i].isa) {
            isa_name = isas[i].name;
            break;
        }
    snprintf(buf, n, "openblas (%s, kernels %s); onednn (oneDNN %d.%d.%d, ISA %s, bf16 %s)",
             openblas_get_config(), gemm_openblas_core(), v->major, v->minor, v->patch, isa_name,
             cpu_has_bf16() ? "yes" : "no (no AVX512_BF16)");
}

#endif
