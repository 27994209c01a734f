/* Small shared helpers: error reporting, hashing, atomic file writes, timing. */
#ifndef RB_UTIL_H
#define RB_UTIL_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Exit codes (documented in README). */
enum { RB_EXIT_OK = 0, RB_EXIT_FAIL = 1, RB_EXIT_USAGE = 2, RB_EXIT_INTERRUPTED = 3 };

/* Library functions report errors by returning -1 (or an exit code) after rb_fail() stored a
 * one-line message; the command (cmd_*, main) decides to exit. The one exception is running out of
 * memory: the allocation helpers below end the process (docs/architecture.md, Errors). */
int rb_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *rb_error(void);
/* Print "resbench: <msg>" to stderr and exit with code (commands only). */
void rb_die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
/* Out of memory: "resbench: out of memory (WHAT)" and exit RB_EXIT_FAIL. */
void rb_out_of_memory(const char *what) __attribute__((noreturn));
void *rb_calloc(size_t count, size_t size, const char *what);
/* realloc, or rb_out_of_memory(what). */
void *rb_realloc(void *p, size_t size, const char *what);

uint64_t rb_hash_bytes(uint64_t h, const void *data, size_t n);
uint64_t rb_hash_str(uint64_t h, const char *s);
uint64_t rb_mix64(uint64_t x);
#define RB_HASH_SEED 0xcbf29ce484222325ULL

/* Slice n floats off a buffer at *off and advance it; with base == NULL only counts, so one layout
 * function both sizes and points a buffer. */
float *rb_carve(float *base, size_t *off, size_t n);

double rb_now(void);     /* monotonic seconds */
double rb_cpu_now(void); /* CPU seconds of the whole process (all threads) */
/* Write a whole file atomically: PATH.tmp then rename. Returns 0 or -1 (rb_error set). */
int rb_write_file_atomic(const char *path, const void *data, size_t n);
/* 0 when PATH is a regular file (after symlinks); else -1 and rb_error() = "cannot read PATH: it
 * is a directory / FIFO / device ..., not a regular file" or the stat error. Input files are
 * checked before they are opened, so a FIFO or /dev/zero never hangs or exhausts memory. */
int rb_check_regular(const char *path);
/* Read a whole file into a malloc'd buffer (NUL-terminated); -1 on error. */
int rb_read_file(const char *path, char **data, size_t *n);
/* Copy src into dst of size n; -1 (dst untouched) when it does not fit. */
int rb_copy_str(char *dst, size_t n, const char *src);
/* dst = a/b; -1 (and rb_error) when it does not fit in n bytes. */
int rb_join(char *dst, size_t n, const char *a, const char *b);
/* 1 when DIR/NAME is a regular file (following links), else 0. */
int rb_is_file_in(const char *dir, const char *name);
int rb_mkdir_p(const char *path);
/* Names in DIR (no dot entries), sorted; returns the count or -1. Free each name and the array. */
int rb_list_dir(const char *dir, char ***names);
int rb_fsync_dir(const char *dir_of_path);
/* One owner per directory: an exclusive, non-blocking flock on DIR/lock, held while *fd stays open
 * (the kernel drops it when the process ends, so there are no stale locks). Returns 0, RB_EXIT_FAIL
 * when the lock file cannot be created (rb_error set), or RB_EXIT_USAGE when another process holds
 * it (rb_error names the lock file; the caller says what is busy). */
int rb_lock_dir(const char *dir, int *fd);
/* 1 when name can be a directory inside another: not empty, no '/', not starting with '.'. */
int rb_is_plain_name(const char *name);
/* Decimal text with the fewest digits (at least 6 significant) that strtod reads back as exactly
 * v, so results files round-trip; returns out. NaN and infinities print as nan, inf, -inf. */
char *rb_fmt_double(char *out, size_t n, double v);

#endif
