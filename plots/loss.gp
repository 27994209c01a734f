# Figure 1: validation loss against training compute and tokens, one line per variant: the mean
# over seeds with a band spanning min..max over seeds; dotted: the training loss (mean). Left:
# the whole run on a log axis, with the data's exact loss floor when it is known; right: the last
# part of training, where the variants differ, zoomed.
load plotsdir."/common.gp"
floor = real(system("cat '".datadir."/loss_floor.txt' 2>/dev/null || echo nan"))
cmax = 0
tmax = 0
runs = 0
do for [v in variants] {   # the largest compute, token count and run count of any variant
    stats datadir."/val_".v.".dat" using 2 nooutput
    cmax = STATS_max > cmax ? STATS_max : cmax
    stats datadir."/val_".v.".dat" using 1 nooutput
    tmax = STATS_max > tmax ? STATS_max : tmax
    stats datadir."/val_".v.".dat" using 6 nooutput
    runs = STATS_max > runs ? STATS_max : runs
}
how = runs > 1 ? "line: mean over seeds, band: min..max; dotted: training loss" \
               : "one run per variant; dotted: training loss"

do for [axis in "flops tokens"] {
    col = axis eq "flops" ? 2 : 1
    raw = axis eq "flops" ? cmax : tmax
    e3 = floor(log10(raw) / 3) * 3       # units so that the axis reads 1..999
    scale = 10.0**e3
    unit = axis eq "flops" ? (e3 >= 15 ? "PFLOP" : e3 >= 12 ? "TFLOP" : e3 >= 9 ? "GFLOP" : "MFLOP") \
                           : (e3 >= 9 ? "billions" : e3 >= 6 ? "millions" : "thousands")
    xmax = raw / scale
    set output outdir."/loss_vs_".axis.".".fmt
    set multiplot layout 1,2 title (axis eq "flops" ? "Validation loss vs training compute" : \
        "Validation loss vs training tokens")." (".how.")" noenhanced
    set xlabel (axis eq "flops" ? "training compute (".unit.", analytic fwd + bwd)" : "training tokens (".unit.")")
    set ylabel "loss (nats/token)"
    set logscale x
    set format x "%g"
    if (many) {
        set key below horizontal maxcols 2 font ",8" spacing 0.9
        set bmargin 13
    } else {
        set key top right
    }
    set title "whole run" noenhanced
    set autoscale y
    set xrange [*:*]
    if (floor == floor) {
        set arrow 1 from graph 0, first floor to graph 1, first floor nohead lc rgb "#666666" dt 2
        set label 1 sprintf("data loss floor %.4f", floor) at graph 0.02, first floor offset 0,0.6 tc rgb "#666666"
    }
    plot for [v in variants] datadir."/val_".v.".dat" using (column(col)/scale):4:5 with filledcurves \
             lc rgb color(v) fs transparent solid 0.18 noborder notitle, \
         for [v in variants] datadir."/train_".v.".dat" using (column(col)/scale):3 with lines \
             lc rgb color(v) lw 1 dt 3 notitle, \
         for [v in variants] datadir."/val_".v.".dat" using (column(col)/scale):3 with linespoints \
             lc rgb color(v) lw 2 pt 7 ps 0.5 title v
    unset arrow 1
    unset label 1
    set title "last 60% of training, zoomed" noenhanced
    unset logscale x
    set xrange [0.4 * xmax : 1.02 * xmax]
    # The zoom's y range spans the arms whose final mean loss is within 20% of the best arm's; an
    # arm far above (one that stalled or failed) would squeeze the others into one line. It stays
    # drawn (off scale) and is named with its final loss in the corner.
    array finals[words(variants)]
    best = 1e300
    do for [i = 1:words(variants)] {
        stats datadir."/val_".word(variants, i).".dat" using 3 nooutput
        last = STATS_records - 1
        stats datadir."/val_".word(variants, i).".dat" every ::last::last using 3 nooutput
        finals[i] = STATS_max
        best = finals[i] < best ? finals[i] : best
    }
    lo = 1e300
    hi = -1e300
    offscale = ""
    do for [i = 1:words(variants)] {
        f = datadir."/val_".word(variants, i).".dat"
        if (finals[i] <= 1.2 * best) {
            stats f using (column(col) / scale >= 0.4 * xmax ? column(4) : 1e300) nooutput
            lo = STATS_min < lo ? STATS_min : lo
            stats f using (column(col) / scale >= 0.4 * xmax ? column(5) : -1e300) nooutput
            hi = STATS_max > hi ? STATS_max : hi
        } else {
            offscale = offscale.sprintf("%s %s (%.3f)", offscale eq "" ? "off scale:" : ",", word(variants, i), finals[i])
        }
    }
    if (offscale ne "" && lo < hi) {
        pad = 0.08 * (hi - lo)
        set yrange [lo - pad : hi + pad]
        set label 2 offscale at graph 0.02, graph 0.04 left front noenhanced tc rgb "#444444"
    } else {
        set autoscale y
    }
    # bands only inside the window (a band polygon clipped at the left edge draws a wedge)
    inwin(x) = x >= 0.4 * xmax ? x : NaN
    plot for [v in variants] datadir."/val_".v.".dat" using (inwin(column(col)/scale)):4:5 \
             with filledcurves lc rgb color(v) fs transparent solid 0.18 noborder notitle, \
         for [v in variants] datadir."/val_".v.".dat" using (column(col)/scale):3 with linespoints \
             lc rgb color(v) lw 2 pt 7 ps 0.7 title v
    unset label 2
    set autoscale y
    unset multiplot
}
