/* Data-parallel execution over MPI (built when RESBENCH_MPI is on). Without MPI, or when the
 * process was not started by mpirun/srun, everything here is the single-process identity: rank 0
 * of 1. Ranks split the global batch; gradients, losses and stop flags are reduced so every rank
 * runs the same optimizer step. */
#ifndef RB_DIST_H
#define RB_DIST_H
#include <stddef.h>
#include <stdint.h>

/* Initializes MPI if the process was launched by an MPI launcher; registers finalization. */
void dist_init(int *argc, char ***argv);
int dist_rank(void);
int dist_size(void);
/* Ranks sharing this machine (for the default thread count). */
int dist_local_size(void);
/* In place: x = mean over ranks of x (n floats). */
void dist_mean_floats(float *x, size_t n);
/* Mean over ranks of one double. */
double dist_mean(double x);
/* In place: x = sum over ranks of x (n doubles). */
void dist_sum_doubles(double *x, int n);
/* Maximum over ranks of an int (error codes, stop flags). */
int dist_max_int(int x);
/* 1 if every rank passed the same value. */
int dist_same_u64(uint64_t x);
/* Seconds spent in dist_mean_floats so far (the gradient allreduce). */
double dist_comm_seconds(void);

#endif
