#include "progress.h"

#include <string.h>
#include <unistd.h>

#include "util.h"

static int exp_k, exp_n; /* set by progress_experiment for the runs of ablate and sweep */

void progress_experiment(int k, int n) {
    exp_k = k;
    exp_n = n;
}

void progress_init(Progress *p, const char *label, int quiet, const char *log_path) {
    memset(p, 0, sizeof *p);
    p->tty = isatty(STDERR_FILENO);
    p->quiet = quiet;
    p->run_k = exp_k;
    p->run_n = exp_n;
    p->t0 = rb_now();
    snprintf(p->label, sizeof p->label, "%s", label);
    if (log_path && !quiet) p->log = fopen(log_path, "a"); /* best effort: a log, not a result */
}

void format_duration(double s, char *buf, int n) {
    if (s < 0) s = 0;
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, n, "%ldh%02ldm", t / 3600, (t / 60) % 60);
    else if (t >= 60)
        snprintf(buf, n, "%ldm%02lds", t / 60, t % 60);
    else
        snprintf(buf, n, "%lds", t);
}

void progress_step(Progress *p, long step, long total, double loss, double val, double tok_s,
                   double eta_s, int log_step) {
    if (p->quiet) return;
    char eta[80], valbuf[32] = "";
    format_duration(eta_s, eta, 32);
    if (val >= 0) snprintf(valbuf, sizeof valbuf, " val %.4f", val);
    if (log_step && p->log) {
        fprintf(p->log, "%s step %ld/%ld loss %.4f%s tok/s %.0f eta %s\n", p->label, step, total,
                loss, valbuf, tok_s, eta);
        fflush(p->log);
    }
    double now = rb_now();
    if (p->tty && (log_step || val >= 0 || step == total || now - p->t_draw >= 0.2)) {
        p->t_draw = now; /* at most 5 redraws a second besides logged steps */
        char run[96] = "";
        if (p->run_n > 0) {
            char all[32];
            double per_run = now - p->t0 + eta_s;
            format_duration(eta_s + (p->run_n - p->run_k) * per_run, all, sizeof all);
            snprintf(run, sizeof run, "run %d/%d ", p->run_k, p->run_n);
            snprintf(eta + strlen(eta), sizeof eta - strlen(eta), ", all %s", all);
        }
        fprintf(stderr, "\r\033[K%s%s step %ld/%ld | loss %.4f%s | %.0f tok/s | ETA %s", run,
                p->label, step, total, loss, valbuf, tok_s, eta);
        if (val >= 0 && p->run_n == 0) fputc('\n', stderr);
        fflush(stderr);
    } else if (log_step && p->run_n == 0) {
        printf("%s step %ld/%ld loss %.4f%s tok/s %.0f eta %s\n", p->label, step, total, loss,
               valbuf, tok_s, eta);
        fflush(stdout);
    }
}

void progress_done(Progress *p) {
    if (!p->quiet && p->tty) {
        if (p->run_n > 0)
            fputs("\r\033[K", stderr); /* the run's end line replaces it */
        else
            fputc('\n', stderr);
    }
    if (p->log) fclose(p->log);
    p->log = NULL;
}
