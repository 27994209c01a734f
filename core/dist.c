#include "dist.h"

#include <stdlib.h>

#include "util.h"

static double comm_s = 0;

double dist_comm_seconds(void) {
    return comm_s;
}

#ifdef RESBENCH_MPI
#include <mpi.h>

static int active = 0, rank = 0, size = 1;

static void finalize(void) {
    int done = 0;
    MPI_Finalized(&done);
    if (!done) MPI_Finalize();
}

/* Launched by an MPI launcher: Open MPI's mpirun, a PMI/PMIx launcher such as srun. */
static int under_launcher(void) {
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK") ||
           getenv("PMI_SIZE");
}

void dist_init(int *argc, char ***argv) {
    if (!under_launcher()) return;
    MPI_Init(argc, argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    active = 1;
    atexit(finalize);
}

int dist_rank(void) {
    return rank;
}
int dist_size(void) {
    return size;
}

int dist_local_size(void) {
    if (!active) return 1;
    MPI_Comm local;
    int n = 1;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &local);
    MPI_Comm_size(local, &n);
    MPI_Comm_free(&local);
    return n;
}

void dist_mean_floats(float *x, size_t n) {
    if (size == 1) return;
    double t0 = rb_now();
    for (size_t off = 0; off < n;) { /* counts are int: chunks of at most 2^30 floats */
        int k = n - off > (1u << 30) ? 1 << 30 : (int)(n - off);
        MPI_Allreduce(MPI_IN_PLACE, x + off, k, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        off += (size_t)k;
    }
    float inv = 1.0f / (float)size;
    for (size_t i = 0; i < n; i++) x[i] *= inv;
    comm_s += rb_now() - t0;
}

double dist_mean(double x) {
    if (size == 1) return x;
    MPI_Allreduce(MPI_IN_PLACE, &x, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    return x / size;
}

void dist_sum_doubles(double *x, int n) {
    if (size > 1) MPI_Allreduce(MPI_IN_PLACE, x, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
}

int dist_max_int(int x) {
    if (size == 1) return x;
    MPI_Allreduce(MPI_IN_PLACE, &x, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    return x;
}

int dist_same_u64(uint64_t x) {
    if (size == 1) return 1;
    uint64_t lo = x, hi = x;
    MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
    return lo == hi;
}

#else /* one process */

void dist_init(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
}
int dist_rank(void) {
    return 0;
}
int dist_size(void) {
    return 1;
}
int dist_local_size(void) {
    return 1;
}
void dist_mean_floats(float *x, size_t n) {
    (void)x;
    (void)n;
}
double dist_mean(double x) {
    return x;
}
void dist_sum_doubles(double *x, int n) {
    (void)x;
    (void)n;
}
int dist_max_int(int x) {
    return x;
}
int dist_same_u64(uint64_t x) {
    (void)x;
    return 1;
}

#endif
