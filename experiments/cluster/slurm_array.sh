#!/usr/bin/env bash
# Slurm job array over a resbench job list (`resbench ablate --jobs FILE`, `resbench sweep --jobs
# FILE`): task i runs line i of the file.
#   n=$(wc -l < jobs.txt); sbatch --array=1-$n%32 experiments/cluster/slurm_array.sh jobs.txt
# then gather on any node with the command that wrote jobs.txt and --gather instead of --jobs.
# Lines set threads=1 (unless the command set threads=N); raise --cpus-per-task with it.
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
# A run killed by the scheduler resumes from its checkpoint when the task is requeued (job.sh).
# Slurm runs a copy of this script: find job.sh next to the submitted one, or in the checkout.
here=${SLURM_SUBMIT_DIR:-.}
job=$here/experiments/cluster/job.sh
[ -x "$job" ] || job=$(dirname "$0")/job.sh
exec "$job" "$line"
