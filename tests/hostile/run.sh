#!/usr/bin/env bash
# Hostile-input harness: every case is a resbench command a careless or hostile user could type,
# run against a workspace that holds a finished run and a finished experiment ("protected"). Each
# case states the exit code it must end with and a text its message must contain (the key, file or
# value at fault). A case is
#   a crash      when the process dies by a signal, times out, or a sanitizer reports;
#   unclear      when the exit code differs, or (for a refusal) stderr is not exactly one line
#                containing the expected text;
#   data-loss    when any file of the protected results changed.
# usage: tests/hostile/run.sh BUILD/resbench   (prints one line per failing case and the summary
#        "N cases, C crashes, U unclear, L data-loss"; exit 1 unless C, U and L are 0)
set -u
BIN=$(readlink -f "${1:?usage: run.sh RESBENCH_BINARY}")
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
cd "$W" || exit 1
export RESBENCH_PLOTS="${RESBENCH_PLOTS:-$(dirname "$(readlink -f "$0")")/../../plots}"

TINY=(n_layer=1 d_model=16 n_head=2 seq_len=16 batch_size=2 steps=4 eval_every=2 eval_tokens=32
      log_every=1 threads=1 attnres_blocks=2)

# ---- the protected workspace: a finished run, a finished 2 x 1 experiment, an interrupted run
"$BIN" train "${TINY[@]}" keep_ckpt=1 out=prot run_id=done >/dev/null 2>&1 || { echo "setup: train failed"; exit 1; }
"$BIN" ablate --variants prenorm,attnres_full --seeds 1 --name exp "${TINY[@]}" out=prot \
  >/dev/null 2>&1 || { echo "setup: ablate failed"; exit 1; }
"$BIN" train "${TINY[@]}" steps=40 ckpt_every=4 keep_ckpt=1 out=prot run_id=cut >/dev/null 2>&1
rm -f prot/cut/result.ini # an interrupted run: its checkpoint is at the last step, no result
"$BIN" train "${TINY[@]}" steps=400 ckpt_every=2 out=prot run_id=half >/dev/null 2>&1 &
half=$!
for _ in $(seq 200); do [ -f prot/half/ckpt.bin ] && break; sleep 0.05; done
kill -TERM $half 2>/dev/null; wait $half 2>/dev/null

# ---- hostile inputs
mkdir -p inputs scratch
mkfifo inputs/fifo
mkdir inputs/adir
: >inputs/empty.txt
printf 'abc' >inputs/short.txt
head -c 20000 /dev/urandom | base64 >inputs/text.txt
printf '[model]\nn_layer = 2\n[run]\nn_layer = 3\n' >inputs/dup.ini
printf 'n_layer = 2\nn_layer = 3\n' >inputs/dup_same.ini
printf 'n_layer = 2\nthis is not a key value line\n' >inputs/syntax.ini
printf 'depth = 3\n' >inputs/unknown.ini
printf 'lr = fast\n' >inputs/badval.ini
printf 'data = %0300d\n' 0 >inputs/longline.ini
head -c 3000 /dev/urandom >inputs/garbage.ini
printf 'steps = 10\nbudget_tokens = 5000\n' >inputs/twobudgets.ini
printf 'n_layer = 2 ; comment\nvariant = nope\n' >inputs/badvariant.ini
# llm.c shards: bad magic, truncated, token outside the vocabulary
python3 - <<'EOF' 2>/dev/null || perl -e '1'
import struct
def shard(path, magic, ntok, toks):
    with open(path, "wb") as f:
        h = [magic, 1, ntok] + [0] * 253
        f.write(struct.pack("<256i", *h))
        f.write(struct.pack("<%dH" % len(toks), *toks))
shard("inputs/badmagic_train.bin", 1234, 100, list(range(100)))
shard("inputs/trunc_train.bin", 20240520, 500, list(range(100)))
shard("inputs/vocab_train.bin", 20240520, 100, [300] * 100)
EOF
cp prot/done/ckpt.bin inputs/ckpt.good
mkdir -p scratch/nores
cp -r prot/cut scratch/cutcopy

snap() { find prot -type f ! -name lock ! -name '*.tmp' -print0 | sort -z | xargs -0 md5sum; }
BASE=$(snap)
N=0 C=0 U=0 L=0

