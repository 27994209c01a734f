# Shared by every resbench figure: terminal from fmt (png|svg), one colour per variant everywhere.
# Variables set by `resbench plot`: plotsdir, datadir, outdir, fmt, variants (space-separated).
if (fmt eq "svg") {
    set terminal svg size 960,560 dynamic font "sans,11" background "white"
} else {
    set terminal pngcairo size 960,560 font "sans,11" background "white"
}
color(v) = v eq "prenorm" ? "#222222" : \
           v eq "attnres_full" ? "#d62728" : \
           v eq "attnres_block" ? "#ff7f0e" : \
           v eq "denseformer" ? "#2ca02c" : \
           v eq "mhc" ? "#1f77b4" : \
           v eq "hc" ? "#9467bd" : "#7f7f7f"
set datafile missing "nan"
set grid lc rgb "#dddddd"
set key noenhanced box opaque
set border lw 1
