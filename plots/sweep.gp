# Depth x width sweep at matched compute: final validation loss per shape (mean over seeds), one
# heatmap per variant on the grid of shapes; the loss printed in each cell, the best shape boxed,
# the shapes within seed noise of it (sweep_near_V.dat) in dashed boxes.
# One colour scale for all variants, centred on prenorm's best loss (white): blue cells beat it,
# red cells lose to it.
load plotsdir."/common.gp"
scale = system("cat '".datadir."/sweep_scale.txt'")
centre = real(word(scale, 1))
span = real(word(scale, 2))
set xlabel "d_model (width)" noenhanced
set ylabel "n_layer (blocks)" noenhanced
set cblabel "validation loss (nats/token); white = prenorm's best" noenhanced
set palette defined (0 "#2166ac", 0.5 "#f7f7f7", 1 "#b2182b")
set cbrange [centre - span : centre + span]
set xrange [-0.5:*]
set yrange [-0.5:*]
set autoscale xfixmax
set autoscale yfixmax
unset key
do for [v in variants] {
    f = datadir."/sweep_".v.".dat"
    stats f using 5 nooutput
    set xrange [-0.5 : STATS_max + 0.5]
    stats f using 6 nooutput
    set yrange [-0.5 : STATS_max + 0.5]
    set output outdir."/sweep_".v.".".fmt
    set title v.": validation loss at matched training compute (box: best; dashed: within seed noise)" noenhanced
    plot f using 5:6:3 with image, \
         "" using 5:6:(sprintf("%.4f", $3)) with labels font ",10", \
         "" using 5:(-1):xtic(1) with points ps 0 notitle, \
         "" using (-1):6:ytic(2) with points ps 0 notitle, \
         datadir."/sweep_near_".v.".dat" using 1:2:(0.42):(0.42) with boxxyerror lw 1.5 dt 2 lc rgb "#000000", \
         datadir."/sweep_best_".v.".dat" using 1:2:(0.5):(0.5) with boxxyerror lw 3 lc rgb "#000000"
}
