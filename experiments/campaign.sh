#!/usr/bin/env bash
# The reference campaign (README "Campaign"): every part with the commands that produced the
# committed results under results/reference/campaign/. Run from the repository root after the
# quick start; finished runs are skipped and interrupted ones resume, so the script can be stopped
# and restarted at any point. One training process at a time (threads=1 in the configs; pass
# threads=2 ... to a part by hand only for a new campaign: thread count changes the rounding).
#   experiments/campaign.sh [--jobs DIR | --gather] [--out DIR] [PART...]   (parts 1-7; default: all)
# Without a mode every part trains here. With --jobs DIR nothing trains: each part's experiments
# write their job lists (ablate/sweep --jobs) and DIR/partN.jobs collects every run of part N that
# is not finished yet, one command a line, for GNU parallel or a Slurm array
# (experiments/cluster/; run them from the repository root: the lines hold paths relative to it).
# Then --gather builds each part's summaries, tables and reports from the finished runs (ablate and
# sweep --gather refuse, naming the runs, while any is missing) and draws the part's trend plot or
# fit. --out DIR writes the campaign elsewhere (default results/reference/campaign). See
# docs/usage.md, "Job lists".
set -euo pipefail
mode=local jobs_dir="" CO=results/reference/campaign
while [ $# -gt 0 ]; do
  case $1 in
  --jobs)
    [ $mode = local ] || { echo "campaign: give --jobs DIR or --gather, not both" >&2; exit 2; }
    [ $# -ge 2 ] || { echo "campaign: --jobs needs a directory" >&2; exit 2; }
    mode="jobs"
    if ! mkdir -p -- "$2" 2>/dev/null || [ ! -w "$2" ]; then
      echo "campaign: --jobs: cannot write to directory '$2'" >&2
      exit 2
    fi
    jobs_dir=$(cd -- "$2" && pwd)
    shift 2 ;;
  --gather)
    [ $mode = local ] || { echo "campaign: give --jobs DIR or --gather, not both" >&2; exit 2; }
    mode="gather"
    shift ;;
  --out)
    [ $# -ge 2 ] || { echo "campaign: --out needs a directory" >&2; exit 2; }
    mkdir -p -- "$2" 2>/dev/null || { echo "campaign: --out: cannot create directory '$2'" >&2; exit 2; }
    CO=$(cd -- "$2" && pwd)
    shift 2 ;;
  -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  -*) echo "campaign: unknown option '$1' (--jobs DIR, --gather, --out DIR)" >&2; exit 2 ;;
  *) break ;;
  esac
done
cd "$(dirname "$0")/.."
R=${RESBENCH:-build/resbench}  # RESBENCH=PATH runs a frozen binary while the tree changes
C=experiments/configs/campaign
OUT=out=$CO
parts=("${@:-1 2 3 4 5 6 7}")
TEXT=1
# shellcheck disable=SC2068
for part in ${parts[@]}; do
  case $part in 1|2|3|4|5|6|7) ;; *) echo "campaign: unknown part '$part' (1-7)" >&2; exit 2 ;; esac
  if [ "$part" != 5 ] && [ ! -f ../shared/data/tinyshakespeare.txt ]; then TEXT=0; fi
done
[ $TEXT = 1 ] || echo "campaign: ../shared/data/tinyshakespeare.txt is missing (parts 1-4 and 6 train on it); skipping them" >&2

# experiment SUBCOMMAND ARGS...: one experiment of the current part, trained here, listed into the
# part's job list, or gathered, by mode.
experiment() {
  case $mode in
  local) "$R" "$@" ;;
  gather) "$R" "$@" --gather ;;
  jobs)
    local piece="$jobs_dir/part$part.jobs.piece"
    "$R" "$@" --jobs "$piece"
    cat "$piece" >>"$jobs_dir/part$part.jobs.tmp"
    rm -f "$piece" ;;
  esac
}
# after COMMAND...: a step over a part's finished experiments (trend plot, fit): not in --jobs mode.
after() { if [ $mode != jobs ]; then "$@"; fi; }

# shellcheck disable=SC2068
for part in ${parts[@]}; do
  if [ "$part" != 5 ] && [ $TEXT = 0 ]; then continue; fi
  [ $mode = jobs ] && : >"$jobs_dir/part$part.jobs.tmp"
  case $part in
  1) experiment ablate --config $C/part1_loss.ini --seeds 1,2,3,4,5,6 --name part1-loss "$OUT" ;;
  2) for L in 2 4 8 16; do
       experiment ablate --config $C/part2_depth.ini --variants prenorm,attnres_full,attnres_block,mhc \
         --seeds 1,2,3,4 --name "part2-depth-L$L" "n_layer=$L" "$OUT"
     done
     after "$R" plot --trend n_layer --out "$CO/part2-depth-trend" "$CO"/part2-depth-L{2,4,8,16} ;;
  3) while read -r L D H TOK WU NB; do
       experiment ablate --config $C/part3_ladder.ini --variants prenorm,attnres_block --seeds 1,2,3 \
         --name "part3-ladder-L$L-d$D" "n_layer=$L" "d_model=$D" "mlp_hidden=$H" "budget_tokens=$TOK" \
         "warmup=$WU" "attnres_blocks=$NB" "$OUT"
     done <<'SHAPES'
2 64 192 212992 10 4
3 96 288 718848 35 3
4 128 384 1703936 83 4
6 160 480 3993600 195 4
SHAPES
     after "$R" fit "$CO"/part3-ladder-* --out "$CO/part3-fit" ;;
  4) experiment sweep --config $C/part4_sweep.ini --variants prenorm,attnres_block \
       --layers 2,3,4,6,8 --widths 64,96,128,160,192 --seeds 1,2 --name part4-sweep "$OUT" ;;
  5) experiment ablate --config $C/part5_compose.ini --variants prenorm,attnres_full,attnres_block,mhc \
       --seeds 1,2,3,4 --name part5-compose "$OUT" ;;
  6) experiment ablate --config $C/part6_table4.ini \
       --variants prenorm,attnres_full,attnres_block,attnres_full:score=sigmoid,attnres_full:keynorm=off,attnres_block:keynorm=off,attnres_block:blocks=8,attnres_block:blocks=2,attnres_full:query=input,attnres_full:query=static,attnres_full:window=8,attnres_full:heads=16,attnres_block:blocks=1 \
       --seeds 1,2,3,4 --name part6-table4 "$OUT" ;;
  7) experiment ablate --config $C/part7_designs.ini \
       --variants prenorm,attnres_full,attnres_block,denseformer,mhc,hc,postnorm,laurel,frac,mudd \
       --seeds 1,2,3,4 --name part7-designs "$OUT" ;;
  esac
  if [ $mode = jobs ]; then
    mv "$jobs_dir/part$part.jobs.tmp" "$jobs_dir/part$part.jobs"
    echo "campaign: part $part: $(wc -l <"$jobs_dir/part$part.jobs") jobs in $jobs_dir/part$part.jobs"
  fi
done
if [ $mode = jobs ]; then
  echo "campaign: run each DIR/partN.jobs from the repository root (experiments/cluster/parallel.sh or slurm_array.sh), then: experiments/campaign.sh --gather${CO:+ --out $CO} PART..."
fi
