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

# ---- h34-core: variant specs, option keys, thread counts, empty shards, provenance
# check NAME COND_CMD...: one more case; unclear when the condition fails
check() {
  local name=$1
  shift
  N=$((N + 1))
  "$@" || { U=$((U + 1)); echo "FAIL #$N ($name)"; }
}
printf 'attnres_score = sigmoid\n[model]\nvariant = attnres_full\n' >inputs/sigmoid.ini
printf 'variant = attnres_full:score=sigmoid\nattnres_score = softmax\n' >inputs/spec_and_key.ini
# a spec states the whole arm: a later variant= resets the file's options; refusals leave nothing
t 0 "final val loss" "${TR[@]}" --config inputs/sigmoid.ini variant=attnres_full run_id=arm_plain
check "variant= after a file keeps its attnres_score" grep -q '^attnres_score = softmax$' scratch/arm_plain/config.ini
t 0 "final val loss" "${TR[@]}" --config inputs/sigmoid.ini run_id=arm_file
check "a file's own option before its variant line is lost" grep -q '^attnres_score = sigmoid$' scratch/arm_file/config.ini
t 2 "key 'attnres_score' is given a second time (also in the variant spec of line 1" "${TR[@]}" --config inputs/spec_and_key.ini
t 2 "key 'attnres_score': 'tanh' is not allowed" "${TR[@]}" --config inputs/sigmoid.ini variant=attnres_full:keynorm=off,score=tanh
t 2 "'scroe' is not an option (options of attnres_full" "${TR[@]}" variant=attnres_full:scroe=sigmoid
t 2 "unknown key 'attnres_scroe'" "${TR[@]}" variant=attnres_full attnres_scroe=sigmoid
printf 'variant = attnres_full\nattnres_scroe = sigmoid\n' >inputs/misspelt.ini
t 2 "misspelt.ini:2: unknown key 'attnres_scroe'" "${TR[@]}" --config inputs/misspelt.ini
# a run resumed at another thread count (the per-thread scratch follows the build)
cp -r prot/half scratch/thr
t 0 "final val loss" "${R[@]}" train --resume scratch/thr threads=2 steps=400
t 0 "final val loss" "${R[@]}" train "${TINY[@]}" variant=denseformer threads=2 out=scratch run_id=thr2
# llm.c shards with a header and no tokens are named
python3 - <<'PYEOF'
import struct
def shard(path, ntok, toks):
    with open(path, "wb") as f:
        f.write(struct.pack("<256i", *([20240520, 1, ntok] + [0] * 253)))
        f.write(struct.pack("<%dH" % len(toks), *toks))
shard("inputs/e_train.bin", 0, [])
shard("inputs/e_val.bin", 0, [])
shard("inputs/f_train.bin", 2000, [i % 200 for i in range(2000)])
shard("inputs/f_val.bin", 0, [])
shard("inputs/g_val.bin", 500, [1] * 500)
PYEOF
t 2 "e_train.bin: the shard holds no tokens" "${TR[@]}" "data=llmc:inputs/e_*.bin"
t 2 "f_val.bin: the shard holds no tokens" "${TR[@]}" "data=llmc:inputs/f_*.bin"
t 2 "no training shard: every matching file is a validation shard" "${TR[@]}" "data=llmc:inputs/g_val.bin"
# provenance: --version and every run's meta.ini name the build
t 0 "git_rev = " "${R[@]}" --version
check "meta.ini lacks a build fact" bash -c 'for k in git_rev build_type compiler blas blas_core threads; do
  grep -qE "^$k = [^ ]" scratch/arm_plain/meta.ini || exit 1; done'
