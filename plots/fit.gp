# Compute-multiplier fit: every variant's final loss (mean over seeds, error bars: std) against
# training compute, and prenorm's fitted law L(C) = a C^-b + c (dashed); each variant point is
# labelled with its multiplier, and the law and the pooled multipliers are printed bottom left.
load plotsdir."/common.gp"
set logscale x
set xlabel "training compute (FLOPs, analytic forward + backward)"
set ylabel "final validation loss (nats/token)"
set key top right
set output outdir."/fit.".fmt
set title "Scaling fit of prenorm and the variants' points (multiplier = prenorm compute for the same loss / compute)" noenhanced
# the law and the pooled multipliers with their 95% intervals (fit_annotation.txt, from `fit`)
ann = system("cat '".datadir."/fit_annotation.txt' 2>/dev/null")
set label 1 ann at graph 0.03, graph 0.22 left front font ",9" noenhanced
# each variant point carries its own paired-seed multiplier (column 4; prenorm's would be 1)
plot datadir."/fit_curve.dat" using 1:2 with lines lc rgb "#222222" lw 1.5 dt 2 title "prenorm fit", \
     for [v in variants] datadir."/fit_points_".v.".dat" using 1:2:3 with yerrorbars \
         lc rgb color(v) pt 7 ps 0.9 title v, \
     for [v in variants] datadir."/fit_points_".v.".dat" \
         using 1:(v eq "prenorm" ? 1/0 : $2):(sprintf("%.2fx", $4)) with labels \
         offset 0, -1.2 font ",8" tc rgb color(v) notitle
