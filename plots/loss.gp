# Training and validation loss of one run against training tokens.
#   gnuplot -e "run='results/RUN'" plots/loss.gp     -> RUN/loss.png
if (!exists("run")) run = "results/run"
set terminal pngcairo size 900,540 font "sans,11"
set output run."/loss.png"
set datafile separator ","
set key autotitle columnhead top right
set xlabel "training tokens (millions)"
set ylabel "loss (nats/token)"
set grid
set title "resbench: ".run noenhanced
plot run."/metrics.csv" using ($2/1e6):6 with lines lw 1 lc rgb "#9ecae1" title "train", \
     "" using ($2/1e6):($7 > 0 ? $7 : 1/0) with linespoints lw 2 pt 7 lc rgb "#08519c" title "validation"