# ==== h34-arms: arms, the arm list grammar, capacities past their old limits, NaN losses in plot,
# reports that follow the data, provenance (which build made each run) ====
# check NAME FILE NEEDLE: one more case, unclear unless FILE holds NEEDLE
check() {
  N=$((N + 1))
  grep -qF -- "$3" "$2" 2>/dev/null || { U=$((U + 1)); echo "FAIL #$N ($1: $2 lacks '$3')"; }
}
t 2 "'heads=4' continues no arm's options" "${R[@]}" ablate --variants prenorm,heads=4 "${TINY[@]}" out=scratch
t 2 "'blocks=1' continues no arm's options" "${R[@]}" sweep --variants attnres_block,blocks=1 "${TINY[@]}" out=scratch
t 2 "option 'blocks' is given twice" "${R[@]}" sweep --variants attnres_block:blocks=2,blocks=1 "${TINY[@]}" out=scratch
t 2 "'attnres_block:blocks=2' is given twice" "${R[@]}" ablate --variants attnres_block:blocks=2,attnres_block:attnres_blocks=02 "${TINY[@]}" out=scratch
t 2 "arms 'attnres_block' and 'attnres_block:blocks=2' give the same config" "${R[@]}" ablate --variants attnres_block,attnres_block:blocks=2 "${TINY[@]}" out=scratch
t 2 "'colour' is not an option" "${R[@]}" bench --variants attnres_full:colour=red "${TINY[@]}"
longarm="attnres_full:score=sigmoid$(printf ',window=1%.0s' $(seq 60))"
t 2 "is too long" "${R[@]}" ablate --variants "$longarm" "${TINY[@]}" out=scratch
t 0 "best attnres_block:blocks=2 shape" "${R[@]}" sweep --variants attnres_block:blocks=1,attnres_block:blocks=2 --layers 1 --widths 16 --name arms "${TINY[@]}" out=scratch
check "sweep arms" scratch/arms/summary.csv "attnres_block-blocks_2-L1-d16-s1"
t 0 "attnres_full:score=sigmoid,heads=2" "${R[@]}" ablate --variants "prenorm,attnres_full:score=sigmoid,heads=2" --seeds 1 --name multi "${TINY[@]}" out=scratch
check "multi-option arm" scratch/multi/summary.csv '"attnres_full:score=sigmoid,heads=2",1,'
mkdir -p scratch/fitarms
{ echo "variant,seed,n_layer,d_model,tokens,flops,status,final_val_loss,tok_per_s"
  for i in 1 2 3 4; do echo "prenorm,1,$i,16,1000,${i}e12,ok,$(echo "3 + 1 / $i" | bc -l),1"; done
  echo "attnres_block,1,2,16,1000,2e12,ok,3.4,1"; echo "attnres_block:blocks=2,1,2,16,1000,2e12,ok,3.6,1"
} >scratch/fitarms/summary.csv
t 0 "attnres_block:blocks=2" "${R[@]}" fit scratch/fitarms
check "fit arms" scratch/fitarms/fit_pooled.csv "attnres_block:blocks=2,1,"
mkdir -p scratch/manygroups
{ echo "variant,seed,n_layer,d_model,tokens,flops,status,final_val_loss,tok_per_s"
  for i in $(seq 257); do echo "prenorm,1,$i,16,1000,1e12,ok,3,1"; done; } >scratch/manygroups/summary.csv
t 2 "more than 256 groups" "${R[@]}" fit scratch/manygroups
mkdir -p scratch/manyruns
{ echo "variant,seed,status,final_val_loss,tok_per_s,tokens,flops"
  for s in $(seq 1025); do echo "prenorm,$s,ok,3.$((s % 7)),1,1000,1e9"; done
  for k in $(seq 17); do echo "attnres_block:blocks=$k,1,ok,3,1,1000,1e9"; done; } >scratch/manyruns/summary.csv
t 0 "report: scratch/manyruns/report.md" "${R[@]}" report --no-plot scratch/manyruns
check "1025 runs, 17 arms" scratch/manyruns/report.md "| prenorm | 1025 |"
check "1025 runs, 17 arms" scratch/manyruns/report.md "| attnres_block:blocks=17 | 1 |"
mkdir -p scratch/nanplot
cp -r prot/done scratch/nanplot/run
awk -F, -v OFS=, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i ~ /_loss$/) c[i] = 1; print; next }
  { for (i in c) $i = "nan"; print }' prot/done/metrics.csv >scratch/nanplot/run/metrics.csv
