/* The machine's memory bandwidth as `bench` measures it (docs/performance.md): a STREAM-like triad
 * a = b + s c over three float arrays, at a ladder of footprints from cache-sized to far beyond the
 * last-level cache, with the thread count of the run. */
#ifndef RB_MEMBW_H
#define RB_MEMBW_H
#include <stddef.h>

#define MEMBW_MAX_SIZES 24

typedef struct {
    int n;                                /* measured footprints */
    double footprint_mb[MEMBW_MAX_SIZES]; /* bytes of the three arrays, MB */
    double gbs[MEMBW_MAX_SIZES];          /* best triad rate, GB/s (12 bytes per element) */
} Bandwidth;

/* Measures the triad at footprints min_mb, 2 min_mb, ... up to max_mb. 0, or -1 (rb_error) when
 * the arrays cannot be allocated. */
int membw_measure(Bandwidth *bw, double min_mb, double max_mb);
/* The bandwidth at a footprint (MB): interpolated in log(footprint) between the measured sizes,
 * the nearest end outside them. */
double membw_at(const Bandwidth *bw, double footprint_mb);

#endif
