# Compute-multiplier fit: every variant's final loss (mean over seeds, error bars: std) against
# training compute, and prenorm's fitted law L(C) = a C^-b + c (dashed).
load plotsdir."/common.gp"
set logscale x
set xlabel "training compute (FLOPs, analytic forward + backward)"
set ylabel "final validation loss (nats/token)"
set key top right
set output outdir."/fit.".fmt
set title "Scaling fit of prenorm and the variants' points (multiplier = prenorm compute for the same loss / compute)" noenhanced
plot datadir."/fit_curve.dat" using 1:2 with lines lc rgb "#222222" lw 1.5 dt 2 title "prenorm fit", \
     for [v in variants] datadir."/fit_points_".v.".dat" using 1:2:3 with yerrorbars \
         lc rgb color(v) pt 7 ps 0.9 title v
