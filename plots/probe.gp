# Reasoning probe (synth:hops): accuracy of the greedy prediction on the answer tokens by hop
# count, at the last evaluation; mean over seeds with min..max bars.
load plotsdir."/common.gp"
set output outdir."/probe.".fmt
set title "Multi-hop answer accuracy (synth:hops, last evaluation)" noenhanced
set xlabel "hops (pointer-chasing steps to the answer)"
set ylabel "answer accuracy (fraction correct)"
set yrange [0:1]
set xtics 1
set key top right
plot for [v in variants] datadir."/probe_".v.".dat" using 1:2:3:4 with yerrorlines \
     lc rgb color(v) lw 2 pt 7 ps 0.8 title v