# t WANT_RC NEEDLE CMD...   (NEEDLE must appear in stderr, or in stdout when WANT_RC is 0)
t() {
  local want=$1 needle=$2
  shift 2
  N=$((N + 1))
  timeout 120 "$@" >out.txt 2>err.txt </dev/null
  local rc=$? problem="" kind=""
  local lines
  lines=$(wc -l <err.txt)
  if [ $rc -ge 124 ] || grep -qE 'Sanitizer|runtime error|Segmentation|core dumped' err.txt; then
    kind=crash problem="exit $rc"
  elif [ $rc -ne "$want" ]; then
    kind=unclear problem="exit $rc, expected $want"
  elif [ "$want" -ne 0 ] && [ "$lines" -ne 1 ]; then
    kind=unclear problem="stderr has $lines lines"
  elif [ "$want" -ne 0 ] && ! grep -qF -- "$needle" err.txt; then
    kind=unclear problem="stderr lacks '$needle'"
  elif [ "$want" -eq 0 ] && ! grep -qF -- "$needle" out.txt; then
    kind=unclear problem="stdout lacks '$needle'"
  fi
  case $kind in
    crash) C=$((C + 1)) ;;
    unclear) U=$((U + 1)) ;;
  esac
  if [ "$(snap)" != "$BASE" ]; then
    L=$((L + 1))
    problem="$problem; protected results changed"
    BASE=$(snap)
  fi
  if [ -n "$problem" ]; then
    echo "FAIL #$N ($problem): $*"
    sed 's/^/    stderr: /' err.txt | head -3
  fi
}
R=("$BIN")
TR=("$BIN" train "${TINY[@]}" out=scratch)

