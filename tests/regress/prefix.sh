#!/usr/bin/env bash
# Regression against committed results: the first 20 steps of committed reference runs, retrained
# from their own config.ini (stop_at_step=20), must reproduce the committed metrics.csv rows at
# those steps: lr exactly, train loss and gradient norm within 2e-3 (bit-identical on the machine
# and thread count that made them; other CPUs round differently). A change to the model, its
# initialization, the data order or the schedule moves them far more. Runs on text data skip
# when the text file is absent.
# usage: tests/regress/prefix.sh BUILD/resbench
set -u
BIN=$(readlink -f "${1:?usage: prefix.sh RESBENCH_BINARY}")
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
cd "$ROOT" || exit 1
N=20
checked=0 failed=0
for run in quickstart-ablation/prenorm-s1 quickstart-ablation/attnres_block-s1 \
  quickstart-ablation/mhc-s1 campaign/part1-loss/attnres_full-s1 campaign/part1-loss/hc-s1; do
  dir=results/reference/$run
  data=$(sed -n 's/^data = //p' "$dir/config.ini")
  if [ "${data#text:}" != "$data" ] && [ ! -f "${data#text:}" ]; then
    echo "skip $run: ${data#text:} is absent"
    continue
  fi
  "$BIN" train --config "$dir/config.ini" out="$W" run_id="r$checked" stop_at_step=$N \
    log_every=1 >/dev/null 2>"$W/err"
  rc=$?
  if [ $rc -ne 3 ] || ! grep -q "stopped after step $N as stop_at_step asked" "$W/err"; then
    echo "FAIL $run: exit $rc, expected 3: $(cat "$W/err")"
    failed=$((failed + 1))
    continue
  fi
  # step,tokens,flops,wall_s,lr,train_loss,val_loss,grad_norm,tok_per_s: join on step <= N
  bad=$(awk -F, -v n=$N 'NR == FNR { if (FNR > 1 && $1 <= n) { lr[$1] = $5; l[$1] = $6; g[$1] = $8 } next }
    FNR > 1 && ($1 in l) { k++
      dl = $6 - l[$1]; dg = $8 - g[$1]; if (dl < 0) dl = -dl; if (dg < 0) dg = -dg
      if ($5 != lr[$1] || dl > 2e-3 || dg > 2e-3) { printf "step %s: lr %s/%s loss %s/%s gnorm %s/%s; ", $1, lr[$1], $5, l[$1], $6, g[$1], $8 } }
    END { if (k < 2) print "fewer than 2 committed rows to compare" }' \
    "$dir/metrics.csv" "$W/r$checked/metrics.csv")
  if [ -n "$bad" ]; then
    echo "FAIL $run: $bad"
    failed=$((failed + 1))
  fi
  checked=$((checked + 1))
done
echo "prefix regression: $checked committed runs retrained for $N steps, $failed differ"
[ $failed -eq 0 ] && [ $checked -ge 3 ]
