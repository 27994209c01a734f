/* The subcommands of `resbench` (main.c dispatches argv[1] to one of them). Each parses its own
 * arguments, calls the library code of runs/, analysis/, report/, plot/ and bench/, and returns an
 * exit code (or exits through rb_die with one line). Nothing outside cmd/ includes this header. */
#ifndef RB_CMD_H
#define RB_CMD_H

int cmd_train(int argc, char **argv);
int cmd_data(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_ablate(int argc, char **argv);
int cmd_sweep(int argc, char **argv);
int cmd_fit(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_sample(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_knockout(int argc, char **argv);

#endif
