#include "util.h"

#include <math.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static _Thread_local char rb_errbuf[1024];

int rb_fail(const char *fmt, ...) {
    char msg[sizeof rb_errbuf]; /* the arguments may include rb_error() itself */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    memcpy(rb_errbuf, msg, sizeof msg);
    return -1;
}

const char *rb_error(void) {
    return rb_errbuf[0] ? rb_errbuf : "unknown error";
}

void rb_die(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("resbench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(code);
}

void rb_out_of_memory(const char *what) {
    rb_die(RB_EXIT_FAIL, "out of memory (%s)", what);
}

void *rb_realloc(void *p, size_t size, const char *what) {
    void *grown = realloc(p, size ? size : 1);
    if (!grown) rb_out_of_memory(what);
    return grown;
}

void *rb_calloc(size_t count, size_t size, const char *what) {
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p)
        rb_die(RB_EXIT_FAIL, "out of memory allocating %s (%zu x %zu bytes)", what, count, size);
    return p;
}

uint64_t rb_hash_bytes(uint64_t h, const void *data, size_t n) {
    const unsigned char *p = data;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) { /* word at a time: checksums of 100 MB checkpoints stay cheap */
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 0x100000001b3ULL;
        h ^= h >> 29;
    }
    for (; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

uint64_t rb_hash_str(uint64_t h, const char *s) {
    return rb_hash_bytes(h, s, strlen(s));
}

uint64_t rb_mix64(uint64_t x) { /* splitmix64 finalizer */
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

double rb_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double rb_cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int rb_fsync_dir(const char *path) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = 0;
    else
        snprintf(dir, sizeof dir, ".");
    int fd = open(dir, O_RDONLY);
    if (fd < 0) return 0;
    fsync(fd);
    close(fd);
    return 0;
}

int rb_write_file_atomic(const char *path, const void *data, size_t n) {
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) return rb_fail("cannot write %s: %s", tmp, strerror(errno));
    size_t w = fwrite(data, 1, n, f);
    int bad = (w != n) || fflush(f) != 0 || fsync(fileno(f)) != 0;
    int err = errno;
    if (fclose(f) != 0 && !bad) {
        bad = 1;
        err = errno;
    }
    if (bad) {
        unlink(tmp);
        return rb_fail("cannot write %s: %s", path, strerror(err));
    }
    if (rename(tmp, path) != 0) {
        err = errno;
        unlink(tmp);
        return rb_fail("cannot rename %s to %s: %s", tmp, path, strerror(err));
    }
    return rb_fsync_dir(path);
}

int rb_check_regular(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) return rb_fail("cannot open %s: %s", path, strerror(errno));
    if (S_ISREG(st.st_mode)) return 0;
    const char *what = S_ISDIR(st.st_mode)    ? "a directory"
                       : S_ISFIFO(st.st_mode) ? "a FIFO"
                       : S_ISCHR(st.st_mode)  ? "a character device"
                       : S_ISBLK(st.st_mode)  ? "a block device"
                       : S_ISSOCK(st.st_mode) ? "a socket"
                                              : "a special file";
    return rb_fail("cannot read %s: it is %s, not a regular file", path, what);
}

int rb_read_file(const char *path, char **data, size_t *n) {
    if (rb_check_regular(path) != 0) return -1;
    FILE *f = fopen(path, "rb");
    if (!f) return rb_fail("cannot open %s: %s", path, strerror(errno));
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return rb_fail("cannot seek %s: %s", path, strerror(errno));
    }
    long size = ftell(f);
    if (size < 0) {
        fclose(f);
        return rb_fail("cannot read %s: not a regular file", path);
    }
    rewind(f);
    char *buf = malloc((size_t)size + 1);
    if (!buf) {
        fclose(f);
        return rb_fail("cannot read %s: out of memory (%ld bytes)", path, size);
    }
    size_t got = fread(buf, 1, (size_t)size, f);
    int err = ferror(f);
    fclose(f);
    if (err || got != (size_t)size) {
        free(buf);
        return rb_fail("cannot read %s: short read", path);
    }
    buf[size] = 0;
    *data = buf;
    *n = (size_t)size;
    return 0;
}

int rb_is_file_in(const char *dir, const char *name) {
    char p[4400];
    struct stat st;
    return rb_join(p, sizeof p, dir, name) == 0 && stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

int rb_mkdir_p(const char *path) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return rb_fail("cannot create directory %s: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0777) != 0 && errno != EEXIST)
        return rb_fail("cannot create directory %s: %s", buf, strerror(errno));
    if (access(buf, W_OK) != 0)
        return rb_fail("output directory %s is not writable: %s", buf, strerror(errno));
    return 0;
}

int rb_copy_str(char *dst, size_t n, const char *src) {
    size_t len = strlen(src);
    if (len >= n) return -1;
    memcpy(dst, src, len + 1);
    return 0;
}

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int rb_list_dir(const char *dir, char ***names) {
    DIR *d = opendir(dir);
    if (!d) return rb_fail("cannot list %s: %s", dir, strerror(errno));
    int n = 0, cap = 16;
    char **list = rb_calloc(cap, sizeof(char *), "directory listing");
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        if (n == cap) {
            cap *= 2;
            list = rb_realloc(list, cap * sizeof(char *), "directory listing");
        }
        list[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(list, n, sizeof(char *), cmp_names);
    *names = list;
    return n;
}

int rb_join(char *dst, size_t n, const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la + 1 + lb >= n) return rb_fail("path too long: %s/%s", a, b);
    memcpy(dst, a, la);
    dst[la] = '/';
    memcpy(dst + la + 1, b, lb + 1);
    return 0;
}

float *rb_carve(float *base, size_t *off, size_t n) {
    float *p = base ? base + *off : NULL;
    *off += n;
    return p;
}

char *rb_fmt_double(char *out, size_t n, double v) {
    for (int prec = 6; prec <= 17; prec++) { /* from 6 digits: short for round values */
        snprintf(out, n, "%.*g", prec, v);
        if (!isfinite(v) || strtod(out, NULL) == v) break;
    }
    return out;
}

int rb_lock_dir(const char *dir, int *fd) {
    char path[4300];
    snprintf(path, sizeof path, "%s/lock", dir);
    *fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (*fd < 0) {
        rb_fail("cannot create %s: %s", path, strerror(errno));
        return RB_EXIT_FAIL;
    }
    if (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
        close(*fd);
        *fd = -1;
        rb_fail("%s is locked", path);
        return RB_EXIT_USAGE;
    }
    return 0;
}

int rb_is_plain_name(const char *name) {
    return name[0] != 0 && name[0] != '.' && strchr(name, '/') == NULL;
}
