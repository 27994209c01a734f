#!/usr/bin/env bash
# Run a resbench job list (one command per line, from `resbench sweep --jobs FILE`) with GNU parallel
# on this machine or over SSH hosts, then gather the results with the same sweep command.
#   experiments/cluster/parallel.sh JOBS_FILE [JOBS_AT_ONCE] [-- extra GNU parallel options]
# Each job uses threads=1, so JOBS_AT_ONCE = cores is a good choice (the default).
# Over several hosts: parallel.sh jobs.txt 8 -- --sshloginfile hosts.txt --workdir .
set -euo pipefail
jobs_file=${1:?usage: parallel.sh JOBS_FILE [JOBS_AT_ONCE] [-- parallel options]}
at_once=${2:-$(nproc)}
shift $(( $# >= 2 ? 2 : 1 ))
[ "${1:-}" = "--" ] && shift
exec parallel --will-cite --halt soon,fail=1 --joblog "$jobs_file.log" -j "$at_once" "$@" < "$jobs_file"
