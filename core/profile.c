#include "profile.h"

#include <math.h>
#include <stdlib.h>

#include "ops.h"

/* L2 norm of the gradients of the parameters owned by sublayer l (norm gain and matrices). */
static double sublayer_grad_norm(const Model *m, int l) {
    size_t C = m->C, H = m->H, k = l / 2;
    if (l % 2 == 0)
        return sqrt(sum_sq(m->g.attn_g + k * C, C) + sum_sq(m->g.wqkv + k * 3 * C * C, 3 * C * C) +
                    sum_sq(m->g.wo + k * C * C, C * C));
    return sqrt(sum_sq(m->g.mlp_g + k * C, C) + sum_sq(m->g.w13 + k * 2 * H * C, 2 * H * C) +
                sum_sq(m->g.w2 + k * C * H, C * H));
}

int profile_rows(Model *m, ProfileRow *rows) {
    size_t nd = (size_t)m->N * m->C;
    for (int l = 0; l < m->L; l++) {
        ProfileRow *r = &rows[l];
        r->layer = l + 1;
        r->kind = l % 2 == 0 ? "attn" : "mlp";
        if (l % 2 == 0 && m->attn_split[l / 2]) { /* q, k, v inputs (attn_inputs): all three */
            const AttnInputs *in = &m->attn_in[l / 2];
            r->input_rms = sqrt(
                (sum_sq(in->h[0], nd) + sum_sq(in->h[1], nd) + sum_sq(in->h[2], nd)) / (3.0 * nd));
        } else
            r->input_rms = rms_of(m->sub_in[l], nd);
        r->output_rms = rms_of(m->a.sub_out + (size_t)l * nd, nd);
        r->stream_rms = m->vops->stream_rms ? m->vops->stream_rms(&m->stream, l) : NAN;
    }
    ProfileRow *out = &rows[m->L];
    out->layer = m->L + 1;
    out->kind = "out";
    out->input_rms = out->stream_rms = rms_of(m->stream_out, nd);
    out->output_rms = rms_of(m->a.logits, (size_t)m->N * m->V);
    double grad_rms[RB_MAX_SUB + 1] = {0}; /* filled by model_backward */
    m->grad_rms = grad_rms;
    model_zero_grad(m);
    int rc = model_backward(m);
    m->grad_rms = NULL;
    if (rc != 0) return -1;
    for (int l = 0; l <= m->L; l++) rows[l].grad_rms = grad_rms[l];
    for (int l = 0; l < m->L; l++) rows[l].param_grad_norm = sublayer_grad_norm(m, l);
    out->param_grad_norm =
        sqrt(sum_sq(m->g.final_g, m->C) + sum_sq(m->g.head, (size_t)m->V * m->C));
    return 0;
}
