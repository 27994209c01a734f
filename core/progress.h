/* Progress of a training run. Every logged step goes as a plain line to the run's train.log. On a
 * terminal one line is updated in place; otherwise (CI logs) a plain line per logged step goes to
 * stdout for a single run, and nothing per step inside an experiment (its runs print one line at
 * start and end; the steps are in each run's train.log). */
#ifndef RB_PROGRESS_H
#define RB_PROGRESS_H
#include <stdio.h>

typedef struct {
    int tty, quiet, run_k, run_n;
    double t0;     /* when the run (this process's segment) started */
    double t_draw; /* last terminal redraw */
    char label[64];
    FILE *log;
} Progress;

/* An experiment is running run k of n (1-based); n = 0: a single run. The terminal line then
 * shows "run k/n" and the ETA of the whole experiment, estimated as this run's ETA plus the runs
 * after it at this run's projected duration. */
void progress_experiment(int k, int n);
/* log_path: the run's train.log (appended; NULL: none). */
void progress_init(Progress *p, const char *label, int quiet, const char *log_path);
/* Called every step; log_step = 1 on steps that write a metrics row. val < 0: not evaluated. */
void progress_step(Progress *p, long step, long total, double loss, double val, double tok_s,
                   double eta_s, int log_step);
void progress_done(Progress *p);
void format_duration(double s, char *buf, int n);

#endif
