# Figure 5: mHC/HC stream-mixing matrices H per site (token means, mean over runs). Left: gains
# (Amax: max row / column sum of |H|), single site (thin) and composite H_l ... H_1 (thick);
# solid = forward, dashed = backward. Right: the range of the signed row sums (band: min..max,
# attenuation shows as a minimum below 1) and the distance ||H - I||_F (does the mixing move?).
load plotsdir."/common.gp"
set xlabel "site (sublayer)"
stats datadir."/gains_".word(variants, 1).".dat" using 1 nooutput
set xtics int_tics(STATS_max)
set xrange [STATS_min:STATS_max]
set key below maxcols 2 font ",9"
set bmargin 9
set output outdir."/gains.".fmt
set multiplot layout 1,2 title "Stream-mixing matrices (1 = norm-preserving, 0 = identity)"
set title "gains (thin: single site, thick: composite)" noenhanced
set ylabel "gain"
set logscale y
# room above and below the data: mHC's gains sit at exactly 1, which autoscaling puts on the frame
set offsets 0, 0, graph 0.1, graph 0.1
plot for [v in variants] datadir."/gains_".v.".dat" using 1:2 with linespoints \
         lc rgb color(v) lw 1 pt 7 ps 0.5 title v." fwd", \
     for [v in variants] datadir."/gains_".v.".dat" using 1:3 with lines \
         lc rgb color(v) lw 1 dt 2 title v." bwd", \
     for [v in variants] datadir."/gains_".v.".dat" using 1:4 with linespoints \
         lc rgb color(v) lw 3 pt 7 ps 0.7 title v." composite fwd", \
     for [v in variants] datadir."/gains_".v.".dat" using 1:5 with lines \
         lc rgb color(v) lw 3 dt 2 title v." composite bwd"
unset logscale y
# runs written before resbench recorded row sums have none: only variants with data are drawn
mixv = system("cat '".datadir."/mixing_variants.txt' 2>/dev/null")
set title "row sums (band: min..max) and ||H - I||_F (points)" noenhanced
set ylabel "value"
if (strlen(mixv) == 0) {
    set label 1 "no row sums in these runs' mhc.csv\n(written before resbench recorded them)" at graph 0.5, 0.5 center
    unset key
    set xrange [0:1]
    set yrange [0:1]
    plot 2 notitle
} else {
    set yrange [0:*]
    set style fill transparent solid 0.25 noborder
    plot for [v in mixv] datadir."/gains_".v.".dat" using 1:6:7 with filledcurves \
             lc rgb color(v) notitle, \
         for [v in mixv] datadir."/gains_".v.".dat" using 1:6 with lines \
             lc rgb color(v) lw 1 dt 2 title v." min row sum", \
         for [v in mixv] datadir."/gains_".v.".dat" using 1:7 with lines \
             lc rgb color(v) lw 1 title v." max row sum", \
         for [v in mixv] datadir."/gains_".v.".dat" using 1:10 with linespoints \
             lc rgb color(v) lw 2 pt 5 ps 0.7 title v." ||H-I||"
}
unset multiplot
