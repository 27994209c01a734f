#!/usr/bin/env bash
# Job lists: `ablate --jobs FILE` run by GNU parallel with 2 slots and then `ablate --gather` gives
# the summary.csv of the same ablation trained here, except the timing columns (tok_per_s, wall_s,
# overhead_pct, cpu_util); --gather refuses with one line naming the runs while any is missing,
# unfinished or damaged, and writes no summary; --jobs lists just what is left; campaign.sh --jobs
# writes one job list per part. Seconds: tiny shapes, threads=1.
# usage: tests/test_jobs.sh BUILD/resbench SOURCE_DIR   (exit 77: GNU parallel is not installed)
set -u
BIN=$(readlink -f "${1:?usage: test_jobs.sh RESBENCH_BINARY SOURCE_DIR}")
SRC=$(readlink -f "${2:?usage: test_jobs.sh RESBENCH_BINARY SOURCE_DIR}")
if ! command -v parallel >/dev/null 2>&1; then
  echo "test_jobs: skipped: GNU parallel is not installed (apt-get install parallel)"
  exit 77
fi
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fail() {
  echo "FAIL: $*"
  exit 1
}
A=(--variants prenorm,attnres_full,attnres_block:blocks=1 --seeds 1,2 n_layer=2 d_model=16 n_head=2
   seq_len=16 batch_size=2 steps=8 eval_every=4 eval_tokens=32 threads=1 "out=$W")

# refuse REGEX NAME...: the last command's exit 2, one line of stderr matching REGEX, no summary
refuse() {
  local rc=$1 re=$2 exp=$3
  [ "$rc" = 2 ] || fail "expected exit 2, got $rc: $(cat "$W/err")"
  [ "$(wc -l <"$W/err")" = 1 ] || fail "stderr is not one line: $(cat "$W/err")"
  grep -qE -- "$re" "$W/err" || fail "stderr lacks /$re/: $(cat "$W/err")"
  [ ! -e "$W/$exp/summary.csv" ] || fail "a refused gather wrote $exp/summary.csv"
}

# the columns of a summary.csv but the timing ones (variant specs here hold no commas)
untimed() {
  awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) keep[i] = $i !~ /^(tok_per_s|wall_s|overhead_pct|cpu_util)$/ }
           { s = ""; for (i = 1; i <= NF; i++) if (keep[i]) s = s $i ","; print s }' "$1"
}

"$BIN" ablate "${A[@]}" --name local >"$W/local.out" 2>&1 || fail "local ablate: $(tail -3 "$W/local.out")"
"$BIN" ablate "${A[@]}" --name jobs --jobs "$W/jobs.txt" >"$W/out" 2>"$W/err" || fail "--jobs: $(cat "$W/err")"
[ "$(wc -l <"$W/jobs.txt")" = 6 ] || fail "the job list has $(wc -l <"$W/jobs.txt") lines, expected 6"
grep -q "6 commands written to $W/jobs.txt" "$W/out" || fail "--jobs: $(cat "$W/out")"
[ ! -e "$W/jobs/prenorm-s1" ] || fail "--jobs trained a run"

"$BIN" ablate "${A[@]}" --name jobs --gather >"$W/out" 2>"$W/err"
refuse $? "6 of 6 runs are not finished: prenorm-s1 \(no run directory\), attnres_full-s1" jobs

parallel --will-cite -j2 <"$W/jobs.txt" >"$W/parallel.log" 2>&1 || fail "parallel: $(tail -5 "$W/parallel.log")"
"$BIN" ablate "${A[@]}" --name jobs --gather >"$W/out" 2>"$W/err" || fail "--gather: $(cat "$W/err")"
grep -q "gathered 6 finished runs" "$W/out" || fail "--gather: $(cat "$W/out")"
[ -s "$W/jobs/report.md" ] || fail "--gather wrote no report.md"
untimed "$W/local/summary.csv" >"$W/local.csv"
untimed "$W/jobs/summary.csv" >"$W/jobs.csv"
[ "$(wc -l <"$W/jobs.csv")" = 7 ] || fail "the gathered summary has $(wc -l <"$W/jobs.csv") lines"
head -1 "$W/jobs.csv" | grep -q "final_val_loss,best_val_loss,build,status," ||
  fail "summary columns: $(head -1 "$W/jobs.csv")"
diff "$W/local.csv" "$W/jobs.csv" >"$W/diff" || fail "gathered summary differs from the local one: $(cat "$W/diff")"
# the build column is each run's meta.ini git_rev
rev=$(sed -n 's/^git_rev = //p' "$W/jobs/attnres_full-s2/meta.ini")
[ -n "$rev" ] && grep -q "^attnres_full,2,.*,$rev,ok,," "$W/jobs/summary.csv" ||
  fail "build column is not meta.ini's git_rev '$rev'"

"$BIN" ablate "${A[@]}" --name jobs --jobs "$W/again.txt" >"$W/out" 2>"$W/err" || fail "--jobs again: $(cat "$W/err")"
[ ! -s "$W/again.txt" ] && grep -q "all 6 runs are finished" "$W/out" || fail "--jobs after the runs: $(cat "$W/out")"

# an unfinished and a damaged run: gather refuses naming both; --jobs lists the unfinished one's
# resume (interrupted) but refuses a damaged one whose job could only fail
cp -r "$W/jobs" "$W/dmg"
rm -f "$W/dmg/summary.csv" "$W/dmg/lock"
rm "$W/dmg/prenorm-s2/result.ini"
: >"$W/dmg/prenorm-s2/ckpt.bin"
sed -i '/^final_val_loss/d' "$W/dmg/attnres_full-s1/result.ini"
"$BIN" ablate "${A[@]}" --name dmg --gather >"$W/out" 2>"$W/err"
refuse $? "2 of 6 runs are not finished: attnres_full-s1 \(result.ini has no final_val_loss.*\), prenorm-s2 \(interrupted: ckpt.bin, no result.ini\)" dmg
"$BIN" ablate "${A[@]}" --name dmg --jobs "$W/dmg.txt" >"$W/out" 2>"$W/err"
refuse $? "1 run directory cannot be run as a job: attnres_full-s1" dmg
rm -r "$W/dmg/attnres_full-s1"
"$BIN" ablate "${A[@]}" --name dmg --jobs "$W/dmg.txt" >"$W/out" 2>"$W/err" || fail "--jobs: $(cat "$W/err")"
grep -q "^'$BIN' train --resume '$W/dmg/prenorm-s2' threads=1$" "$W/dmg.txt" &&
  grep -q "'run_id=attnres_full-s1'" "$W/dmg.txt" && [ "$(wc -l <"$W/dmg.txt")" = 2 ] ||
  fail "job list of the left runs: $(cat "$W/dmg.txt")"

# the campaign: one job list per part (part 5 trains on synthetic data: always available)
RESBENCH=$BIN "$SRC/experiments/campaign.sh" --jobs "$W/cj" --out "$W/co" 5 >"$W/out" 2>"$W/err" ||
  fail "campaign.sh --jobs: $(cat "$W/err")"
[ "$(wc -l <"$W/cj/part5.jobs")" = 16 ] || fail "campaign part 5: $(wc -l <"$W/cj/part5.jobs") jobs, expected 16"
grep -q "out=$W/co/part5-compose" "$W/cj/part5.jobs" || fail "campaign part 5 job list: $(head -1 "$W/cj/part5.jobs")"
echo "test_jobs: ok (parallel -j2 then --gather = the local ablation but timing; refusals name the runs)"