t 2 "nanplot/run/metrics.csv: column 'val_loss' holds no finite value" "${R[@]}" plot scratch/nanplot --out scratch/nanplot/fig
cp -r prot/exp scratch/builds
mkdir -p scratch/builds/figures && : >scratch/builds/figures/extra_view.png
sed -i 's/^git_rev = .*/git_rev = other-build/' scratch/builds/prenorm-s1/meta.ini
t 0 "report: scratch/builds/report.md" "${R[@]}" report --no-plot scratch/builds
check "mixed builds" scratch/builds/report.md "WARNING: 1 pair group (same seed and data order, different arms) was made by different builds"
check "report links every figure" scratch/builds/report.md "(figures/extra_view.png)"
rm scratch/builds/attnres_full-s1/meta.ini
t 0 "Build unknown for 1 run" "${R[@]}" ablate --variants prenorm,attnres_full --seeds 1 --name builds "${TINY[@]}" out=scratch
t 0 "Build unknown for 1 run" "${R[@]}" compare prot/exp scratch/builds
# ==== end h34-arms ====
# ---- h34-jobs: job lists (ablate/sweep --jobs FILE), their gather (--gather), campaign.sh --jobs
JL=(--variants prenorm,attnres_full --seeds 1 "${TINY[@]}")
CAMPAIGN=$(dirname "$(readlink -f "$0")")/../../experiments/campaign.sh
t 2 "give --jobs FILE (write the job list) or --gather" "${R[@]}" ablate "${JL[@]}" --jobs scratch/j.txt --gather out=scratch
t 2 "give --jobs FILE (write the job list) or --gather" "${R[@]}" sweep --layers 1 --widths 16 --variants prenorm "${TINY[@]}" --gather --jobs scratch/j.txt out=scratch
t 2 "--jobs needs an argument" "${R[@]}" ablate "${JL[@]}" out=scratch --jobs
t 2 "--jobs: cannot write /proc/nowhere/jobs.txt" "${R[@]}" ablate "${JL[@]}" --name jl --jobs /proc/nowhere/jobs.txt out=scratch
t 2 "--jobs: cannot write inputs/adir" "${R[@]}" ablate "${JL[@]}" --name jl --jobs inputs/adir out=scratch
t 2 "--jobs: cannot write prot/exp/summary.csv/x" "${R[@]}" ablate "${JL[@]}" --name jl --jobs prot/exp/summary.csv/x out=scratch
t 2 "scratch/none is not an experiment (no experiment.ini)" "${R[@]}" ablate "${JL[@]}" --name none --gather out=scratch
t 2 "scratch/none is not an experiment (no experiment.ini)" "${R[@]}" sweep --layers 1 --widths 16 --variants prenorm "${TINY[@]}" --name none --gather out=scratch
[ -e scratch/none ] && { U=$((U + 1)); echo "FAIL: a refused --gather created scratch/none"; }
t 0 "2 commands written to scratch/jl.txt (0 of 2 runs" "${R[@]}" ablate "${JL[@]}" --name jl --jobs scratch/jl.txt out=scratch
t 2 "in scratch/jl, 2 of 2 runs are not finished: prenorm-s1 (no run directory), attnres_full-s1 (no run directory)" "${R[@]}" ablate "${JL[@]}" --name jl --gather out=scratch
t 2 "this experiment was created with" "${R[@]}" ablate "${JL[@]}" lr=0.01 --name jl --gather out=scratch
t 0 "1 command written to scratch/sw.txt" "${R[@]}" sweep --layers 1 --widths 16 --variants prenorm "${TINY[@]}" --name sw --jobs scratch/sw.txt out=scratch
t 2 "in scratch/sw, 1 of 1 runs are not finished: prenorm-L1-d16-s1 (no run directory)" "${R[@]}" sweep --layers 1 --widths 16 --variants prenorm "${TINY[@]}" --name sw --gather out=scratch
gcase() { # NAME: a copy of the protected experiment (runs prenorm-s1, attnres_full-s1) without summary
  rm -rf "scratch/$1"
  cp -r prot/exp "scratch/$1"
  rm -f "scratch/$1/summary.csv" "scratch/$1/lock"
}
gcase g_garbage
printf "steps = 4\\nthis line is not key = value\\n\\001\\002garbage\\n" >scratch/g_garbage/attnres_full-s1/result.ini
t 2 "attnres_full-s1 (scratch/g_garbage/attnres_full-s1/result.ini: unreadable" "${R[@]}" ablate "${JL[@]}" --name g_garbage --gather out=scratch
t 2 "attnres_full-s1 (scratch/g_garbage/attnres_full-s1/result.ini: unreadable" "${R[@]}" ablate "${JL[@]}" --name g_garbage --jobs scratch/g.txt out=scratch
gcase g_empty
: >scratch/g_empty/prenorm-s1/result.ini
t 2 "prenorm-s1 (result.ini holds 0 steps, its config trains 4)" "${R[@]}" ablate "${JL[@]}" --name g_empty --gather out=scratch
gcase g_steps
sed -i 's/^steps = 4$/steps = 3/' scratch/g_steps/prenorm-s1/result.ini
t 2 "prenorm-s1 (result.ini holds 3 steps, its config trains 4)" "${R[@]}" ablate "${JL[@]}" --name g_steps --gather out=scratch
gcase g_noloss
sed -i 's/^final_val_loss = .*$/final_val_loss = nan/' scratch/g_noloss/prenorm-s1/result.ini
t 2 "prenorm-s1 (result.ini has no final_val_loss" "${R[@]}" ablate "${JL[@]}" --name g_noloss --gather out=scratch
gcase g_other
sed -i 's/^lr = .*$/lr = 0.01/' scratch/g_other/attnres_full-s1/config.ini
t 2 "attnres_full-s1 (a run of another config: lr = 0.01 there, 0.003 here)" "${R[@]}" ablate "${JL[@]}" --name g_other --gather out=scratch
t 2 "1 run directory cannot be run as a job: attnres_full-s1 (a run of another config" "${R[@]}" ablate "${JL[@]}" --name g_other --jobs scratch/g.txt out=scratch
gcase g_badcfg
printf 'n_layer = x\n' >scratch/g_badcfg/prenorm-s1/config.ini
t 2 "prenorm-s1 (config scratch/g_badcfg/prenorm-s1/config.ini:1: key 'n_layer'" "${R[@]}" ablate "${JL[@]}" --name g_badcfg --gather out=scratch
gcase g_cut
rm scratch/g_cut/prenorm-s1/result.ini
t 2 "1 of 2 runs are not finished: prenorm-s1 (not finished: no result.ini" "${R[@]}" ablate "${JL[@]}" --name g_cut --gather out=scratch
rm -rf scratch/g_cut/attnres_full-s1 && mkdir scratch/g_cut/attnres_full-s1
t 2 "attnres_full-s1 (no config.ini)" "${R[@]}" ablate "${JL[@]}" --name g_cut --gather out=scratch
[ -e scratch/g_cut/summary.csv ] && { L=$((L + 1)); echo "FAIL: a refused --gather wrote a summary"; }
gcase g_ok
t 0 "gathered 2 finished runs" "${R[@]}" ablate "${JL[@]}" --name g_ok --gather out=scratch
t 2 "campaign: --jobs: cannot write to directory '/proc/nowhere'" bash "$CAMPAIGN" --jobs /proc/nowhere 5
t 2 "campaign: give --jobs DIR or --gather, not both" bash "$CAMPAIGN" --gather --jobs scratch/cj 5
t 2 "campaign: unknown option '--bogus'" bash "$CAMPAIGN" --bogus
t 2 "campaign: unknown part '9' (1-7)" bash "$CAMPAIGN" --jobs scratch/cj 9
t 2 "campaign: --jobs needs a directory" bash "$CAMPAIGN" --jobs
# ---- h39-muon: the optimizer keys, and checkpoints across optimizers
t 2 "key 'optimizer': 'sgd' is not allowed (allowed: adamw|muon)" "${TR[@]}" optimizer=sgd
t 2 "key 'optimizer': 'Muon' is not allowed" "${TR[@]}" optimizer=Muon
t 2 "key 'optimizer': '' is not allowed" "${TR[@]}" optimizer=
t 2 "key 'muon_momentum': 1 is out of range" "${TR[@]}" optimizer=muon muon_momentum=1
t 2 "key 'muon_momentum': -0.5 is out of range" "${TR[@]}" optimizer=muon muon_momentum=-0.5
t 2 "key 'muon_momentum': 'nan' is not a finite number" "${TR[@]}" optimizer=muon muon_momentum=nan
t 2 "key 'muon_nesterov': 2 is out of range" "${TR[@]}" optimizer=muon muon_nesterov=2
t 2 "key 'muon_momentum': 0.9 has no effect with optimizer=adamw" "${TR[@]}" muon_momentum=0.9
t 2 "key 'muon_nesterov': 0 has no effect with optimizer=adamw" "${TR[@]}" muon_nesterov=0
t 2 "the budget gives 0 steps" "${TR[@]}" optimizer=muon steps=0 budget_flops=1000
t 2 "optimizer = muon here, adamw in the checkpoint" "${R[@]}" train --resume prot/half optimizer=muon
"$BIN" train "${TINY[@]}" optimizer=muon steps=40 stop_at_step=2 out=scratch run_id=mu >/dev/null 2>&1
t 2 "optimizer = adamw here, muon in the checkpoint" "${R[@]}" train --resume scratch/mu optimizer=adamw
t 2 "muon_momentum = 0.9 here, 0.95 in the checkpoint" "${R[@]}" train --resume scratch/mu muon_momentum=0.9
t 0 "run scratch/mu: 40 steps" "${R[@]}" train --resume scratch/mu
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
