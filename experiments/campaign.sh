#!/usr/bin/env bash
# The reference campaign (README "Campaign"): every part with the commands that produced the
# committed results under results/reference/campaign/. Run from the repository root after the
# quick start; finished runs are skipped and interrupted ones resume, so the script can be stopped
# and restarted at any point. One training process at a time (threads=1 in the configs; pass
# threads=2 ... to a part by hand only for a new campaign: thread count changes the rounding).
#   experiments/campaign.sh [PART...]      (parts 1-6; default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
R=${RESBENCH:-build/resbench}  # RESBENCH=PATH runs a frozen binary while the tree changes
C=experiments/configs/campaign
OUT=out=results/reference/campaign
if [ ! -f ../shared/data/tinyshakespeare.txt ]; then
  echo "campaign: ../shared/data/tinyshakespeare.txt is missing (parts 1-4 train on it); skipping them" >&2
  TEXT=0
else
  TEXT=1
fi
parts=("${@:-1 2 3 4 5 6}")
# shellcheck disable=SC2068
for part in ${parts[@]}; do
  case $part in
  1) [ $TEXT = 1 ] && $R ablate --config $C/part1_loss.ini --seeds 1,2,3,4,5,6 --name part1-loss $OUT ;;
  2) if [ $TEXT = 1 ]; then
       for L in 2 4 8 16; do
         $R ablate --config $C/part2_depth.ini --variants prenorm,attnres_full,attnres_block,mhc \
           --seeds 1,2,3,4 --name part2-depth-L$L n_layer=$L $OUT
       done
       $R plot --trend n_layer --out results/reference/campaign/part2-depth-trend \
         results/reference/campaign/part2-depth-L{2,4,8,16}
     fi ;;
  3) if [ $TEXT = 1 ]; then
       while read -r L D H TOK WU NB; do
         $R ablate --config $C/part3_ladder.ini --variants prenorm,attnres_block --seeds 1,2,3 \
           --name part3-ladder-L$L-d$D n_layer=$L d_model=$D mlp_hidden=$H budget_tokens=$TOK \
           warmup=$WU attnres_blocks=$NB $OUT
       done <<'SHAPES'
2 64 192 212992 10 4
3 96 288 718848 35 3
4 128 384 1703936 83 4
6 160 480 3993600 195 4
SHAPES
       $R fit results/reference/campaign/part3-ladder-* --out results/reference/campaign/part3-fit
     fi ;;
  4) [ $TEXT = 1 ] && $R sweep --config $C/part4_sweep.ini --variants prenorm,attnres_block \
       --layers 2,3,4,6,8 --widths 64,96,128,160,192 --seeds 1,2 --name part4-sweep $OUT ;;
  5) $R ablate --config $C/part5_compose.ini --variants prenorm,attnres_full,attnres_block,mhc \
       --seeds 1,2,3,4 --name part5-compose $OUT ;;
  6) [ $TEXT = 1 ] && $R ablate --config $C/part6_table4.ini \
       --variants prenorm,attnres_full,attnres_block,attnres_full:score=sigmoid,attnres_full:keynorm=off,attnres_block:keynorm=off,attnres_block:blocks=8,attnres_block:blocks=2,attnres_full:query=input,attnres_full:query=static,attnres_full:window=8,attnres_full:heads=16,attnres_block:blocks=1 \
       --seeds 1,2,3,4 --name part6-table4 $OUT ;;
  *) echo "campaign: unknown part '$part' (1-6)" >&2; exit 2 ;;
  esac
done