# -- subcommands and their arguments
t 2 "no command given" "${R[@]}"
t 0 "build, " "${R[@]}" --version
t 2 "unknown command 'trian'" "${R[@]}" trian
t 2 "unknown option '--bogus'" "${R[@]}" train --bogus
t 2 "unknown option '--bogus'" "${R[@]}" ablate --bogus
t 2 "unknown option '--bogus'" "${R[@]}" sweep --bogus
t 2 "unknown option '--bogus'" "${R[@]}" fit --bogus
t 2 "unknown option '--bogus'" "${R[@]}" plot --bogus
t 2 "unknown option '--bogus'" "${R[@]}" report --bogus
t 2 "unknown option '--bogus'" "${R[@]}" bench --bogus
t 2 "unknown option '--bogus'" "${R[@]}" compare --bogus
t 2 "compare: needs 2 directories (A and B), got 1" "${R[@]}" compare prot/done
t 2 "inputs/none is neither a finished run" "${R[@]}" compare inputs/none prot/done
t 2 "prot/cut is neither a finished run" "${R[@]}" compare prot/done prot/cut
t 2 "unknown option '--bogus'" "${R[@]}" data --bogus
t 2 "--config needs an argument" "${R[@]}" train --config
t 2 "--resume needs an argument" "${R[@]}" train --resume
t 2 "--name needs an argument" "${R[@]}" ablate --name
t 2 "--seeds needs an argument" "${R[@]}" ablate --seeds
t 2 "--variants needs an argument" "${R[@]}" ablate --variants
t 2 "--layers needs an argument" "${R[@]}" sweep --layers
t 2 "--jobs needs an argument" "${R[@]}" sweep --jobs
t 2 "--out needs a value" "${R[@]}" fit prot/exp --out
t 2 "--bootstrap 'x'" "${R[@]}" fit prot/exp --bootstrap x
t 2 "plot: --out needs a value" "${R[@]}" plot prot/exp --out
t 2 "fit: no experiment directories given" "${R[@]}" fit
t 2 "plot: no directories given" "${R[@]}" plot
t 2 "no RESULTS_DIR" "${R[@]}" report
t 2 "report: at most 1 RESULTS_DIR (got another" "${R[@]}" report prot/exp prot/done
t 2 "sample: no RUN_DIR given" "${R[@]}" sample
t 2 "inputs/none has no config.ini (not a run directory)" "${R[@]}" sample inputs/none
t 2 "(tokens, not text); give --prompt-tokens" "${R[@]}" sample prot/done --prompt hi
t 2 "--prompt-tokens: 999 is outside the vocabulary [0, 256)" "${R[@]}" sample prot/done --prompt-tokens 1,999
t 2 "at most seq_len=16" "${R[@]}" sample prot/done --prompt-tokens 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17
t 2 "--temperature '-1': expected a number in [0, 100]" "${R[@]}" sample prot/done --temperature -1
t 2 "--top-k 9999 is larger than the vocabulary (256)" "${R[@]}" sample prot/done --top-k 9999
t 2 "--tokens '0': expected an integer" "${R[@]}" sample prot/done --tokens 0
t 2 "give --prompt or --prompt-tokens, not both" "${R[@]}" sample prot/done --prompt a --prompt-tokens 1
mkdir -p scratch/nomodel && cp prot/done/config.ini scratch/nomodel/
t 2 "scratch/nomodel has no model.bin or ckpt.bin: nothing to sample from" "${R[@]}" sample scratch/nomodel
t 0 "0 " "${R[@]}" sample prot/done --tokens 5 --seed 3
t 2 "inputs/none" "${R[@]}" fit inputs/none
t 2 "inputs/none" "${R[@]}" plot inputs/none
t 2 "inputs/none" "${R[@]}" report inputs/none
t 2 "--steps '0'" "${R[@]}" bench --steps 0
t 2 "--steps 'x'" "${R[@]}" bench --steps x
t 2 "--warmup '0'" "${R[@]}" bench --warmup 0
t 2 "unknown variant 'nope'" "${R[@]}" bench --variants nope
t 2 "is given twice" "${R[@]}" bench --variants prenorm,prenorm
t 2 "4 distinct compute values" "${R[@]}" fit prot/exp
# -- keys and values
t 2 "unknown key 'depth'" "${TR[@]}" depth=3
t 2 "key 'n_layer': 'abc'" "${TR[@]}" n_layer=abc
t 2 "key 'n_layer': 0" "${TR[@]}" n_layer=0
t 2 "key 'n_layer': 1000" "${TR[@]}" n_layer=1000
t 2 "key 'n_layer': '2.5'" "${TR[@]}" n_layer=2.5
t 2 "key 'n_layer': ''" "${TR[@]}" n_layer=
t 2 "key 'd_model': -8 is out of range" "${TR[@]}" d_model=-8
t 2 "key 'lr': 'nan'" "${TR[@]}" lr=nan
t 2 "key 'lr': 'inf'" "${TR[@]}" lr=inf
t 2 "key 'lr': '1e999'" "${TR[@]}" lr=1e999
t 2 "key 'lr': -1" "${TR[@]}" lr=-1
t 2 "key 'lr': '0x'" "${TR[@]}" lr=0x
t 2 "key 'seed': 1e30 is out of range" "${TR[@]}" seed=1e30
t 2 "key 'seed': -1" "${TR[@]}" seed=-1
t 2 "key 'beta2': 1" "${TR[@]}" beta2=1
t 2 "key 'warmup': -5 is out of range" "${TR[@]}" warmup=-5
t 2 "key 'threads': 5000" "${TR[@]}" threads=5000
t 2 "key 'val_fraction': 0" "${TR[@]}" val_fraction=0
t 2 "key 'variant': unknown value 'resnet'" "${TR[@]}" variant=resnet
t 2 "key 'variant': unknown value ''" "${TR[@]}" variant=
t 2 "expected key=value" "${TR[@]}" justakey
t 2 "expected key=value" "${TR[@]}" =3
t 2 "key 'data': the value contains ';'" "${TR[@]}" "data=text:a;b"
t 2 "key 'out': the value contains '#'" "${TR[@]}" "out=#x"
t 2 "control character" "${TR[@]}" "$(printf 'run_id=a\tb')"
t 2 "key 'out': 'dir '" "${TR[@]}" "out=dir "
t 2 "key 'data': value is longer" "${TR[@]}" "data=$(printf '%0250d' 0)"
t 2 "key 'run_id': '../escape'" "${TR[@]}" run_id=../escape
t 2 "key 'run_id': 'a/b'" "${TR[@]}" run_id=a/b
t 2 "key 'run_id': '..'" "${TR[@]}" run_id=..
t 2 "key 'run_id': '.'" "${TR[@]}" run_id=.
t 2 "key 'run_id': '.hidden'" "${TR[@]}" run_id=.hidden
t 2 "not divisible by n_head=3" "${TR[@]}" n_head=3
t 2 "head size" "${TR[@]}" d_model=24 n_head=8
t 2 "min_lr=0.1 is larger than lr" "${TR[@]}" min_lr=0.1
t 2 "eval_tokens=8 is smaller than seq_len=16" "${TR[@]}" eval_tokens=8
t 2 "budget_tokens=5000" "${TR[@]}" budget_tokens=5000
t 2 "steps=0" "${TR[@]}" steps=0
t 2 "budget_flops=1" "${TR[@]}" steps=0 budget_flops=1
t 2 "attnres_blocks" "${TR[@]}" variant=attnres_block attnres_blocks=3
t 2 "key 'mhc_streams': 9" "${TR[@]}" variant=mhc mhc_streams=9
t 2 "key 'mhc_streams': 1" "${TR[@]}" variant=mhc mhc_streams=1
t 2 "key 'sinkhorn_iters': 0" "${TR[@]}" variant=mhc sinkhorn_iters=0
t 2 "vocab_size" "${TR[@]}" data=synth:markov vocab_size=100
t 0 "run scratch/budget" "${TR[@]}" steps=0 budget_tokens=64 run_id=budget
# -- INI files
t 2 "inputs/adir: it is a directory" "${TR[@]}" --config inputs/adir
t 2 "inputs/fifo: it is a FIFO" "${TR[@]}" --config inputs/fifo
t 2 "/dev/zero: it is a character device" "${TR[@]}" --config /dev/zero
t 2 "inputs/missing.ini" "${TR[@]}" --config inputs/missing.ini
t 2 "key 'n_layer' is given a second time" "${TR[@]}" --config inputs/dup.ini
t 2 "dup_same.ini:2: key 'n_layer'" "${TR[@]}" --config inputs/dup_same.ini
t 2 "syntax.ini: line 2" "${TR[@]}" --config inputs/syntax.ini
t 2 "unknown key 'depth'" "${TR[@]}" --config inputs/unknown.ini
t 2 "key 'lr': 'fast'" "${TR[@]}" --config inputs/badval.ini
t 2 "longline.ini: line 1 is longer" "${TR[@]}" --config inputs/longline.ini
t 2 "garbage.ini" "${TR[@]}" --config inputs/garbage.ini
t 2 "budget_tokens=5000" "${R[@]}" train --config inputs/twobudgets.ini out=scratch
t 2 "unknown value 'nope'" "${TR[@]}" --config inputs/badvariant.ini
t 2 "inputs/adir: it is a directory" "${R[@]}" ablate --config inputs/adir
t 2 "inputs/fifo: it is a FIFO" "${R[@]}" sweep --config inputs/fifo
t 2 "/dev/zero: it is a character device" "${R[@]}" data --config /dev/zero
# -- data sources
t 2 "inputs/adir: it is a directory" "${TR[@]}" data=text:inputs/adir
t 2 "inputs/fifo: it is a FIFO" "${TR[@]}" data=text:inputs/fifo
t 2 "/dev/zero: it is a character device" "${TR[@]}" data=text:/dev/zero
t 2 "inputs/none.txt" "${TR[@]}" data=text:inputs/none.txt
t 2 "inputs/empty.txt: file is empty" "${TR[@]}" data=text:inputs/empty.txt
t 2 "inputs/short.txt" "${TR[@]}" data=text:inputs/short.txt
t 2 "vocab_size >= 256" "${TR[@]}" data=text:inputs/text.txt vocab_size=200
t 2 "no file matches" "${TR[@]}" "data=llmc:inputs/nothing_*.bin"
t 2 "inputs/adir: it is a directory" "${TR[@]}" "data=llmc:inputs/adi?"
t 2 "inputs/fifo: it is a FIFO" "${TR[@]}" "data=llmc:inputs/fif?"
t 2 "badmagic_train.bin: bad header" "${TR[@]}" "data=llmc:inputs/badmagic_*.bin"
t 2 "trunc_train.bin: header says 500 tokens" "${TR[@]}" "data=llmc:inputs/trunc_*.bin"
t 2 "vocab_train.bin: token 300" "${TR[@]}" "data=llmc:inputs/vocab_*.bin" vocab_size=256
t 2 "unknown generator 'synth:wiki'" "${TR[@]}" data=synth:wiki
t 2 "not synth:markov, synth:hops" "${TR[@]}" data=http://example.com
t 2 "option 'alphabet' is given twice" "${TR[@]}" data=synth:markov:alphabet=8,alphabet=16
t 2 "empty option" "${TR[@]}" data=synth:markov:alphabet=8,,order=1
t 2 "unknown option 'size'" "${TR[@]}" data=synth:markov:size=3
t 2 "option alphabet=0" "${TR[@]}" data=synth:markov:alphabet=0
t 2 "option order=x" "${TR[@]}" data=synth:markov:order=x
t 2 "option 'hops' is not name=value" "${TR[@]}" data=synth:hops:hops
t 2 "branch=9 exceeds alphabet=8" "${TR[@]}" data=synth:markov:alphabet=8,branch=9
t 2 "key 'eval_tokens': 0" "${TR[@]}" eval_tokens=0
t 2 "fewer than one batch" "${TR[@]}" data=text:inputs/text.txt eval_tokens=0 batch_size=512 val_fraction=0.01
t 2 "inputs/fifo: it is a FIFO" "${R[@]}" data data=text:inputs/fifo
# -- outputs
t 1 "prot/done/config.ini" "${TR[@]}" out=prot/done/config.ini run_id=x
t 1 "/proc/nowhere" "${TR[@]}" out=/proc/nowhere
t 2 "already holds a finished run" "${R[@]}" train "${TINY[@]}" out=prot run_id=done
t 2 "already holds a checkpoint" "${R[@]}" train "${TINY[@]}" out=prot run_id=half
t 2 "not a plain directory name" "${R[@]}" ablate --name ../x "${TINY[@]}" out=scratch
t 2 "not a plain directory name" "${R[@]}" ablate --name a/b "${TINY[@]}" out=scratch
t 2 "not a plain directory name" "${R[@]}" sweep --name .. --layers 1 --widths 16 "${TINY[@]}" out=scratch
t 2 "--jobs: cannot write" "${R[@]}" sweep --jobs inputs/adir --layers 1 --widths 16 --variants prenorm "${TINY[@]}" out=scratch
# -- checkpoints and resume
t 0 "already finished" "${R[@]}" train --resume prot/done
t 0 "already finished" "${R[@]}" train --resume prot/done/
t 0 "already finished" "${R[@]}" train --resume prot/done lr=0.01
t 2 "prot/nothing/config.ini" "${R[@]}" train --resume prot/nothing
t 2 "prot/exp/config.ini" "${R[@]}" train --resume prot/exp
t 2 "result.ini is missing" "${R[@]}" train --resume prot/cut
t 2 "lr = 0.01 here, 0.003 in the checkpoint" "${R[@]}" train --resume prot/half lr=0.01
t 2 "n_layer = 2 here, 1 in the checkpoint" "${R[@]}" train --resume prot/half n_layer=2
t 2 "seed = 5 here, 1 in the checkpoint" "${R[@]}" train --resume prot/half seed=5
rm -rf scratch/oldcols && cp -r prot/half scratch/oldcols
sed -i '1s/,val_loss//' scratch/oldcols/metrics.csv # a run written by another version
t 2 "scratch/oldcols/metrics.csv: its columns" "${R[@]}" train --resume scratch/oldcols
ckpt_case() { # NAME NEEDLE EDIT...: a copy of the interrupted run with its checkpoint edited
  rm -rf "scratch/$1"
  cp -r prot/half "scratch/$1"
  local f="scratch/$1/ckpt.bin"
  shift 2
  "$@" "$f"
}
flip() { printf "\\x$(printf %02x "$2")" | dd of="$3" bs=1 seek="$1" conv=notrunc 2>/dev/null; }
ck() { # NAME NEEDLE EDIT...
  local name=$1 needle=$2
  ckpt_case "$@"
  t 2 "$needle" "${R[@]}" train --resume "scratch/$name"
}
ck magic "bad magic" flip 0 88
ck version "unsupported format version" flip 8 7
ck version_hi "unsupported format version" flip 11 1
ck header "corrupt header" flip 12 100
ck hash "checksum mismatch" flip 16 1
ck step_hi "checksum mismatch" flip 24 1
ck step "checksum mismatch" flip 24 0
ck config "checksum mismatch" flip 80 65
ck tensor "checksum mismatch" flip 4000 1
ck trunc "expected" truncate -s 3000
ck empty "truncated" truncate -s 0
ck padded "expected" truncate -s +7
ck model "parameters-only model file" cp prot/done/model.bin
ckpt_case dir x rm -f
mkdir scratch/dir/ckpt.bin
t 2 "scratch/dir/ckpt.bin: it is a directory" "${R[@]}" train --resume scratch/dir
ckpt_case fifo x rm -f
mkfifo scratch/fifo/ckpt.bin
t 2 "scratch/fifo/ckpt.bin: it is a FIFO" "${R[@]}" train --resume scratch/fifo
ckpt_case devzero x rm -f
ln -s /dev/zero scratch/devzero/ckpt.bin
t 2 "scratch/devzero/ckpt.bin: it is a character device" "${R[@]}" train --resume scratch/devzero
ckpt_case nockpt x rm -f
t 2 "scratch/nockpt/ckpt.bin" "${R[@]}" train --resume scratch/nockpt
ckpt_case other x cp inputs/ckpt.good
t 2 "in the checkpoint" "${R[@]}" train --resume scratch/other steps=400 ckpt_every=2
# -- experiments
t 2 "lr = 0.003, this command has lr = 0.01" "${R[@]}" ablate --variants prenorm,attnres_full --seeds 1 --name exp "${TINY[@]}" lr=0.01 out=prot
t 2 "n_layer = 1, this command has n_layer = 2" "${R[@]}" ablate --name exp "${TINY[@]}" n_layer=2 out=prot
t 2 "data_seed" "${R[@]}" ablate --name exp "${TINY[@]}" data_seed=7 out=prot
t 2 "this experiment was created with" "${R[@]}" sweep --name exp --layers 1 --widths 16 "${TINY[@]}" out=prot
t 2 "--seeds: 1 is given twice" "${R[@]}" ablate --seeds 1,1 "${TINY[@]}" out=scratch
t 2 "--seeds: '1,,2' has an empty item" "${R[@]}" ablate --seeds 1,,2 "${TINY[@]}" out=scratch
t 2 "--seeds: '-1'" "${R[@]}" ablate --seeds -1 "${TINY[@]}" out=scratch
t 2 "--seeds: 'a'" "${R[@]}" ablate --seeds a "${TINY[@]}" out=scratch
t 2 "--seeds: '' has an empty item" "${R[@]}" ablate --seeds "" "${TINY[@]}" out=scratch
t 2 "--variants: 'prenorm' is given twice" "${R[@]}" ablate --variants prenorm,prenorm "${TINY[@]}" out=scratch
t 2 "unknown variant 'resnet'" "${R[@]}" ablate --variants prenorm,resnet "${TINY[@]}" out=scratch
t 2 "--variants: 'prenorm,' has an empty item" "${R[@]}" ablate --variants prenorm, "${TINY[@]}" out=scratch
t 2 "--layers: 2 is given twice" "${R[@]}" sweep --layers 2,2 "${TINY[@]}" out=scratch
t 2 "--widths: 'x'" "${R[@]}" sweep --widths x "${TINY[@]}" out=scratch
t 2 "key 'attnres_blocks': 3" "${R[@]}" ablate --variants attnres_block "${TINY[@]}" attnres_blocks=3 out=scratch
t 2 "budget_tokens=100" "${R[@]}" ablate "${TINY[@]}" budget_tokens=100 out=scratch
# -- fit and plot on broken results
mkdir -p scratch/nanfit
printf 'variant,seed,n_layer,d_model,tokens,flops,status,final_val_loss,tok_per_s\nprenorm,1,1,16,9,nan,ok,3.0,1\n' \
  >scratch/nanfit/summary.csv
