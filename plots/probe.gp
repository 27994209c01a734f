# Reasoning probe (synth:compose, synth:hops): accuracy of the greedy prediction on the answer
# tokens by hop count, at the last evaluation; mean over seeds with min..max bars; dashed: the
# accuracy of a uniform guess among the candidate answers.
load plotsdir."/common.gp"
chance = real(system("cat '".datadir."/probe_chance.txt' 2>/dev/null || echo nan"))
if (chance == chance) {
    set arrow 1 from graph 0, first chance to graph 1, first chance nohead lc rgb "#666666" dt 2
    set label 1 sprintf("chance %.3f", chance) at graph 0.02, first chance offset 0,0.7 tc rgb "#666666"
}
set output outdir."/probe.".fmt
set title "Multi-hop answer accuracy (last evaluation; dashed: chance)" noenhanced
set xlabel "hops (pointer-chasing steps to the answer)"
set ylabel "answer accuracy (fraction correct)"
set yrange [0:1]
set xtics 1
set key top right
plot for [v in variants] datadir."/probe_".v.".dat" using 1:2:3:4 with yerrorlines \
     lc rgb color(v) lw 2 pt 7 ps 0.8 title v
