#include "progress.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

void progress_init(Progress *p, const char *label, int quiet) {
    p->tty = isatty(STDERR_FILENO);
    p->quiet = quiet;
    snprintf(p->label, sizeof p->label, "%s", label);
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
    char eta[32], valbuf[32] = "";
    format_duration(eta_s, eta, sizeof eta);
    if (val >= 0) snprintf(valbuf, sizeof valbuf, " | val %.4f", val);
    if (p->tty) {
        fprintf(stderr, "\r\033[K%s step %ld/%ld | loss %.4f%s | %.0f tok/s | ETA %s", p->label,
                step, total, loss, valbuf, tok_s, eta);
        if (val >= 0) fputc('\n', stderr);
        fflush(stderr);
    } else if (log_step) {
        printf("%s step %ld/%ld loss %.4f%s tok/s %.0f eta %s\n", p->label, step, total, loss,
               valbuf, tok_s, eta);
        fflush(stdout);
    }
}

void progress_done(Progress *p) {
    if (!p->quiet && p->tty) fputc('\n', stderr);
}
