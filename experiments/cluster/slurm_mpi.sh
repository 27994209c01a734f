#!/usr/bin/env bash
# One data-parallel training run over MPI ranks under Slurm (srun starts the ranks; resbench must
# be built with Open MPI, i.e. RESBENCH_MPI=AUTO found it or =ON). Each rank takes
# batch_size / ranks sequences of every step, so batch_size must be divisible by the task count.
#   sbatch experiments/cluster/slurm_mpi.sh --config experiments/configs/paper_ablation.ini \
#          variant=attnres_block out=results/mpi run_id=paper-block
# A requeued or resubmitted job with the same arguments resumes from the run's checkpoint.
#SBATCH --job-name=resbench-mpi
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=4
#SBATCH --cpus-per-task=8
#SBATCH --mem=16G
#SBATCH --time=12:00:00
#SBATCH --output=resbench-mpi-%j.out
set -euo pipefail
bin=${RESBENCH:-build/resbench}
out=results run_id=""
for a in "$@"; do
  case $a in out=*) out=${a#out=} ;; run_id=*) run_id=${a#run_id=} ;; esac
done
threads="threads=${SLURM_CPUS_PER_TASK:-1}"
if [ -n "$run_id" ] && [ -f "$out/$run_id/ckpt.bin" ] && [ ! -f "$out/$run_id/result.ini" ]; then
  exec srun --mpi=pmix "$bin" train --resume "$out/$run_id" "$threads"
fi
exec srun --mpi=pmix "$bin" train "$@" "$threads"
