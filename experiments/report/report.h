/* report.md, report.json and report.html for an experiment directory (report.c): the command line
 * is cmd/cmd_report.c; `ablate` writes the same report when its runs finish. */
#ifndef RB_REPORT_H
#define RB_REPORT_H

/* The report of the experiment in dir (figures drawn first with plot_dirs when plot is nonzero),
 * with the loss law of law (a fit.ini; NULL: dir/fit.ini if present). 0, or -1 with rb_error(). */
int report_write_law(const char *dir, int plot, const char *law);
/* ... with the law of dir/fit.ini if present. */
int report_write(const char *dir, int plot);

/* The paper's direction of option arm `arm` ("NAME:OPTION=VALUE,...") against its plain arm NAME
 * (claim 6), read from the variant's option table (VariantOption.paper_better): -1 (a lower loss)
 * when the arm sets an option to the value the paper reports better than its chosen design, +1
 * (higher or equal) otherwise; 0 with rb_error() when the installed table cannot read the arm. */
int report_design_sign(const char *arm);

#endif
