/* The GEMM backend layer: every matrix product of the model (the linear layers through
 * ops.c's matmul_forward/matmul_backward, the attention's per-head products through gemm_f32)
 * runs here, on OpenBLAS or oneDNN, in fp32 or with bf16 operands (docs/performance.md, "GEMM
 * backends and precision"). The selection is process-wide: the model selects its config's
 * backend and precision at the start of every forward and backward (model.c), so models with
 * different backends can live side by side (bench). */
#ifndef RB_GEMM_H
#define RB_GEMM_H
#include <stddef.h>
#include <stdint.h>

enum { RB_GEMM_OPENBLAS, RB_GEMM_ONEDNN, RB_GEMM_BACKENDS };
enum { RB_PREC_FP32, RB_PREC_BF16, RB_PRECISIONS };

const char *gemm_backend_name(int backend);
const char *gemm_precision_name(int precision);
/* The index of a backend / precision name, or -1. */
int gemm_backend_index(const char *name);
int gemm_precision_index(const char *name);
/* 0 when this build and this CPU can run backend at precision; otherwise -1 and rb_error() says
 * why in one line (no oneDNN in the build, no AVX512_BF16, bf16 on OpenBLAS). */
int gemm_check(int backend, int precision);
/* Selects the backend and precision of the products that follow (process-wide). */
void gemm_select(int backend, int precision);
int gemm_selected_backend(void);
int gemm_selected_precision(void);

/* The products below return nothing: a product that fails (oneDNN refuses it, a bf16 primitive
 * or buffer cannot be made) leaves C unspecified and is latched. gemm_take_error returns 0 when
 * every product since its last call ran, else -1 with rb_error() naming the first that failed
 * (and clears the latch); each step that runs products (model_forward, model_backward,
 * optimizer_apply, infer_step) calls it before it returns. */
int gemm_take_error(void);

/* Row-major C (M x N) = alpha op(A) op(B) + beta C in fp32 on the selected backend (trans: 0 or 1;
 * op(A) is M x K). The precision does not apply: the attention's products stay fp32. */
void gemm_f32(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc);

/* A linear layer with W stored (OC, IC), on the selected backend and precision:
 * forward out (N, OC) = inp W^T; backward dinp = dout W (beta 0 overwrites, 1 accumulates;
 * skipped when dinp is NULL) and dw += dout^T inp. With bf16 the operands (inp, W, dout) are
 * rounded to bf16 (nearest even) into buffers gemm_prepare_linear made; products accumulate and
 * land in fp32. */
void gemm_linear_forward(float *out, const float *inp, const float *w, int N, int IC, int OC);
void gemm_linear_backward(float *dinp, float *dw, const float *dout, const float *inp,
                          const float *w, int N, int IC, int OC, float beta_dinp);
/* Creates, for the selected backend and precision, everything a linear layer of this shape needs
 * (bf16: the oneDNN primitives of its three products and the operand buffers) so that the
 * training step creates and allocates nothing (model_build calls it per shape). 0 or -1. */
int gemm_prepare_linear(int N, int IC, int OC);
/* A product of trainable tensors outside the linear layers (mhc's and hc's coefficient
 * projections and their gradients): row-major C (M x N) = op(A) op(B) + beta C on the selected
 * backend and precision (bf16: op(A) and op(B) rounded to bf16, fp32 accumulation and output; the
 * operands dense, lda and ldb their stored row lengths, ldc = N, beta 0 or 1). With fp32 it is
 * gemm_f32 with alpha 1. */
void gemm_product(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B,
                  int ldb, float beta, float *C, int ldc);
/* What gemm_prepare_linear does for one gemm_product shape (tb and beta != 0 as it will be
 * called); the variants call it from setup. 0 or -1. */
int gemm_prepare_product(int tb, int M, int N, int K, int accumulate);
/* bf16 products whose primitive was not prepared and had to be created at call time (inference's
 * varying token counts do; a training step must not: tested). */
long gemm_late_creations(void);
/* Bytes of the bf16 operand buffers a model of these linear shapes needs (memory estimate). */
size_t gemm_bf16_buffer_bytes(int N, int max_in, int max_out);

/* Round to nearest even (NaN stays NaN) and back. */
static inline uint16_t gemm_to_bf16(float f) {
    union {
        float f;
        uint32_t u;
    } v = {f};
    if ((v.u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((v.u >> 16) | 0x40u);
    v.u += 0x7fffu + ((v.u >> 16) & 1u);
    return (uint16_t)(v.u >> 16);
}
static inline float gemm_from_bf16(uint16_t h) {
    union {
        uint32_t u;
        float f;
    } v = {(uint32_t)h << 16};
    return v.f;
}
void gemm_round_bf16(uint16_t *dst, const float *src, size_t n);

/* One line per backend: library, version, kernels (OpenBLAS core name; oneDNN's ISA). */
void gemm_describe(char *buf, size_t n);
/* OpenBLAS's kernel family (openblas_get_corename), e.g. "Haswell". */
const char *gemm_openblas_core(void);

#endif
