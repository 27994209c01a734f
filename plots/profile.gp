# Figures 2 and 3: per-sublayer magnitudes at the last profile step (validation batch 0), mean
# over seeds as lines, the range over seeds as a band (columns: mean c, min c+5, max c+10).
# Sublayer 1, 3, 5, ... are attention, 2, 4, 6, ... MLP.
load plotsdir."/common.gp"
set xlabel "sublayer (odd = attention, even = MLP)"
stats datadir."/profile_".word(variants, 1).".dat" using 1 nooutput
set xtics int_tics(STATS_max)
set xrange [STATS_min:STATS_max]
if (many) {
    set key below horizontal maxcols 2 font ",8" spacing 0.9
    set bmargin 13
} else {
    set key below maxcols 6 font ",10"
    set bmargin 8
}
spread = 0   # zero when every variant has one run: no band to explain
do for [v in variants] {
    stats datadir."/profile_".v.".dat" using ($12 - $7) nooutput
    spread = STATS_max > spread ? STATS_max : spread
}
how = spread > 0 ? "line: mean over seeds, band: their range" : "one run per variant"

set output outdir."/dilution.".fmt
set multiplot layout 1,2 title "Hidden-state magnitude across depth (RMS over tokens and channels; ".how.")"
# Linear, as the paper draws it, unless the values span more than a factor of 20 (an arm whose
# state grows by orders of magnitude would flatten every other line into the axis): then log.
lo = 1e300
hi = 0
do for [v in variants] {
    stats datadir."/profile_".v.".dat" using 7 nooutput
    lo = STATS_min < lo ? STATS_min : lo
    stats datadir."/profile_".v.".dat" using 12 nooutput
    hi = STATS_max > hi ? STATS_max : hi
}
stream_log = lo > 0 && hi / lo > 20
set title (stream_log ? "residual state after the sublayer (log scale)" : \
           "residual state after the sublayer") noenhanced
if (stream_log) { set logscale y; set format y "%g" }
set ylabel "stream RMS"
plot for [v in variants] datadir."/profile_".v.".dat" using 1:7:12 with filledcurves \
     lc rgb color(v) fs transparent solid 0.18 noborder notitle, \
     for [v in variants] datadir."/profile_".v.".dat" using 1:2 with linespoints \
     lc rgb color(v) lw 2 pt 7 ps 0.6 title v
unset logscale y
set format y "% h"
set title "what the sublayer writes" noenhanced
set ylabel "output RMS"
set logscale y
set format y "%.0e"
plot for [v in variants] datadir."/profile_".v.".dat" using 1:8:13 with filledcurves \
     lc rgb color(v) fs transparent solid 0.18 noborder notitle, \
     for [v in variants] datadir."/profile_".v.".dat" using 1:3 with linespoints \
     lc rgb color(v) lw 2 pt 7 ps 0.6 title v
unset multiplot
unset logscale y
set format y "% h"

set output outdir."/gradients.".fmt
set multiplot layout 1,2 title "Gradient magnitude across depth (".how.")"
set logscale y
set format y "%.0e"
set title "dLoss/d(sublayer input), through the sublayer" noenhanced
set ylabel "gradient RMS"
plot for [v in variants] datadir."/profile_".v.".dat" using 1:9:14 with filledcurves \
     lc rgb color(v) fs transparent solid 0.18 noborder notitle, \
     for [v in variants] datadir."/profile_".v.".dat" using 1:4 with linespoints \
     lc rgb color(v) lw 2 pt 7 ps 0.6 title v
set title "sublayer parameters (norm gain + matrices)" noenhanced
set ylabel "parameter-gradient L2 norm"
plot for [v in variants] datadir."/profile_".v.".dat" using 1:10:15 with filledcurves \
     lc rgb color(v) fs transparent solid 0.18 noborder notitle, \
     for [v in variants] datadir."/profile_".v.".dat" using 1:5 with linespoints \
     lc rgb color(v) lw 2 pt 7 ps 0.6 title v
unset multiplot
