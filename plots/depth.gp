# Figure 4: depth-mixing weights of the last profile step, one heatmap per variant (first run).
# AttnRes: rows are consumers (sublayers 1..L, L+1 = readout), columns their sources (0 = embedding);
# DenseFormer: rows are blocks, columns the blocks averaged (beta).
load plotsdir."/common.gp"
set xlabel "source (0 = embedding)"
set ylabel "consumer (sublayer; last row = readout)"
set cblabel "weight"
set palette defined (0 "#ffffff", 0.5 "#fdae6b", 1 "#7f2704")
set datafile missing   # no "missing" marker: nan cells (no such source) stay in the grid, blank
set cbrange [0:1]
unset grid
unset key
set tics out
do for [v in variants] {
    set output outdir."/depth_".v.".".fmt
    set title v.": mixing weights over depth (token mean, validation batch)" noenhanced
    if (v eq "denseformer") { set ylabel "block k"; set xlabel "source block j (0 = embedding)" }
    plot datadir."/depth_".v.".dat" using 1:2:3 with image notitle
}
