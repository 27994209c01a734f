#!/usr/bin/env bash
# Fault injection against `resbench train` and `ablate`: kill -9 at 20 random points, SIGINT and
# SIGTERM, a full disk (ulimit -f), corrupted checkpoints (truncations and byte flips), two
# processes on one run directory, an ablation killed mid-way, and an injected NaN gradient. Every
# case must end in a clear error or in metrics identical to an uninterrupted run.
# usage: test_faults.sh RESBENCH TRAIN_NAN   (TRAIN_NAN: tests/train_nan.c, the NaN case)
set -uo pipefail
BIN=$1
NAN_BIN=${2:?usage: test_faults.sh RESBENCH TRAIN_NAN (tests/train_nan.c)}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
CFG=(steps=1500 log_every=1 ckpt_every=10 eval_every=250 eval_tokens=512 profile_every=250
     batch_size=4 seq_len=32 n_layer=2 d_model=32 n_head=2 threads=1 "out=$OUT")
fail() { echo "FAIL: $*"; exit 1; }
# the trajectory of a run: every column of metrics.csv but wall time and tok/s; and profile.csv
traj() { cut -d, -f1-3,5-8 "$1/metrics.csv"; cat "$1/profile.csv"; }
same_as_ref() { [ "$(traj "$OUT/ref")" = "$(traj "$1")" ] || fail "$2: metrics differ from the uninterrupted run"; }
lines() { if [ -f "$1" ]; then wc -l < "$1"; else echo 0; fi; }
# final files are whole or absent: INI files end with their last key, CSV rows are complete
check_whole() {
  local d=$1
  [ ! -f "$d/result.ini" ] || grep -q '^loss_floor = ' "$d/result.ini" || fail "$d/result.ini is partial"
  [ ! -f "$d/config.ini" ] || grep -q '^run_id = ' "$d/config.ini" || fail "$d/config.ini is partial"
  [ ! -f "$d/meta.ini" ] || grep -q '^data = ' "$d/meta.ini" || fail "$d/meta.ini is partial"
}
# resume until done (a run killed before its first checkpoint is started again)
finish() {
  local d=$OUT/$1
  if [ -f "$d/ckpt.bin" ]; then "$BIN" train --resume "$d" >/dev/null || fail "resume of $1"
  else "$BIN" train "${CFG[@]}" run_id="$1" >/dev/null || fail "restart of $1"; fi
}

"$BIN" train "${CFG[@]}" run_id=ref >/dev/null || fail "reference run"

# 1. kill -9 at 20 random points (delays from a fixed seed)
delays=$(awk 'BEGIN { srand(20261125); for (i = 0; i < 20; i++) printf "%.3f ", 0.02 + rand() * 1.3 }')
i=0
for delay in $delays; do
  i=$((i + 1))
  "$BIN" train "${CFG[@]}" run_id=k$i >/dev/null 2>&1 &
  pid=$!
  sleep "$delay"
  kill -9 $pid 2>/dev/null
  wait $pid 2>/dev/null
  check_whole "$OUT/k$i"
  finish k$i
  check_whole "$OUT/k$i"
  same_as_ref "$OUT/k$i" "kill -9 after ${delay}s"
done
echo "kill -9 at 20 random points ($delays s): every resumed run equals the uninterrupted one"

# 2. SIGINT and SIGTERM: stop within a step with a checkpoint, exit 3, resume exactly
for sig in INT TERM; do
  "$BIN" train "${CFG[@]}" run_id=s$sig >/dev/null 2>"$OUT/s$sig.err" &
  pid=$!
  while [ "$(lines "$OUT/s$sig/metrics.csv")" -lt 100 ]; do sleep 0.01; done
  at=$(($(lines "$OUT/s$sig/metrics.csv") - 1))
  kill -$sig $pid
  wait $pid
  rc=$?
  [ $rc -eq 3 ] || fail "SIG$sig: exit code $rc, expected 3"
  last=$(($(lines "$OUT/s$sig/metrics.csv") - 1))
  # the run stops after the step in progress; between reading $at and the kill the loop keeps
  # running, so on a loaded machine a few more rows may appear: bound it loosely (timing)
  [ $((last - at)) -le 10 ] || fail "SIG$sig: $((last - at)) more steps after the signal"
  grep -q "interrupted by signal" "$OUT/s$sig.err" || fail "SIG$sig: no message"
  finish s$sig
  same_as_ref "$OUT/s$sig" "SIG$sig"
