#!/usr/bin/env bash
# Runs one line of a resbench job list (`resbench ablate --jobs FILE`, `resbench sweep --jobs FILE`)
# so that it can be repeated: a run that already finished is left alone, an interrupted one (a
# checkpoint, no result: killed, preempted, requeued) resumes from its checkpoint, any other runs.
# parallel.sh and slurm_array.sh run every line through it.
#   experiments/cluster/job.sh 'LINE'
set -euo pipefail
line=${1:?usage: job.sh 'ONE LINE OF A JOB LIST'}
words=()
eval "words=($line)" # the line's own shell words (resbench single-quotes each one)
out="" run_id="" threads=""
for w in "${words[@]}"; do
  case $w in
  out=*) out=${w#out=} ;;
  run_id=*) run_id=${w#run_id=} ;;
  threads=*) threads=$w ;;
  esac
done
if [ -n "$out" ] && [ -n "$run_id" ]; then # a new run's line (a resume line is run as it is)
  dir=$out/$run_id
  if [ -f "$dir/result.ini" ]; then
    echo "job: $dir already finished; left alone (gather checks that it is a run of its config)"
    exit 0
  fi
  if [ -f "$dir/ckpt.bin" ]; then
    exec "${words[0]}" train --resume "$dir" ${threads:+"$threads"}
  fi
fi
exec "${words[@]}"
