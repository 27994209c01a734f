#!/usr/bin/env bash
# Run a resbench job list (one command per line, from `resbench ablate --jobs FILE` or
# `resbench sweep --jobs FILE`) with GNU parallel on this machine or over SSH hosts; then gather
# the results with the same ablate or sweep command and --gather instead of --jobs.
#   experiments/cluster/parallel.sh JOBS_FILE [JOBS_AT_ONCE] [-- extra GNU parallel options]
# Each line runs through job.sh: repeating parallel.sh after an interruption leaves the finished
# runs alone and resumes the interrupted ones. A failing run (a diverging one, say) does not stop
# the others; the exit status counts the failed jobs and JOBS_FILE.log lists them (--gather then
# names the runs without a result). Each job uses threads=1 unless the experiment's
# command set threads=N, so JOBS_AT_ONCE = cores is a good choice (the default).
# Over several hosts: parallel.sh jobs.txt 8 -- --sshloginfile hosts.txt --workdir .
# (the hosts need the repository at the same path, and the results go to their disks: copy the run
# directories back into the experiment before --gather).
set -euo pipefail
jobs_file=${1:?usage: parallel.sh JOBS_FILE [JOBS_AT_ONCE] [-- parallel options]}
at_once=${2:-$(nproc)}
shift $(($# >= 2 ? 2 : 1))
[ "${1:-}" = "--" ] && shift
job=$(cd "$(dirname "$0")" && pwd)/job.sh
exec parallel --will-cite --halt never --joblog "$jobs_file.log" -j "$at_once" "$@" \
  "$job" {} <"$jobs_file"
