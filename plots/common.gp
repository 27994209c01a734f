# Shared by every resbench figure: terminal from fmt (png|svg), one colour per variant everywhere.
# Variables set by `resbench plot`: plotsdir, datadir, outdir, fmt, variants (space-separated).
if (fmt eq "svg") {
    set terminal svg size 960,560 dynamic font "sans,11" background "white"
} else {
    set terminal pngcairo size 960,560 font "sans,11" background "white"
}
# Okabe-Ito colours (distinguishable with the common colour-vision deficiencies)
color(v) = v eq "prenorm" ? "#000000" : \
           v eq "attnres_full" ? "#D55E00" : \
           v eq "attnres_block" ? "#E69F00" : \
           v eq "denseformer" ? "#009E73" : \
           v eq "mhc" ? "#0072B2" : \
           v eq "hc" ? "#CC79A7" : \
           v eq "attnres_full:score=sigmoid" || v eq "attnres_block:score=sigmoid" ? "#56B4E9" : \
           v eq "attnres_full:keynorm=off" || v eq "attnres_block:keynorm=off" ? "#882255" : \
           "#999999"
# other arms (variant specs with options) are grey
set datafile missing "nan"
set grid lc rgb "#dddddd"
set key noenhanced box opaque
set border lw 1
# Tick step for an integer axis of n sublayers or sites: every one up to 16, then every 2nd, 4th
# (32 labels side by side overlap)
int_tics(n) = n <= 16 ? 1 : (n <= 32 ? 2 : 4)