done
echo "SIGINT / SIGTERM: exit 3 within a step, checkpoint written, resume identical"

# 3. disk full: the file-size limit is below the checkpoint's size
"$BIN" train "${CFG[@]}" run_id=full >/dev/null 2>&1 &
pid=$!
while [ "$(lines "$OUT/full/metrics.csv")" -lt 200 ]; do sleep 0.01; done
kill -TERM $pid
wait $pid
cp "$OUT/full/ckpt.bin" "$OUT/full.saved"
limit=$(( $(stat -c %s "$OUT/full/ckpt.bin") / 2048 ))
(ulimit -f $limit; "$BIN" train --resume "$OUT/full" >/dev/null 2>"$OUT/full.err")
rc=$?
[ $rc -ne 0 ] || fail "disk full: exit 0"
[ "$(wc -l < "$OUT/full.err")" -eq 1 ] || { cat "$OUT/full.err"; fail "disk full: not one line"; }
grep -q "$OUT/full/ckpt.bin" "$OUT/full.err" || fail "disk full: the error does not name the file"
cmp -s "$OUT/full/ckpt.bin" "$OUT/full.saved" || fail "disk full: the previous checkpoint changed"
finish full
same_as_ref "$OUT/full" "disk full then resumed"
echo "disk full (ulimit -f ${limit} KB): exit $rc, '$(cat "$OUT/full.err")'; checkpoint intact"

# 4. corrupted checkpoints: truncations and byte flips never resume
cp -r "$OUT/full" "$OUT/good"
rm -f "$OUT/good/result.ini" "$OUT/good/ckpt.bin.tmp"
"$BIN" train "${CFG[@]}" steps=1500 run_id=cut >/dev/null 2>&1 &
pid=$!
while [ "$(lines "$OUT/cut/metrics.csv")" -lt 300 ]; do sleep 0.01; done
kill -TERM $pid
wait $pid
size=$(stat -c %s "$OUT/cut/ckpt.bin")
cp "$OUT/cut/ckpt.bin" "$OUT/cut.ckpt"
cp "$OUT/cut/metrics.csv" "$OUT/cut.metrics"
offsets=$(awk -v n="$size" 'BEGIN { srand(7); split("0 1 7 8 12 16 24 32 40 48 56 64 71 72 100 300", h, " ");
  for (i in h) printf "%d ", h[i]; for (i = 0; i < 24; i++) printf "%d ", int(rand() * n) }')
cases=0
for off in $offsets; do
  for kind in truncate flip; do
    cp "$OUT/cut.ckpt" "$OUT/cut/ckpt.bin"
    if [ $kind = truncate ]; then
      truncate -s "$off" "$OUT/cut/ckpt.bin"
    else
      byte=$(od -An -tu1 -j "$off" -N1 "$OUT/cut.ckpt" | tr -d ' ')
      printf "$(printf '\\%03o' $(( (byte ^ 16) & 255 )))" |
        dd of="$OUT/cut/ckpt.bin" bs=1 seek="$off" conv=notrunc status=none
    fi
    "$BIN" train --resume "$OUT/cut" >/dev/null 2>"$OUT/cut.err"
    rc=$?
    [ $rc -eq 2 ] || fail "$kind at $off: exit $rc (expected 2): $(cat "$OUT/cut.err")"
    [ "$(wc -l < "$OUT/cut.err")" -eq 1 ] && grep -q "checkpoint $OUT/cut/ckpt.bin" "$OUT/cut.err" ||
      fail "$kind at $off: unclear error: $(cat "$OUT/cut.err")"
    cmp -s "$OUT/cut/metrics.csv" "$OUT/cut.metrics" || fail "$kind at $off: metrics touched"
    cases=$((cases + 1))
  done
