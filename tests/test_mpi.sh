#!/usr/bin/env bash
# Data-parallel training is the same experiment as one process: `mpirun -np 2` (threads=1 each)
# against one process with the same global batch, prenorm and attnres_block, 20 steps; losses
# must agree to 1e-5 relative at every step. Then: resume of a 2-rank run (stopped by SIGTERM)
# with 1 rank; batch not divisible by the ranks; ranks with different configs.
# usage: test_mpi.sh RESBENCH MPIEXEC
set -euo pipefail
BIN=$1
MPIEXEC=$2
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
MPI=("$MPIEXEC" -np 2 --oversubscribe)
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
COMMON=(steps=20 log_every=1 eval_every=10 eval_tokens=512 profile_every=10 batch_size=4
        seq_len=32 n_layer=2 d_model=32 n_head=2 threads=1 warmup=5 "out=$OUT")

# compare the train and val losses of two metrics.csv files to a relative tolerance
compare() {
  awk -F, -v tol=1e-5 'NR == FNR { tr[FNR] = $6; va[FNR] = $7; n = FNR; next }
    FNR > 1 {
      if (!(FNR in tr)) { print "row " FNR " missing in the first file"; bad = 1; exit }
      d = ($6 - tr[FNR]) / tr[FNR]; if (d < 0) d = -d; if (d > worst) worst = d
      if (d > tol) { print "step " $1 ": train loss " tr[FNR] " vs " $6; bad = 1 }
      if ($7 != "" || va[FNR] != "") {
        e = ($7 - va[FNR]) / va[FNR]; if (e < 0) e = -e; if (e > worst) worst = e
        if (e > tol) { print "step " $1 ": val loss " va[FNR] " vs " $7; bad = 1 }
      }
      rows++
    }
    END { if (rows != n - 1) { print "row counts differ"; bad = 1 }
          printf "  %d steps, max relative loss difference %.2e\n", rows, worst; exit bad }' "$1" "$2"
}

for v in prenorm attnres_block; do
  "$BIN" train "${COMMON[@]}" variant=$v run_id=$v-1 >/dev/null
  "${MPI[@]}" "$BIN" train "${COMMON[@]}" variant=$v run_id=$v-2 > "$OUT/$v-2.log"
  grep -q "data-parallel over 2 MPI ranks" "$OUT/$v-2.log"
  echo "$v: 1 process vs 2 MPI ranks"
  compare "$OUT/$v-1/metrics.csv" "$OUT/$v-2/metrics.csv"
  test -s "$OUT/$v-2/profile.csv" && test -s "$OUT/$v-2/ckpt.bin" && test -s "$OUT/$v-2/result.ini"
done

# a 2-rank run stopped by SIGTERM (sent to the ranks), resumed by one process
# (every step evaluates 8192 tokens so that the run is slow enough to be caught mid-way)
SLOW=(steps=60 eval_every=1 eval_tokens=8192 variant=prenorm)
"${MPI[@]}" "$BIN" train "${COMMON[@]}" "${SLOW[@]}" run_id=cut > "$OUT/cut.log" 2>&1 &
launcher=$!
for _ in $(seq 1 600); do
  [ -f "$OUT/cut/metrics.csv" ] && [ "$(wc -l < "$OUT/cut/metrics.csv")" -gt 10 ] && break
  sleep 0.1
done
for p in $(pgrep -f "run_id=cut"); do [ "$p" != "$launcher" ] && kill -TERM "$p" 2>/dev/null || true; done
wait "$launcher" && { echo "the interrupted run exited 0"; exit 1; }
grep -q "interrupted by signal" "$OUT/cut.log" || { cat "$OUT/cut.log"; exit 1; }
echo "  stopped after $(($(wc -l < "$OUT/cut/metrics.csv") - 1)) steps"
"$BIN" train --resume "$OUT/cut" >/dev/null
"$BIN" train "${COMMON[@]}" "${SLOW[@]}" run_id=whole >/dev/null
echo "prenorm: 2 ranks interrupted by SIGTERM, resumed by 1 process, vs 1 process throughout"
compare "$OUT/whole/metrics.csv" "$OUT/cut/metrics.csv"

# errors: a batch the ranks cannot split, ranks with different configs
if "${MPI[@]}" "$BIN" train "${COMMON[@]}" batch_size=3 run_id=odd > "$OUT/odd.log" 2>&1; then
  echo "batch_size=3 on 2 ranks was accepted"; exit 1
fi
grep -q "batch_size=3 is not divisible by the 2 MPI ranks" "$OUT/odd.log" || { cat "$OUT/odd.log"; exit 1; }
if "$MPIEXEC" --oversubscribe -np 1 "$BIN" train "${COMMON[@]}" run_id=mix seed=1 : \
     -np 1 "$BIN" train "${COMMON[@]}" run_id=mix seed=2 > "$OUT/mix.log" 2>&1; then
  echo "ranks with different configs were accepted"; exit 1
fi
grep -q "different configs" "$OUT/mix.log" || { cat "$OUT/mix.log"; exit 1; }
echo "errors: indivisible batch and mismatched configs refused"