t 2 "column flops: 'nan'" "${R[@]}" fit scratch/nanfit
mkdir -p scratch/nocol
printf 'variant,n_layer\nprenorm,1\n' >scratch/nocol/summary.csv
t 2 "nocol/summary.csv has no column 'seed'" "${R[@]}" fit scratch/nocol
"$BIN" train "${TINY[@]}" out=scratch run_id=otherlr lr=0.01 >/dev/null 2>&1
t 2 "the runs differ in lr (0.003 in prot/done, 0.01 in scratch/otherlr)" "${R[@]}" plot prot/done scratch/otherlr --out scratch/pl
mkdir -p scratch/plotbad
cp -r prot/done scratch/plotbad/run
cut -d, -f1-6 prot/done/metrics.csv >scratch/plotbad/run/metrics.csv
t 2 "column 'val_loss' is missing" "${R[@]}" plot scratch/plotbad --out scratch/plotbad/fig
t 2 "inputs/adir" "${R[@]}" plot inputs/adir
# -- signals and two processes
"$BIN" train "${TINY[@]}" steps=100000 ckpt_every=50 out=scratch run_id=sig >/dev/null 2>scratch/sig.err &
pid=$!
for _ in $(seq 200); do [ -f scratch/sig/ckpt.bin ] && break; sleep 0.05; done
t 2 "is in use by another resbench process" "${R[@]}" train --resume scratch/sig
t 2 "scratch/sig is in use" "${R[@]}" train "${TINY[@]}" steps=100000 ckpt_every=50 out=scratch run_id=sig
kill -TERM $pid
wait $pid
rc=$?
N=$((N + 1))
if [ $rc -ne 3 ] || [ "$(wc -l <scratch/sig.err)" -ne 1 ] || ! grep -q "train --resume scratch/sig" scratch/sig.err; then
  U=$((U + 1))
  echo "FAIL #$N (SIGTERM: exit $rc, expected 3 with a one-line resume hint): $(cat scratch/sig.err)"