done
cp "$OUT/cut.ckpt" "$OUT/cut/ckpt.bin"
finish cut
same_as_ref "$OUT/cut" "after the corruption cases"
echo "corrupted checkpoints: $cases truncations and byte flips of a $size-byte file refused"

# 5. two processes on one run directory
"$BIN" train "${CFG[@]}" run_id=two >/dev/null 2>&1 &
pid=$!
while [ "$(lines "$OUT/two/metrics.csv")" -lt 20 ]; do sleep 0.01; done
"$BIN" train "${CFG[@]}" run_id=two >/dev/null 2>"$OUT/two.err"
rc=$?
[ $rc -eq 2 ] && grep -q "is in use by another resbench process" "$OUT/two.err" ||
  fail "second process: exit $rc, $(cat "$OUT/two.err")"
"$BIN" train --resume "$OUT/two" >/dev/null 2>"$OUT/two.err" && fail "resume beside a live run"
wait $pid || fail "the first process failed"
same_as_ref "$OUT/two" "the first of two processes"
echo "two processes: the second refused ('$(cat "$OUT/two.err")'), the first unharmed"

# 6. an ablation killed mid-way resumes: finished runs skipped, the broken one redone
ABL=(--variants prenorm,attnres_block --seeds 1 n_layer=2 d_model=32 n_head=2 seq_len=32
     batch_size=4 steps=1500 eval_every=500 eval_tokens=512 profile_every=500 ckpt_every=50 log_every=1
     threads=1 attnres_blocks=2 "out=$OUT")
RESBENCH_PLOTS=/nonexistent "$BIN" ablate "${ABL[@]}" --name abl-ref >/dev/null 2>&1 || fail "reference ablation"
"$BIN" ablate "${ABL[@]}" --name abl >/dev/null 2>&1 &
pid=$!
while [ "$(lines "$OUT/abl/attnres_block-s1/metrics.csv")" -lt 300 ]; do sleep 0.01; done
kill -9 $pid
wait $pid 2>/dev/null
RESBENCH_PLOTS=/nonexistent "$BIN" ablate "${ABL[@]}" --name abl >"$OUT/abl.log" 2>&1
grep -q "^prenorm,.*,skipped,[^,]*,[^,]*$" "$OUT/abl/summary.csv" || fail "ablation: prenorm was not skipped"
grep -q "^attnres_block,.*,ok,[^,]*,[^,]*$" "$OUT/abl/summary.csv" || fail "ablation: attnres_block not redone"
for v in prenorm attnres_block; do
  [ "$(traj "$OUT/abl-ref/$v-s1")" = "$(traj "$OUT/abl/$v-s1")" ] || fail "ablation: $v differs"
done
echo "ablation killed mid-way: prenorm skipped, attnres_block resumed, both equal to a clean ablation"

# 7. a NaN injected into a gradient stops the run, names step and sublayer, keeps the checkpoint
"$NAN_BIN" 437 "${CFG[@]}" run_id=nan >/dev/null 2>"$OUT/nan.err"
rc=$?
[ $rc -eq 2 ] || fail "NaN: exit $rc"
grep -q "non-finite gradient at step 437 in tensor w2 of sublayer 2 (MLP of block 1)" "$OUT/nan.err" ||
  fail "NaN: $(cat "$OUT/nan.err")"
[ "$(tail -1 "$OUT/nan/metrics.csv" | cut -d, -f1)" = 436 ] || fail "NaN: logged past the fault"
finish nan
same_as_ref "$OUT/nan" "resume after the NaN stop"
echo "NaN gradient: '$(cat "$OUT/nan.err")'; resumed from the step-430 checkpoint, identical"
