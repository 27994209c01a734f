/* report.md, report.json and report.html for an experiment directory (report.c): the command line
 * is cmd/cmd_report.c; `ablate` writes the same report when its runs finish. */
#ifndef RB_REPORT_H
#define RB_REPORT_H

/* The report of the experiment in dir (figures drawn first with plot_dirs when plot is nonzero),
 * with the loss law of law (a fit.ini; NULL: dir/fit.ini if present). 0, or -1 with rb_error(). */
int report_write_law(const char *dir, int plot, const char *law);
/* ... with the law of dir/fit.ini if present. */
int report_write(const char *dir, int plot);

#endif
