# Figure 4: depth-mixing weights of the last profile step, one heatmap per arm (first run).
# Rows are consumers (for depth attention: sublayers 1..L, then the readout; for a weighted
# average over blocks: the blocks), columns their sources in order (0 = the embedding). Blank: no
# such source. The scale follows the data: weights inside [0, 1] (softmax or sigmoid weights) on
# [0, 1]; unconstrained weights (negative, or above 1) on a diverging palette centred on 0.
load plotsdir."/common.gp"
set datafile missing   # no "missing" marker: nan cells (no such source) stay in the grid, blank
unset grid
unset key
set tics out
do for [v in variants] {
    f = datadir."/depth_".v.".dat"
    set xrange [*:*]      # stats only sees points inside the current ranges
    set yrange [*:*]
    set xtics autofreq
    set ytics autofreq
    stats f using 1 nooutput
    set xrange [STATS_min - 0.5 : STATS_max + 0.5]
    stats f using 2 nooutput
    set yrange [STATS_min - 0.5 : STATS_max + 0.5]
    set ytics 1
    set xtics 1
    set xtics add ("emb" 0)
    stats f using 3 nooutput
    if (STATS_min < 0 || STATS_max > 1) {
        wmax = abs(STATS_min) > abs(STATS_max) ? abs(STATS_min) : abs(STATS_max)
        set cbrange [-wmax:wmax]
        set palette defined (-1 "#2166ac", 0 "#ffffff", 1 "#b2182b")
        set cblabel "weight (0 = white; unconstrained)"
    } else {
        set cbrange [0:1]
        set palette defined (0 "#ffffff", 0.5 "#fdae6b", 1 "#7f2704")
        set cblabel "weight (token mean)"
    }
    set ylabel "consumer (sublayer or block; depth attention: the readout last)" noenhanced
    set xlabel "source (emb = the embedding, then earlier outputs or block sums in order)" noenhanced
    set output outdir."/depth_".v.".".fmt
    set title v.": mixing weights over depth (validation batch)" noenhanced
    plot f using 1:2:3 with image notitle
}
