# Shared by every resbench figure: terminal from fmt (png|svg), one colour per variant everywhere.
# Variables set by `resbench plot`: plotsdir, datadir, outdir, fmt, variants (space-separated).
# Many arms (an ablation of design options): a taller canvas, keys below the panels in small type
many = words(variants) > 8
height = many ? 800 : 560
if (fmt eq "svg") {
    set terminal svg size 960,height dynamic font "sans,11" background "white"
} else {
    set terminal pngcairo size 960,height font "sans,11" background "white"
}
# Okabe-Ito colours (distinguishable with the common colour-vision deficiencies) for the variants;
# other arms (variant specs with options, e.g. attnres_full-score_sigmoid) take the Tol muted
# palette by their position in the figure's variant list
extra_colors = "#332288 #117733 #44AA99 #88CCEE #DDCC77 #CC6677 #AA4499 #882255 #999933 #661100 #6699CC #555555"
arm_pos(v, i) = i > words(variants) ? 0 : (word(variants, i) eq v ? i : arm_pos(v, i + 1))
color(v) = v eq "prenorm" ? "#000000" : \
           v eq "attnres_full" ? "#D55E00" : \
           v eq "attnres_block" ? "#E69F00" : \
           v eq "denseformer" ? "#009E73" : \
           v eq "mhc" ? "#0072B2" : \
           v eq "hc" ? "#CC79A7" : \
           word(extra_colors, 1 + arm_pos(v, 1) % words(extra_colors))
set datafile missing "nan"
set grid lc rgb "#dddddd"
set key noenhanced box opaque
set border lw 1
# Tick step for an integer axis of n sublayers or sites: every one up to 16, then every 2nd, 4th
# (32 labels side by side overlap)
int_tics(n) = n <= 16 ? 1 : (n <= 32 ? 2 : 4)
