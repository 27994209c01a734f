# Figure 4: depth-mixing weights of the last profile step, one heatmap per variant (first run).
# AttnRes: rows are consumers (sublayers 1..L, then the readout), columns their sources in order;
# DenseFormer: rows are blocks, columns the blocks averaged (beta). Blank: no such source.
load plotsdir."/common.gp"
set cblabel "weight (token mean)"
set palette defined (0 "#ffffff", 0.5 "#fdae6b", 1 "#7f2704")
set datafile missing   # no "missing" marker: nan cells (no such source) stay in the grid, blank
set cbrange [0:1]
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
    smax = STATS_max
    stats f using 2 nooutput
    set yrange [STATS_min - 0.5 : STATS_max + 0.5]
    set ytics 1
    set xtics 1
    set xtics add ("emb" 0)
    if (v eq "denseformer") {
        # DenseFormer's weights are unconstrained (negative, or above 1): a diverging palette
        # centred on 0 over the data's whole range, instead of the softmax weights' [0, 1]
        stats f using 3 nooutput
        wmax = abs(STATS_min) > abs(STATS_max) ? abs(STATS_min) : abs(STATS_max)
        wmax = wmax < 1 ? 1 : wmax
        set cbrange [-wmax:wmax]
        set palette defined (-1 "#2166ac", 0 "#ffffff", 1 "#b2182b")
        set cblabel "beta (0 = white; unconstrained)"
        set ylabel "block k (output Y_k averages X_0..X_k)" noenhanced
        set xlabel "source block j (emb = the embedding X_0)" noenhanced
    } else {
        set ytics add ("readout" STATS_max)
        set ylabel "consumer (sublayer 1..L, then the readout)" noenhanced
        if (v eq "attnres_full") {
            set xlabel "source: emb, then the output of sublayer i" noenhanced
        } else {
            set xlabel "source: emb, completed block sums, then the block's partial sum (last, if any)" noenhanced
        }
    }
    set output outdir."/depth_".v.".".fmt
    set title v.": mixing weights over depth (validation batch)" noenhanced
    plot f using 1:2:3 with image notitle
    set cbrange [0:1] # back to the softmax weights' range and palette for the next variant
    set palette defined (0 "#ffffff", 0.5 "#fdae6b", 1 "#7f2704")
    set cblabel "weight (token mean)"
}
