#!/usr/bin/env bash
# Replays the committed corpus of every libFuzzer target, then fuzzes each for SECONDS on a copy of
# it (the committed corpus is not modified). Any crash, sanitizer report or leak fails; the crash
# input is kept under ARTIFACTS. usage: run_fuzz.sh BUILD_DIR SECONDS [ARTIFACTS_DIR]
set -euo pipefail
build=$1
secs=$2
art=${3:-$(mktemp -d)}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$art"
for t in config text llmc ckpt csv; do
  bin=$build/fuzz_$t
  [ -x "$bin" ] || { echo "run_fuzz: $bin missing (configure with CC=clang -DRESBENCH_FUZZ=ON)"; exit 2; }
  "$bin" -runs=0 "$here/corpus/$t"/* >"$work/$t-replay.log" 2>&1 ||
    { tail -30 "$work/$t-replay.log"; echo "fuzz_$t: the committed corpus crashes"; exit 1; }
  mkdir -p "$work/$t"
  cp "$here/corpus/$t"/* "$work/$t/"
  if ! "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
       -artifact_prefix="$art/$t-" "$work/$t" >"$work/$t.log" 2>&1; then
    tail -40 "$work/$t.log"
    echo "fuzz_$t: crash (input in $art)"
    exit 1
  fi
  runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$work/$t.log")
  echo "fuzz_$t: corpus of $(ls "$here/corpus/$t" | wc -l) replayed, $runs executions in ${secs} s, no crash"
done
