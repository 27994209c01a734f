/* Progress: a live line on a terminal, one plain line per log step otherwise (CI logs). */
#ifndef RB_PROGRESS_H
#define RB_PROGRESS_H

typedef struct {
    int tty, quiet;
    char label[64];
} Progress;

void progress_init(Progress *p, const char *label, int quiet);
/* Called every step; log_step = 1 on steps that write a metrics row. val < 0: not evaluated. */
void progress_step(Progress *p, long step, long total, double loss, double val, double tok_s,
                   double eta_s, int log_step);
void progress_done(Progress *p);
void format_duration(double s, char *buf, int n);

#endif
