# Depth x width sweep at matched compute: final validation loss per shape, one panel per variant
# (mean over seeds), the value printed on each shape; log2 axes.
load plotsdir."/common.gp"
set logscale x 2
set logscale y 2
set xlabel "d_model (width)"
set ylabel "n_layer (blocks)"
set cblabel "validation loss (nats/token)"
set palette defined (0 "#2166ac", 0.5 "#f7f7f7", 1 "#b2182b")
set offsets graph 0.1, graph 0.1, graph 0.1, graph 0.1
unset key
do for [v in variants] {
    set output outdir."/sweep_".v.".".fmt
    set title v.": validation loss at matched training compute" noenhanced
    plot datadir."/sweep_".v.".dat" using 1:2:3 with points pt 5 ps 5 palette, \
         "" using 1:2:(sprintf("%.3f", $3)) with labels font ",9" offset 0,-1.6
}