fi
"$BIN" ablate --variants prenorm --seeds 1 --name busy "${TINY[@]}" steps=100000 ckpt_every=50 \
  out=scratch >/dev/null 2>scratch/busy.err &
pid=$!
for _ in $(seq 200); do [ -f scratch/busy/prenorm-s1/ckpt.bin ] && break; sleep 0.05; done
t 2 "experiment scratch/busy is in use" "${R[@]}" ablate --variants prenorm --seeds 1 --name busy "${TINY[@]}" steps=100000 ckpt_every=50 out=scratch
kill -INT $pid
wait $pid
rc=$?
N=$((N + 1))
if [ $rc -ne 3 ] || ! grep -q "repeating the same \`resbench ablate\` command" scratch/busy.err; then
  U=$((U + 1))
  echo "FAIL #$N (SIGINT ablate: exit $rc, expected 3 and 'repeat the command'): $(cat scratch/busy.err)"
fi
[ -f scratch/busy/summary.csv ] && { L=$((L + 1)); echo "FAIL: an interrupted ablate wrote summary.csv"; }

# -- h36-perf: GEMM backend and precision keys (one line each; bf16 refused on a CPU without
#    AVX512_BF16, which ONEDNN_MAX_CPU_ISA=AVX2 stands in for; skipped in a build without oneDNN)
t 2 "key 'backend': unknown value 'mkl' (allowed: openblas|onednn)" "${R[@]}" train "${TINY[@]}" backend=mkl out=scratch
t 2 "key 'precision': unknown value 'fp16' (allowed: fp32|bf16)" "${R[@]}" train "${TINY[@]}" precision=fp16 out=scratch
t 2 "'bf16' needs backend=onednn" "${R[@]}" train "${TINY[@]}" precision=bf16 out=scratch
if "$BIN" --version | grep -q 'onednn (oneDNN'; then
  t 2 "needs a CPU with AVX512_BF16" env ONEDNN_MAX_CPU_ISA=AVX2 "${R[@]}" train "${TINY[@]}" backend=onednn precision=bf16 out=scratch
  t 2 "--backends 'onednn:fp16'" "${R[@]}" bench --backends onednn:fp16 --steps 1 --out scratch/bb
fi

echo "$N cases, $C crashes, $U unclear, $L data-loss"
[ $C -eq 0 ] && [ $U -eq 0 ] && [ $L -eq 0 ] && [ "$N" -ge 150 ]
