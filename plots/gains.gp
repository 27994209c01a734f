# Figure 5: mHC/HC stream-mixing gains per site (Amax: max row / column sum of |H|, token mean),
# single-site and composite H_l ... H_1; solid = forward, dashed = backward.
load plotsdir."/common.gp"
set xlabel "site (sublayer)"
set logscale y
set key top left
set output outdir."/gains.".fmt
set multiplot layout 1,2 title "Stream-mixing gains (1 = norm-preserving)"
set title "single site" noenhanced
set ylabel "gain"
plot for [v in variants] datadir."/gains_".v.".dat" using 1:2 with linespoints \
         lc rgb color(v) lw 2 pt 7 ps 0.6 title v." fwd", \
     for [v in variants] datadir."/gains_".v.".dat" using 1:3 with linespoints \
         lc rgb color(v) lw 2 dt 2 pt 6 ps 0.6 title v." bwd"
set title "composite (product of sites 1..l)" noenhanced
plot for [v in variants] datadir."/gains_".v.".dat" using 1:4 with linespoints \
         lc rgb color(v) lw 2 pt 7 ps 0.6 title v." fwd", \
     for [v in variants] datadir."/gains_".v.".dat" using 1:5 with linespoints \
         lc rgb color(v) lw 2 dt 2 pt 6 ps 0.6 title v." bwd"
unset multiplot
