#!/usr/bin/env bash
# Behaviour lock for refactorings (issue "Architecture II"): a short run of every variant, with
# non-default options, and a tiny ablation. `golden.sh BIN DIR` writes their losses to DIR/golden.csv;
# `golden.sh BIN --check FILE` compares with FILE (tests/regress/golden.csv, recorded before the
# redesign): bit-identical on the machine that recorded it (the test prints whether), within 1e-5
# relative on others (their BLAS kernels round differently; a change of behaviour moves losses by
# far more).
set -u
BIN=$(readlink -f "${1:?usage: golden.sh RESBENCH_BINARY (OUTDIR | --check FILE)}")
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
common="data=synth:markov n_layer=2 d_model=32 n_head=2 seq_len=16 batch_size=4 steps=12
  warmup=3 eval_every=6 eval_tokens=64 log_every=1 threads=1 out=$W"
# Every variant the binary registers (its `train --help` list, in registry order), each with the
# non-default options below if it has an entry: a new variant runs here without an edit (its rows
# are then missing from the recorded file until it is re-recorded with `golden.sh BIN DIR`).
declare -A options=(
  [attnres_block]="attnres_blocks=2"
  [mhc]="mhc_streams=3 sinkhorn_iters=5"
  [hc]="mhc_streams=3"
)
mapfile -t variants < <("$BIN" train --help | awk '/^variants \(/ { f = 1; next } /^keys / { f = 0 }
  f && /^  [a-z]/ { print $1 }')
[ "${#variants[@]}" -gt 0 ] || { echo "golden.sh: no variants in '$BIN train --help'" >&2; exit 1; }
for v in "${!options[@]}"; do
  [[ " ${variants[*]} " == *" $v "* ]] || { echo "golden.sh: options for unknown variant $v" >&2; exit 1; }
done
runs=()
for v in "${variants[@]}"; do runs+=("$v|variant=$v ${options[$v]:-}"); done
{
  echo "run,step,train_loss,val_loss,grad_norm"
  for r in "${runs[@]}"; do
    id=${r%%|*}
    # shellcheck disable=SC2086
    "$BIN" train $common ${r#*|} run_id="$id" >/dev/null 2>"$W/err" || { cat "$W/err" >&2; exit 1; }
    awk -F, -v id="$id" 'NR > 1 { print id "," $1 "," $6 "," $7 "," $8 }' "$W/$id/metrics.csv"
  done
  # shellcheck disable=SC2086
  "$BIN" ablate $common --variants prenorm,attnres_block,hc --seeds 1,2 --name abl \
    attnres_blocks=2 mhc_streams=2 steps=8 >/dev/null 2>"$W/err" || { cat "$W/err" >&2; exit 1; }
  awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
    { print "ablate-" $c["variant"] "-s" $c["seed"] ",8," $c["final_val_loss"] ",," }' "$W/abl/summary.csv"
} >"$W/golden.csv"
if [ "${2:-}" != "--check" ]; then
  mkdir -p "${2:?}" && cp "$W/golden.csv" "$2/golden.csv" && echo "wrote $2/golden.csv"
  exit 0
fi
want=${3:?usage: golden.sh BIN --check FILE}
if cmp -s "$want" "$W/golden.csv"; then
  echo "golden: $(($(wc -l <"$want") - 1)) losses bit-identical to $want"
  exit 0
fi
awk -F, 'NR == FNR { for (i = 3; i <= 5; i++) v[$1 "," $2 "," i] = $i; n++; next }
  { for (i = 3; i <= 5; i++) { k = $1 "," $2 "," i; if (!(k in v)) { print "extra row " $1 " " $2; bad++; continue }
      a = v[k]; b = $i; if (a == b) continue
      d = a - b; if (d < 0) d = -d; s = a < 0 ? -a : a
      if (a == "" || b == "" || d > 1e-5 * s) { print "differs: " $1 " step " $2 " col " i ": " a " vs " b; bad++ } }
    m++ }
  END { if (m != n) { print "row count " m " vs " n; bad++ }
    if (bad) exit 1; print "golden: not bit-identical (another machine?) but within 1e-5 relative: " m " rows" }' \
  "$want" "$W/golden.csv"
