# Figure 6: routing over depth (docs/variants.md, "Routing diagnostics"). Left: per consumer (at
# its relative depth, consumer / the last consumer, so variants with different numbers of
# consumers share the axis), the entropy of its weights over the sources it reads divided by the uniform
# entropy log(sources), token mean at the last profile step; the line is the mean over seeds, the
# band min..max; 1 = uniform weights, 0 = one source per token. Right (only when some run has
# knockout.csv, from `resbench knockout`): per source, the change of validation loss when its
# term is removed from every consumer, mean over those runs, on a log axis of its size; filled
# points: the loss rises, open points: it falls.
load plotsdir."/common.gp"
kv = exists("knockvars") ? knockvars : ""
has_knock = words(kv) > 0
set output outdir."/routing.".fmt
set key below maxcols 3 font ",9"
set bmargin (many ? 10 : 8)
if (has_knock) {
    set multiplot layout 1,2 title "Routing over depth: how evenly consumers weight their sources, and which sources matter"
}
set title "entropy / uniform (band: min..max over seeds)" noenhanced
set xlabel "consumer depth (consumer / last consumer)"
set xrange [0:1.02]
set xtics 0.2
set ylabel "entropy / log(sources)"
set yrange [0:1.08]
set ytics 0.2
f(v) = datadir."/routing_".v.".dat"
plot 1 with lines dt 2 lw 1 lc rgb "#888888" title "uniform", \
     for [v in variants] f(v) using 6:3:4 with filledcurves fs transparent solid 0.2 \
         lc rgb color(v) notitle, \
     for [v in variants] f(v) using 6:2 with linespoints lw 2 pt 7 ps 0.6 lc rgb color(v) \
         title v
if (has_knock) {
    set title "knockout: loss change without a source" noenhanced
    set xlabel "source (0 = the embedding, then outputs in order)" noenhanced
    set ylabel "|change of validation loss| (nats)"
    set xrange [*:*]
    set yrange [*:*]
    set ytics autofreq
    set format y "%g"
    set logscale y
    set xtics 1
    k(v) = datadir."/knockout_".v.".dat"
    set offsets 0.5, 0.5, 0, 0
    plot for [v in kv] k(v) using 1:($2 > 0 ? $2 : 1/0) with points pt 7 ps 1.0 \
             lc rgb color(v) title v." (rises)", \
         for [v in kv] k(v) using 1:($2 < 0 ? -$2 : 1/0) with points pt 6 ps 1.0 \
             lc rgb color(v) title v." (falls)"
    unset multiplot
}
