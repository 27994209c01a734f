#include "checkpoint.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

static const char CKPT_MAGIC[8] = {'R', 'B', 'C', 'K', 'P', 'T', 0, 1};
/* model.bin: the same header and config, then the parameters alone (no optimizer state) */
static const char MODEL_MAGIC[8] = {'R', 'B', 'M', 'O', 'D', 'E', 'L', 1};
#define CKPT_VERSION 2 /* 2: the checksum covers the header too */

typedef struct {
    char magic[8];
    uint32_t version, header_bytes;
    uint64_t config_hash;
    int64_t step;
    uint64_t n_params;
    double wall_s, best_val;
    uint64_t config_len;
    uint64_t checksum; /* over the header (this field 0), config text, params, m, v, in order */
} CkptHeader;

_Static_assert(sizeof(CkptHeader) == 72, "CkptHeader must have no padding (it is hashed whole)");

/* Checksum of a checkpoint laid out as header, config, params, m, v (the pieces may live apart);
 * a model file (adam_m NULL) ends after params. */
static uint64_t ckpt_checksum(const CkptHeader *h, const char *cfg, const void *params,
                              const void *adam_m, const void *adam_v, size_t bytes) {
    CkptHeader z = *h;
    z.checksum = 0; /* the struct has no padding: every byte hashed is a field */
    uint64_t sum = rb_hash_bytes(RB_HASH_SEED, &z, sizeof z);
    sum = rb_hash_bytes(sum, cfg, h->config_len);
    sum = rb_hash_bytes(sum, params, bytes);
    if (!adam_m) return sum;
    sum = rb_hash_bytes(sum, adam_m, bytes);
    return rb_hash_bytes(sum, adam_v, bytes);
}

static int save_file(const char *path, const Model *m, const CkptState *st, int with_optimizer);

int checkpoint_save(const char *path, const Model *m, const CkptState *st) {
    return save_file(path, m, st, 1);
}

int checkpoint_save_model(const char *path, const Model *m, const CkptState *st) {
    return save_file(path, m, st, 0);
}

static int save_file(const char *path, const Model *m, const CkptState *st, int with_optimizer) {
    char *cfg = config_to_ini(&m->cfg);
    CkptHeader h = {.version = CKPT_VERSION,
                    .header_bytes = sizeof(CkptHeader),
                    .config_hash = config_hash(&m->cfg),
                    .step = st->step,
                    .n_params = m->n_params,
                    .wall_s = st->wall_s,
                    .best_val = st->best_val,
                    .config_len = strlen(cfg)};
    memcpy(h.magic, with_optimizer ? CKPT_MAGIC : MODEL_MAGIC, 8);
    h.checksum = ckpt_checksum(&h, cfg, m->params, with_optimizer ? m->adam_m : NULL, m->adam_v,
                               m->n_params * sizeof(float));
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        free(cfg);
        return rb_fail("checkpoint %s: cannot write: %s", tmp, strerror(errno));
    }
    size_t nb = m->n_params * sizeof(float);
    int bad = fwrite(&h, sizeof h, 1, f) != 1 || fwrite(cfg, 1, h.config_len, f) != h.config_len ||
              fwrite(m->params, 1, nb, f) != nb ||
              (with_optimizer &&
               (fwrite(m->adam_m, 1, nb, f) != nb || fwrite(m->adam_v, 1, nb, f) != nb)) ||
              fflush(f) != 0 || fsync(fileno(f)) != 0;
    int err = errno;
    if (fclose(f) != 0 && !bad) {
        bad = 1;
        err = errno;
    }
    free(cfg);
    if (bad) {
        unlink(tmp);
        return rb_fail("checkpoint %s: write failed: %s (the previous checkpoint is intact)", path,
                       strerror(err));
    }
    if (rename(tmp, path) != 0) {
        err = errno;
        unlink(tmp);
        return rb_fail("checkpoint %s: rename failed: %s", path, strerror(err));
    }
    return rb_fsync_dir(path);
}

/* The checkpoint's stored config against cfg when their hashes differ: 0 when it is the same
 * config (no trajectory key differs: an older resbench hashed configs differently, e.g. with every
 * variant's options; the checksum, verified next, covers the text), else -1 naming the first key
 * that differs. */
