#!/usr/bin/env python3
"""The PyTorch peer of `resbench bench --vs-torch` (docs/performance.md): times one training step
(forward, backward, global-norm clipping, AdamW) of the same model per variant in PyTorch float32,
with the same thread count and shape. The model is the independent reference of make_fixtures.py
(written from docs/variants.md), with two changes a PyTorch user would make for speed: the causal
mask and the rotary tables are built once per shape instead of per call. Steps of the variants are
interleaved, as in resbench's bench, and the median step counts.

Prints one CSV line per variant to stdout: variant,step_ms,tok_per_s, the variant's spec quoted
(comment lines start with #). resbench passes every arm's whole spec (each option of its variant).
Exit 77 when torch is not installed.
  bench_torch.py --variants prenorm,mhc --threads 2 --steps 20 --warmup 3 n_layer=6 d_model=256 ...
"""
import math
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_fixtures as ref  # noqa: E402  (exits 77 without torch)
import torch  # noqa: E402

SHAPE = dict(n_layer=6, d_model=256, n_head=4, seq_len=256, batch_size=16, vocab_size=256,
             mlp_hidden=0, attnres_blocks=4, mhc_streams=4, sinkhorn_iters=20, lr=1e-4,
             weight_decay=0.1, grad_clip=1.0, rope_theta=10000.0, tie_embeddings=0)
_TABLES = {}


def tables(T, hs, theta):
    """The causal mask and the rotary cos/sin for (T, hs), built once."""
    key = (T, hs, theta)
    if key not in _TABLES:
        inv = theta ** (-torch.arange(0, hs // 2, dtype=torch.float32) * 2.0 / hs)
        ang = torch.arange(T, dtype=torch.float32)[:, None] * inv[None, :]
        cos, sin = torch.cat([ang.cos()] * 2, -1), torch.cat([ang.sin()] * 2, -1)
        mask = torch.ones(T, T, dtype=torch.bool).tril()
        _TABLES[key] = (mask, cos, sin)
    return _TABLES[key]


def attention(h, g, wqkv, wo, cfg):
    B, T, C = h.shape
    nh = cfg["n_head"]
    hs = C // nh
    mask, cos, sin = tables(T, hs, cfg["rope_theta"])
    x = ref.rmsnorm(h, g)
    q, k, v = (x @ wqkv.T).split(C, dim=-1)
    q, k, v = [t.view(B, T, nh, hs).transpose(1, 2) for t in (q, k, v)]

    def rope(t):
        t1, t2 = t[..., : hs // 2], t[..., hs // 2:]
        return t * cos + torch.cat([-t2, t1], -1) * sin

    q, k = rope(q), rope(k)
    s = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(hs))
    s = s.masked_fill(~mask, float("-inf"))
    y = torch.softmax(s, -1) @ v
    return y.transpose(1, 2).reshape(B, T, C) @ wo.T


ref.attention = attention  # the reference's sublayer() looks the name up at call time


def parse(argv):
    opts = {"variants": ",".join(ref.STREAMS), "threads": "0",
            "steps": "20", "warmup": "3", "autocast": "off"}
    shape = dict(SHAPE)
    it = iter(argv)
    for a in it:
        if a.startswith("--") and a[2:] in opts:
            opts[a[2:]] = next(it, "")
        elif "=" in a and a.split("=", 1)[0] in shape:
            k, v = a.split("=", 1)
            shape[k] = float(v) if isinstance(SHAPE[k], float) else int(v)
        else:
            sys.exit(f"bench_torch.py: unknown argument '{a}' (--variants, --threads, --steps, "
                     f"--warmup, or one of {', '.join(shape)} as key=value)")
    if shape["mlp_hidden"] == 0:  # resbench's default: 8/3 d rounded up to a multiple of 64
        shape["mlp_hidden"] = ((8 * shape["d_model"] + 2) // 3 + 63) // 64 * 64
    return opts, shape


def arms(s):
    """Arms as resbench's --variants splits them: a piece OPTION=VALUE belongs to the arm before."""
    out = []
    for piece in filter(None, s.split(",")):
        if "=" in piece and ":" not in piece and out:
            out[-1] += "," + piece
        else:
            out.append(piece)
    return out


def build(variant, shape, seed):
    name, _, spec = variant.partition(":")
    if name not in ref.STREAMS:
        sys.exit(f"bench_torch.py: unknown variant '{name}'")
    cfg = dict(shape, variant=name)
    for kv in filter(None, spec.split(",")):
        k, v = kv.split("=", 1)
        key = {"blocks": "attnres_blocks", "streams": "mhc_streams", "iters": "sinkhorn_iters"}
        cfg[key.get(k, k)] = int(v) if v.isdigit() else v
    if name == "attnres_full":
        cfg["attnres_blocks"] = 2 * cfg["n_layer"]
    if name not in ("mhc", "hc"):
        cfg["mhc_streams"] = 0
    gen = torch.Generator().manual_seed(seed)
    params = ref.init_params(cfg, gen)
    for k in ("wte", "wqkv", "wo", "w13", "w2", "head"):  # resbench's 0.02 scale, not 0.2
        params[k] = params[k] * 0.1
    params = {k: v.float().requires_grad_(True) for k, v in params.items()}
    decay = {n: d for n, _, d in ref.param_shapes(cfg)}
    groups = [{"params": [p for k, p in params.items() if decay[k]],
               "weight_decay": cfg["weight_decay"]},
              {"params": [p for k, p in params.items() if not decay[k]], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=cfg["lr"], betas=(0.9, 0.95), eps=1e-8)
    B, T, V = cfg["batch_size"], cfg["seq_len"], cfg["vocab_size"]
    tokens = torch.randint(0, V, (B, T + 1), generator=gen)
    return cfg, params, opt, tokens


def step(model, autocast):
    cfg, params, opt, tokens = model
    opt.zero_grad(set_to_none=True)
    # bf16 autocast: PyTorch's CPU mixed precision (matmuls with bf16 operands, fp32 weights,
    # gradients and optimizer state), the counterpart of resbench's precision=bf16
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        _, loss = ref.forward(params, tokens, cfg)
    loss.float().backward()
    torch.nn.utils.clip_grad_norm_(list(params.values()), cfg["grad_clip"])
    opt.step()
    return loss


def main():
    opts, shape = parse(sys.argv[1:])
    torch.set_default_dtype(torch.float32)
    if int(opts["threads"]) > 0:
        torch.set_num_threads(int(opts["threads"]))
    if opts["autocast"] not in ("off", "bf16"):
        sys.exit(f"bench_torch.py: --autocast '{opts['autocast']}': expected off or bf16")
    autocast = opts["autocast"] == "bf16"
    variants = arms(opts["variants"])
    models = [build(v, shape, 7) for v in variants]
    for _ in range(int(opts["warmup"])):
        for m in models:
            step(m, autocast)
    times = [[] for _ in variants]
    for _ in range(int(opts["steps"])):
        for i, m in enumerate(models):
            t0 = time.perf_counter()
            loss = step(m, autocast)
            times[i].append(time.perf_counter() - t0)
            if not math.isfinite(loss.item()):
                sys.exit(f"bench_torch.py: {variants[i]}: non-finite loss")
    ntok = shape["batch_size"] * shape["seq_len"]
    mode = "bf16 autocast" if autocast else "float32"
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} threads, {mode}")
    print("variant,step_ms,tok_per_s")
    for v, t in zip(variants, times):
        med = statistics.median(t)
        print(f'"{v}",{med * 1e3:.3f},{ntok / med:.1f}')  # quoted: a spec holds commas


if __name__ == "__main__":
    main()
