# Paired delta to prenorm (final validation loss) against a design key that several ablations
# vary (resbench plot --trend KEY): one line per variant with its 95% t interval; filled points
# are decided after Holm's correction within their experiment, open points are within seed noise.
# Variables: trendkey (the key); data trend_KEY_VARIANT.dat: x delta lo hi decided.
load plotsdir."/common.gp"
set output outdir."/trend_".trendkey.".".fmt
set title "Paired delta to prenorm of the final validation loss, by ".trendkey." (95% t intervals; filled: decided after Holm)" noenhanced
set xlabel trendkey noenhanced
set ylabel "variant - prenorm (nats/token; below 0 = better)"
set key top right
set logscale x 2
set xtics 2
n = words(variants)
f(v) = datadir."/trend_".trendkey."_".v.".dat"
stats f(word(variants, 1)) using 1 nooutput
set xrange [STATS_min / 1.5 : STATS_max * 1.5]
set offsets 0, 0, graph 0.06, graph 0.06
# variants side by side at each x (a small multiplicative shift on the log axis)
shift(i) = 2 ** (0.05 * (i - (n + 1) / 2.0))
plot 0 with lines lc rgb "#777777" dt 2 notitle, \
     for [i = 1:n] f(word(variants, i)) using ($1 * shift(i)):2:3:4 with yerrorlines \
         lc rgb color(word(variants, i)) lw 1.5 pt 6 ps 1.1 title word(variants, i), \
     for [i = 1:n] f(word(variants, i)) using ($1 * shift(i)):($5 > 0 ? $2 : 1/0) with points \
         lc rgb color(word(variants, i)) pt 7 ps 1.3 notitle
