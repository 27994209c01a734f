/* report.html: report.md rendered as one self-contained page, figures embedded as inline SVG. */
#ifndef RB_REPORT_HTML_H
#define RB_REPORT_HTML_H
#include <stdio.h>

/* Renders the markdown subset resbench's report uses (headings, paragraphs, pipe tables, fenced
 * code, **bold**, `code`, images) to f. An image figures/NAME.png is replaced by the SVG text of
 * DIR/figures/NAME.svg when it exists (else a note). */
void report_md_to_html(FILE *f, const char *md, const char *dir);

#endif
