# `resbench compare A B`: the validation curves of two runs overlaid (variants = "A:label B:label").
load plotsdir."/common.gp"
la = substr(word(variants, 1), 3, 200)
lb = substr(word(variants, 2), 3, 200)
set output outdir."/compare_loss.".fmt
set title "Validation loss: A = ".la.", B = ".lb noenhanced
set xlabel "training tokens"
set ylabel "validation loss (nats/token)"
set key top right
plot datadir."/compare_A.dat" using 1:2 with linespoints lc rgb "#000000" lw 2 pt 7 ps 0.6 title "A ".la, \
     datadir."/compare_B.dat" using 1:2 with linespoints lc rgb "#D55E00" lw 2 pt 5 ps 0.6 title "B ".lb