static int check_stored_config(const char *path, const Config *cfg, const char *text, size_t len,
                               uint64_t saved_hash) {
    char *copy = rb_calloc(len + 1, 1, "checkpoint config");
    memcpy(copy, text, len);
    Config saved;
    config_defaults(&saved);
    ConfigDiff d;
    int rc = -1;
    if (config_load_ini_text(&saved, copy, path) != 0)
        rb_fail("checkpoint %s: checksum mismatch (file is corrupt: its config text is "
                "unreadable)",
                path);
    else if (config_first_difference(cfg, &saved, CONFIG_TRAJECTORY, &d))
        rb_fail("checkpoint %s: written by a different config: %s = %s here, %s in the checkpoint "
                "(on resume only keys that leave the trajectory alone, such as threads or "
                "log_every, may change)",
                path, d.key, d.a, d.b);
    else if (config_hash(&saved) == saved_hash)
        rb_fail("checkpoint %s: written by a different config (hash %016llx, this config %016llx)",
                path, (unsigned long long)saved_hash, (unsigned long long)config_hash(cfg));
    else
        rc = 0;
    free(copy);
    return rc;
}

static int load_file(const char *path, Model *m, CkptState *st, int params_only);

int checkpoint_load(const char *path, Model *m, CkptState *st) {
    return load_file(path, m, st, 0);
}

int checkpoint_load_params(const char *path, Model *m, CkptState *st) {
    return load_file(path, m, st, 1);
}

static int load_file(const char *path, Model *m, CkptState *st, int params_only) {
    char *buf;
    size_t size;
    if (rb_read_file(path, &buf, &size) != 0) return rb_fail("checkpoint: %s", rb_error());
    CkptHeader h;
    int rc = -1;
    size_t nb = m->n_params * sizeof(float);
    if (size < sizeof h) {
        rb_fail("checkpoint %s: truncated (%zu bytes, smaller than the %zu-byte header)", path,
                size, sizeof h);
        goto done;
    }
    memcpy(&h, buf, sizeof h);
    int is_model = memcmp(h.magic, MODEL_MAGIC, 8) == 0;
    if (is_model && !params_only) {
        rb_fail("checkpoint %s: a parameters-only model file (no optimizer state): it cannot "
                "continue training",
                path);
        goto done;
    }
    if (!is_model && memcmp(h.magic, CKPT_MAGIC, 8) != 0) {
        rb_fail("checkpoint %s: not a resbench checkpoint (bad magic)", path);
        goto done;
    }
    if (h.version != CKPT_VERSION) {
        rb_fail("checkpoint %s: unsupported format version %u (this build reads version %d; a "
                "corrupt header reads as a wrong version too)",
                path, h.version, CKPT_VERSION);
        goto done;
    }
    if (h.header_bytes != sizeof h) {
        rb_fail("checkpoint %s: corrupt header (its size field says %u bytes, version %d headers "
                "have %zu)",
                path, h.header_bytes, CKPT_VERSION, sizeof h);
        goto done;
    }
    if (h.config_len > (1u << 20) || size < sizeof h + h.config_len) {
        rb_fail("checkpoint %s: corrupt header (config text of %llu bytes in a %zu-byte file)",
                path, (unsigned long long)h.config_len, size);
        goto done;
    }
    if (h.config_hash != config_hash(&m->cfg) && /* before sizes: name the key that differs */
        check_stored_config(path, &m->cfg, buf + sizeof h, h.config_len, h.config_hash) != 0)
        goto done;
    if (h.n_params != m->n_params) {
        rb_fail("checkpoint %s: holds %llu parameters, the config needs %zu (different model)",
                path, (unsigned long long)h.n_params, m->n_params);
        goto done;
    }
    size_t expect = sizeof h + h.config_len + (is_model ? 1 : 3) * nb;
    if (size != expect) {
        rb_fail("checkpoint %s: %zu bytes, expected %zu (truncated or padded)", path, size, expect);
        goto done;
    }
    if (h.step < 0) {
        rb_fail("checkpoint %s: negative step %lld (corrupt)", path, (long long)h.step);
        goto done;
    }
    const char *body = buf + sizeof h + h.config_len;
    /* verify before touching the model, so a corrupt file never leaves it half-loaded */
    if (ckpt_checksum(&h, buf + sizeof h, body, is_model ? NULL : body + nb, body + 2 * nb, nb) !=
        h.checksum) {
        rb_fail("checkpoint %s: checksum mismatch (file is corrupt)", path);
        goto done;
    }
    memcpy(m->params, body, nb);
    if (!params_only) {
        memcpy(m->adam_m, body + nb, nb);
        memcpy(m->adam_v, body + 2 * nb, nb);
    }
    st->step = h.step;
    st->wall_s = h.wall_s;
    st->best_val = h.best_val;
    rc = 0;
done:
    free(buf);
    return rc;
}
