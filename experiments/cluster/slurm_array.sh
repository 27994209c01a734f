#!/usr/bin/env bash
# Slurm job array over a resbench job list: task i runs line i of the file.
#   n=$(wc -l < jobs.txt); sbatch --array=1-$n%32 experiments/cluster/slurm_array.sh jobs.txt
# then gather on any node with the sweep command that wrote jobs.txt (without --jobs).
# Every line already sets threads=1; raise --cpus-per-task together with threads= for wider runs.
#SBATCH --job-name=resbench
#SBATCH --cpus-per-task=1
#SBATCH --mem=4G
#SBATCH --time=04:00:00
#SBATCH --output=resbench-%A_%a.out
set -euo pipefail
jobs_file=${1:?usage: sbatch --array=1-N slurm_array.sh JOBS_FILE}
line=$(sed -n "${SLURM_ARRAY_TASK_ID:?not inside a Slurm array}p" "$jobs_file")
[ -n "$line" ] || { echo "no line $SLURM_ARRAY_TASK_ID in $jobs_file" >&2; exit 2; }
echo "task $SLURM_ARRAY_TASK_ID: $line"
# A run killed by the scheduler resumes from its checkpoint when the task is requeued.
run_dir=$(printf '%s\n' "$line" | sed -n 's/.* out=\([^ ]*\) .*run_id=\([^ ]*\).*/\1\/\2/p')
if [ -n "$run_dir" ] && [ -f "$run_dir/ckpt.bin" ] && [ ! -f "$run_dir/result.ini" ]; then
  bin=${line%% *}
  exec "$bin" train --resume "$run_dir"
fi
exec bash -c "$line"
