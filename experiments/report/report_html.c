#include "report_html.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

/* First occurrence of the 2-byte string pat in s[0..n), or NULL. */
static const char *find2(const char *s, size_t n, const char *pat) {
    for (size_t i = 0; i + 1 < n; i++)
        if (s[i] == pat[0] && s[i + 1] == pat[1]) return s + i;
    return NULL;
}

static void put_escaped(FILE *f, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) switch (s[i]) {
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '&':
            fputs("&amp;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        default:
            fputc(s[i], f);
        }
}

/* Inline markup of one line: **bold**, `code`, [text](link); everything else escaped. */
static void put_inline(FILE *f, const char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        const char *rest = s + i;
        size_t left = n - i;
        if (left > 4 && !strncmp(rest, "**", 2)) {
            const char *e = find2(rest + 2, left - 2, "**");
            if (e) {
                fputs("<strong>", f);
                put_inline(f, rest + 2, (size_t)(e - rest - 2));
                fputs("</strong>", f);
                i += (size_t)(e - rest) + 2;
                continue;
            }
        }
        if (rest[0] == '`') {
            const char *e = memchr(rest + 1, '`', left - 1);
            if (e) {
                fputs("<code>", f);
                put_escaped(f, rest + 1, (size_t)(e - rest - 1));
                fputs("</code>", f);
                i += (size_t)(e - rest) + 1;
                continue;
            }
        }
        if (rest[0] == '[') {
            const char *mid = find2(rest, left, "]("),
                       *e = mid ? memchr(mid, ')', left - (size_t)(mid - rest)) : NULL;
            if (mid && e) {
                fputs("<a href=\"", f);
                put_escaped(f, mid + 2, (size_t)(e - mid - 2));
                fputs("\">", f);
                put_inline(f, rest + 1, (size_t)(mid - rest - 1));
                fputs("</a>", f);
                i += (size_t)(e - rest) + 1;
                continue;
            }
        }
        put_escaped(f, rest, 1);
        i++;
    }
}

/* The cells of a pipe-table row "| a | b |" as <td> (or <th>) elements. */
static void put_row(FILE *f, const char *line, size_t n, const char *tag) {
    fputs("<tr>", f);
    const char *p = line + 1, *end = line + n;
    while (p < end) {
        const char *bar = memchr(p, '|', (size_t)(end - p));
        if (!bar) break;
        const char *a = p, *b = bar;
        while (a < b && *a == ' ') a++;
        while (b > a && b[-1] == ' ') b--;
        fprintf(f, "<%s>", tag);
        put_inline(f, a, (size_t)(b - a));
        fprintf(f, "</%s>", tag);
        p = bar + 1;
    }
    fputs("</tr>\n", f);
}

/* ![alt](figures/NAME.png): the SVG twin inline, so the page needs no other file. */
static void put_image(FILE *f, const char *line, size_t n, const char *dir) {
    const char *open = memchr(line, '(', n),
               *close = open ? memchr(open, ')', n - (size_t)(open - line)) : NULL;
    char rel[512] = "", path[4800];
    if (open && close && (size_t)(close - open - 1) < sizeof rel)
        memcpy(rel, open + 1, (size_t)(close - open - 1));
    char *dot = strrchr(rel, '.');
    if (dot && !strcmp(dot, ".png")) strcpy(dot, ".svg");
    char *svg = NULL;
    size_t len = 0;
    if (rel[0] && rb_join(path, sizeof path, dir, rel) == 0 &&
        rb_read_file(path, &svg, &len) == 0) {
        const char *start = strstr(svg, "<svg");
        fputs("<figure>", f);
        if (start) fputs(start, f);
        fputs("</figure>\n", f);
        free(svg);
    } else {
        fputs("<p><em>figure not available: ", f);
        put_escaped(f, rel, strlen(rel));
        fputs("</em></p>\n", f);
    }
}

void report_md_to_html(FILE *f, const char *md, const char *dir) {
    fputs("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>resbench report</title>\n"
          "<style>body{font-family:sans-serif;max-width:70em;margin:2em auto;padding:0 1em}"
          "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:"
          "2px 8px;text-align:left}th{background:#eee}pre{background:#f4f4f4;padding:8px;"
          "overflow-x:auto}figure{margin:1em 0}svg{max-width:100%;height:auto}</style>\n"
          "</head><body>\n",
          f);
    int in_code = 0, in_table = 0, table_row = 0, in_para = 0;
    for (const char *l = md; *l;) {
        const char *nl = strchr(l, '\n');
        size_t n = nl ? (size_t)(nl - l) : strlen(l);
        int is_row = n > 0 && l[0] == '|';
        if (in_table && !is_row) {
            fputs("</table>\n", f);
            in_table = 0;
        }
        if (in_para && (n == 0 || is_row || l[0] == '#' || !strncmp(l, "```", 3) || l[0] == '!')) {
            fputs("</p>\n", f);
            in_para = 0;
        }
        if (!strncmp(l, "```", 3)) {
            fputs(in_code ? "</pre>\n" : "<pre>", f);
            in_code = !in_code;
        } else if (in_code) {
            put_escaped(f, l, n);
            fputc('\n', f);
        } else if (is_row) {
            if (!in_table) {
                fputs("<table>\n", f);
                in_table = 1;
                table_row = 0;
            }
            if (table_row == 1 && n > 2 && l[1] == '-') { /* the |---| separator */
            } else {
                put_row(f, l, n, table_row == 0 ? "th" : "td");
            }
            table_row++;
        } else if (n > 0 && l[0] == '#') {
            int level = 0;
            while ((size_t)level < n && l[level] == '#') level++;
            fprintf(f, "<h%d>", level);
            put_inline(f, l + level + 1, n > (size_t)level ? n - level - 1 : 0);
            fprintf(f, "</h%d>\n", level);
        } else if (n > 1 && l[0] == '!' && l[1] == '[') {
            put_image(f, l, n, dir);
        } else if (n > 0) {
            fputs(in_para ? "\n" : "<p>", f);
            in_para = 1;
            put_inline(f, l, n);
        }
        l = nl ? nl + 1 : l + n;
    }
    if (in_table) fputs("</table>\n", f);
    if (in_para) fputs("</p>\n", f);
    if (in_code) fputs("</pre>\n", f);
    fputs("</body></html>\n", f);
}
