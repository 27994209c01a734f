# Figure 1: validation loss against training compute and tokens, one line per variant: the mean
# over seeds, the band spans min..max over seeds; dotted: the training loss (mean).
load plotsdir."/common.gp"
set ylabel "loss (nats/token)"
set key top right

set output outdir."/loss_vs_flops.".fmt
set title "Validation loss vs training compute (band: min..max over seeds; dotted: training loss)" noenhanced
set xlabel "training compute (PFLOP, analytic forward + backward)"
plot for [v in variants] datadir."/val_".v.".dat" using ($2/1e15):4:5 with filledcurves \
         lc rgb color(v) fs transparent solid 0.18 noborder notitle, \
     for [v in variants] datadir."/train_".v.".dat" using ($2/1e15):3 with lines \
         lc rgb color(v) lw 1 dt 3 notitle, \
     for [v in variants] datadir."/val_".v.".dat" using ($2/1e15):3 with linespoints \
         lc rgb color(v) lw 2 pt 7 ps 0.6 title v

set output outdir."/loss_vs_tokens.".fmt
set title "Validation loss vs training tokens (band: min..max over seeds; dotted: training loss)" noenhanced
set xlabel "training tokens (millions)"
plot for [v in variants] datadir."/val_".v.".dat" using ($1/1e6):4:5 with filledcurves \
         lc rgb color(v) fs transparent solid 0.18 noborder notitle, \
     for [v in variants] datadir."/train_".v.".dat" using ($1/1e6):3 with lines \
         lc rgb color(v) lw 1 dt 3 notitle, \
     for [v in variants] datadir."/val_".v.".dat" using ($1/1e6):3 with linespoints \
         lc rgb color(v) lw 2 pt 7 ps 0.6 title v
