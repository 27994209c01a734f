/* The runner end to end: identical metrics for identical configs, bit-identical resume after kill
 * -9 and after SIGTERM, and the command line's one-line errors with exit code 2. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "checkpoint.h"
#include "testutil.h"
#include "train.h"

/* Big enough that a run lasts a second or two, so it can be interrupted in the middle. */
static void run_config(Config *c, const char *out, const char *id) {
    config_defaults(c);
    c->n_layer = 2;
    c->d_model = 64;
    c->n_head = 2;
    c->seq_len = 64;
    c->batch_size = 8;
    c->steps = 120;
    c->warmup = 10;
    c->eval_every = 20;
    c->eval_tokens = 1024;
    c->log_every = 1;
    c->ckpt_every = 5;
    snprintf(c->out, sizeof c->out, "%s", out);
    snprintf(c->run_id, sizeof c->run_id, "%s", id);
}

/* metrics.csv without the wall-clock columns (wall_s, tok_per_s) */
static char *trajectory(const char *out, const char *id) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s/metrics.csv", out, id);
    char *text = tu_read(path);
    ck_assert_msg(text != NULL, "no %s", path);
    char *res = tu_mem(strlen(text) + 1), *w = res;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        int col = 0;
        for (char *p = line; *p; p++) {
            if (*p == ',') col++;
            if (col != 3 && col != 8 && !(*p == ',' && (col == 4 || col == 9))) *w++ = *p;
        }
        *w++ = '\n';
    }
    return res;
}

/* The test seam of the training loop: a NaN in a gradient at one step. */
static long nan_at_step;
static void inject_nan(Model *m, long step) {
    if (step == nan_at_step) m->grads[m->tensors[m->n_tensors > 6 ? 6 : 0].offset] = NAN;
}

/* Lines of a file (0 when absent). Polled thousands of times while a child trains, so it reads
 * the file directly rather than through the test arena. */
static int count_lines(const char *path) {
    FILE *f = fopen(path, "r");
    int n = 0, ch;
    while (f && (ch = fgetc(f)) != EOF) n += ch == '\n';
    if (f) fclose(f);
    return n;
}

START_TEST(test_same_config_same_metrics) {
    char *out = tu_tempdir();
    Config c;
    TrainResult r;
    run_config(&c, out, "a");
    c.steps = 30;
    ck_assert_msg(train_run(&c, 0, 1, &r) == 0, "%s", rb_error());
    ck_assert(r.final_val_loss > 0 && r.final_val_loss < 5.6);
    snprintf(c.run_id, sizeof c.run_id, "b");
    ck_assert(train_run(&c, 0, 1, &r) == 0);
    char *a = trajectory(out, "a"), *b = trajectory(out, "b");
    ck_assert_str_eq(a, b);
    ck_assert_int_eq(count_lines(strcat(strcpy(tu_mem(600), out), "/a/metrics.csv")), 31);
    /* a second run into the same directory refuses to overwrite the checkpoint */
    ck_assert_int_eq(train_run(&c, 0, 1, &r), 2);
    ck_assert(strstr(rb_error(), "already holds a finished run"));
}
END_TEST

/* Start `resbench train` on c in a child process (exec: OpenMP does not survive a bare fork) and
 * stop it with sig once it has logged min_step steps. */
static int interrupt_run(Config *c, int sig, int min_step) {
    char ini[1400];
    snprintf(ini, sizeof ini, "%s/%s.ini", c->out, c->run_id);
    char *text = tu_keep(config_to_ini(c));
    ck_assert(tu_write(ini, text, strlen(text)) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        freopen("/dev/null", "w", stdout);
        execl(RB_BINARY, RB_BINARY, "train", "--config", ini, (char *)NULL);
        _exit(127);
    }
    char metrics[1400];
    snprintf(metrics, sizeof metrics, "%s/%s/metrics.csv", c->out, c->run_id);
    for (int i = 0; i < 20000 && count_lines(metrics) < min_step + 1; i++) usleep(500);
    kill(pid, sig);
    int status;
    waitpid(pid, &status, 0);
    return status;
}

static void check_resume_after(int sig, const char *variant) {
    char *out = tu_tempdir();
    Config c;
    TrainResult r;
    run_config(&c, out, "full");
    tu_set(&c, "variant", variant);
    c.profile_every = 7;
    ck_assert(train_run(&c, 0, 1, &r) == 0);
    snprintf(c.run_id, sizeof c.run_id, "cut");
    int status = interrupt_run(&c, sig, 12);
    char metrics[1024];
    snprintf(metrics, sizeof metrics, "%s/cut/metrics.csv", out);
    int rows_before = count_lines(metrics) - 1;
    ck_assert_msg(rows_before < (int)c.steps, "the run finished before it was interrupted");
    if (sig == SIGKILL) {
        ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    } else { /* graceful: exit code 3 after writing a checkpoint at the current step */
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 3, "status %d", status);
    }
    ck_assert_msg(train_run(&c, 1, 1, &r) == 0, "resume: %s", rb_error());
    ck_assert_int_eq(r.steps, c.steps);
    char *a = trajectory(out, "full"), *b = trajectory(out, "cut");
    ck_assert_str_eq(a, b);
    char pa[1400], pb[1400];
    snprintf(pa, sizeof pa, "%s/full/depth_attn.csv", out);
    snprintf(pb, sizeof pb, "%s/cut/depth_attn.csv", out);
    char *da = tu_read(pa), *db = tu_read(pb);
    char pp[1400], pq[1400];
    snprintf(pp, sizeof pp, "%s/full/profile.csv", out);
    snprintf(pq, sizeof pq, "%s/cut/profile.csv", out);
    char *fa = tu_read(pp), *fb = tu_read(pq);
    ck_assert(fa && fb && strlen(fa) > 100);
    ck_assert_str_eq(fa, fb);
    if (strcmp(variant, "prenorm") == 0)
        ck_assert(da == NULL && db == NULL);
    else
        ck_assert(da && db && strlen(da) > 100 && strcmp(da, db) == 0);
    snprintf(pa, sizeof pa, "%s/full/routing.csv", out);
    snprintf(pb, sizeof pb, "%s/cut/routing.csv", out);
    char *ra = tu_read(pa), *rb = tu_read(pb);
    if (strcmp(variant, "prenorm") == 0)
        ck_assert(ra == NULL && rb == NULL);
    else
        ck_assert(ra && rb && strlen(ra) > 100 && strcmp(ra, rb) == 0);
    printf("%s, signal %d after %d logged steps: resumed run matches the uninterrupted one\n",
           variant, sig, rows_before);
}

START_TEST(test_resume_after_kill9) {
    check_resume_after(SIGKILL, "prenorm");
}
END_TEST

START_TEST(test_resume_after_sigterm) {
    check_resume_after(SIGTERM, "attnres_block");
}
END_TEST

START_TEST(test_resume_attnres_full_after_kill9) {
    check_resume_after(SIGKILL, "attnres_full");
}
END_TEST

/* `resbench knockout` on a finished run: the intact row is the run's final validation loss (up
 * to the summation order of another thread count), then one row per source, each with its delta;
 * the run's other files are untouched. */
static void check_knockout_cli(const char *out, const char *id, double final_val, int nsrc) {
    char args[1400], buf[4096], path[1400];
    snprintf(args, sizeof args, "knockout %s/%s --threads 1", out, id);
    ck_assert_msg(tu_run_cli(args, buf, sizeof buf) == 0, "%s", buf);
    snprintf(path, sizeof path, "%s/%s/knockout.csv", out, id);
    char *text = tu_read(path);
    ck_assert_msg(text && !strncmp(text, "source,val_loss,delta\n", 22), "%s", buf);
    ck_assert_int_eq(count_lines(path), 1 + 1 + nsrc);
    char *line = strchr(text, '\n') + 1;
    int src;
    double loss, delta, intact = 0;
    for (int k = -1; k < nsrc; k++) {
        ck_assert(sscanf(line, "%d,%lf,%lf", &src, &loss, &delta) == 3);
        ck_assert_int_eq(src, k);
        if (k < 0) intact = loss;
        ck_assert_double_eq_tol(delta, loss - intact, 1e-12);
        if (k >= 0) ck_assert(delta != 0);
        line = strchr(line, '\n') + 1;
    }
    ck_assert_double_eq_tol(intact, final_val, 1e-4 * final_val);
    snprintf(args, sizeof args, "knockout %s/%s/nonexistent", out, id);
    ck_assert_int_eq(tu_run_cli(args, buf, sizeof buf), 2);
}

/* Diagnostics read a fixed validation batch and never touch the trajectory. */
START_TEST(test_profiling_keeps_trajectory) {
    char *out = tu_tempdir();
    Config c;
    TrainResult r;
    run_config(&c, out, "quiet");
    tu_set(&c, "variant", "attnres_full");
    c.steps = 20;
    ck_assert(train_run(&c, 0, 1, &r) == 0);
    run_config(&c, out, "profiled");
    tu_set(&c, "variant", "attnres_full");
    c.steps = 20;
    c.profile_every = 2;
    ck_assert(train_run(&c, 0, 1, &r) == 0);
    ck_assert_str_eq(trajectory(out, "quiet"), trajectory(out, "profiled"));
    char path[1400];
    snprintf(path, sizeof path, "%s/profiled/depth_attn.csv", out);
    /* 10 profile steps x (1+2+3+4+5 sources of the L = 4 sublayers and the readout) + header */
    ck_assert_int_eq(count_lines(path), 1 + 10 * 15);
    /* routing.csv: one row per consumer (L + 1 = 5) at the same steps */
    snprintf(path, sizeof path, "%s/profiled/routing.csv", out);
    ck_assert_int_eq(count_lines(path), 1 + 10 * 5);
    char *routing = tu_read(path);
    ck_assert(routing && !strncmp(routing, "step,layer,n_sources,entropy,uniform_entropy\n", 45));
    check_knockout_cli(out, "profiled", r.final_val_loss, 5);
    /* profile_batches = 2: the same trajectory, profile.csv gains a batch column and a second
     * block of L + 1 rows per profile step; batch 0's rows are the K = 1 file's, batch 1's are
     * another batch's (they differ); the K = 1 file keeps the header without the column */
    run_config(&c, out, "two");
    tu_set(&c, "variant", "attnres_full");
    c.steps = 20;
    c.profile_every = 2;
    tu_set(&c, "profile_batches", "2");
    ck_assert(train_run(&c, 0, 1, &r) == 0);
    ck_assert_str_eq(trajectory(out, "quiet"), trajectory(out, "two"));
    snprintf(path, sizeof path, "%s/profiled/profile.csv", out);
    char *one = tu_read(path);
    snprintf(path, sizeof path, "%s/two/profile.csv", out);
    char *two = tu_read(path);
    ck_assert(one && two);
    const char *h1 = "step,layer,kind,input_rms,output_rms,stream_rms,grad_rms,param_grad_norm\n";
    ck_assert(!strncmp(one, h1, strlen(h1)));
    ck_assert(!strncmp(two, "step,batch,layer,kind,", 22));
    ck_assert_int_eq(count_lines(path), 1 + 10 * 2 * 5);
    /* rebuild the K = 1 file from K = 2's batch-0 rows (the batch cell removed) */
    char *rebuilt = tu_mem(strlen(two) + 1), *w = rebuilt;
    int batch1 = 0, differ = 0;
    char first0[512] = "";
    memcpy(w, h1, strlen(h1));
    w += strlen(h1);
    for (char *line = strtok(strchr(two, '\n') + 1, "\n"); line; line = strtok(NULL, "\n")) {
        char *c1 = strchr(line, ','), *c2 = c1 ? strchr(c1 + 1, ',') : NULL;
        ck_assert(c1 && c2);
        if (strncmp(c1, ",0,", 3)) {
            batch1 += !strncmp(c1, ",1,", 3);
            differ += batch1 == 1 && strcmp(c2, first0) != 0; /* step's first row, batch 1 vs 0 */
            continue;
        }
        if (!first0[0]) snprintf(first0, sizeof first0, "%s", c2);
        w += sprintf(w, "%.*s%s\n", (int)(c1 - line), line, c2);
    }
    *w = 0;
    ck_assert_int_eq(batch1, 10 * 5);
    ck_assert_int_eq(differ, 1); /* another batch: other magnitudes */
    ck_assert_str_eq(rebuilt, one);
}
END_TEST

START_TEST(test_corrupt_checkpoint_refused) {
    char *out = tu_tempdir();
    Config c;
    TrainResult r;
    run_config(&c, out, "x");
    c.steps = 10;
    c.keep_ckpt = 1;
    ck_assert(train_run(&c, 0, 1, &r) == 0);
    char path[1024];
    snprintf(path, sizeof path, "%s/x/result.ini", out); /* else the run counts as finished */
    ck_assert(unlink(path) == 0);
    snprintf(path, sizeof path, "%s/x/ckpt.bin", out);
    char *buf;
    size_t n;
    ck_assert(rb_read_file(path, &buf, &n) == 0);
    tu_keep(buf);
    buf[n / 2] ^= 0x40; /* a flipped bit in the tensors */
    ck_assert(tu_write(path, buf, n) == 0);
    ck_assert_int_eq(train_run(&c, 1, 1, &r), 2);
    ck_assert_msg(strstr(rb_error(), "checksum mismatch"), "%s", rb_error());
    ck_assert(tu_write(path, buf, n / 3) == 0); /* truncated */
    ck_assert_int_eq(train_run(&c, 1, 1, &r), 2);
    ck_assert_msg(strstr(rb_error(), "expected"), "%s", rb_error());
    buf[n / 2] ^= 0x40;
    ck_assert(tu_write(path, buf, n) == 0);
    c.seed = 99; /* same shapes, different trajectory: refused */
    ck_assert_int_eq(train_run(&c, 1, 1, &r), 2);
    ck_assert_msg(strstr(rb_error(), "different config"), "%s", rb_error());
}
END_TEST

static void expect_cli_exit(const char *args, int want, const char *needle) {
    char out[8192];
    int rc = tu_run_cli(args, out, sizeof out);
    ck_assert_msg(rc == want, "`%s` exited %d: %s", args, rc, out);
    ck_assert_msg(strstr(out, needle), "`%s` said '%s', expected '%s'", args, out, needle);
    ck_assert_msg(strchr(out, '\n') == out + strlen(out) - 1, "`%s`: not one line: %s", args, out);
}

static void expect_cli_error(const char *args, const char *needle) {
    expect_cli_exit(args, 2, needle);
}

START_TEST(test_cli_errors) {
    /* buf holds train --help whole (every variant's options: over 8 KB since mudd) */
    char *out = tu_tempdir(), args[1024], buf[32768];
    expect_cli_error("train n_layer=abc", "key 'n_layer': 'abc' is not an integer");
    expect_cli_error("train depth=3", "unknown key 'depth'");
    expect_cli_error("train d_model=100 n_head=3", "not divisible");
    expect_cli_error("train --config /nonexistent.ini", "/nonexistent.ini");
    expect_cli_error("train data=text:/nonexistent.txt", "/nonexistent.txt");
    expect_cli_error("train seq_len=4096 data=text:" RB_SOURCE_DIR "/tests/test_train.c",
                     "fewer than seq_len+1");
    /* the run directory cannot be created: an I/O failure, exit 1 (like disk full) */
    expect_cli_exit("train out=/proc/resbench-forbidden steps=1", 1, "/proc/resbench-forbidden");
    expect_cli_error("train --resume /nonexistent-run", "/nonexistent-run/config.ini");
    expect_cli_error("frobnicate", "unknown command 'frobnicate'");
    ck_assert_int_eq(tu_run_cli("--help", buf, sizeof buf), 0);
    ck_assert(strstr(buf, "train"));
    ck_assert_int_eq(tu_run_cli("train --help", buf, sizeof buf), 0);
    ck_assert(strstr(buf, "n_layer") && strstr(buf, "prenorm"));
    ck_assert_int_eq(tu_run_cli("data --help", buf, sizeof buf), 0);
    /* a tiny real run through the CLI, then its resolved config resumes cleanly at the end */
    snprintf(args, sizeof args,
             "train n_layer=1 d_model=16 n_head=2 seq_len=16 batch_size=2 steps=4 eval_tokens=32 "
             "out=%s run_id=cli",
             out);
    ck_assert_int_eq(tu_run_cli(args, buf, sizeof buf), 0);
    ck_assert_msg(strstr(buf, "final val loss"), "%s", buf);
    snprintf(args, sizeof args, "train --resume %s/cli", out);
    ck_assert_int_eq(tu_run_cli(args, buf, sizeof buf), 0);
    snprintf(args, sizeof args, "%s/cli/result.ini", out);
    struct stat st;
    ck_assert(stat(args, &st) == 0 && st.st_size > 0);
}
END_TEST

/* Budgets: tokens round up to whole steps, FLOPs round down (never exceed the budget). */
START_TEST(test_budgets) {
    Config c;
    config_defaults(&c);
    c.steps = 0;
    double bt = (double)c.batch_size * c.seq_len;
    c.budget_tokens = bt * 10 + 1;
    ck_assert_int_eq(train_total_steps(&c), 11);
    c.budget_tokens = 0;
    c.budget_flops = flops_per_step(&c) * 7.9;
    ck_assert_int_eq(train_total_steps(&c), 7);
    ck_assert(config_validate(&c) == 0);
    char *out = tu_tempdir();
    TrainResult r;
    run_config(&c, out, "flops");
    c.steps = 0;
    c.budget_flops = flops_per_step(&c) * 3.5;
    ck_assert_msg(train_run(&c, 0, 1, &r) == 0, "%s", rb_error());
    ck_assert_int_eq(r.steps, 3);
    ck_assert(r.flops <= c.budget_flops);
    /* speed from training steps only: every step timed, evaluation apart, and result.ini says
     * the same as the returned result (round-trip doubles) */
    TrainResult back;
    ck_assert(train_read_result(r.run_dir, &back) == 0);
    ck_assert_int_eq(back.timed_steps, 3);
    ck_assert(back.train_s > 0 && back.eval_s > 0 && back.train_s < back.wall_s);
    ck_assert_double_eq(back.tok_per_s, 3 * (double)c.batch_size * c.seq_len / back.train_s);
    ck_assert(back.cpu_util > 0 && back.cpu_util < 2);
    ck_assert_double_eq(back.cpu_util, r.cpu_util);
    c.budget_flops = flops_per_step(&c) * 0.5;
    ck_assert_int_eq(train_run(&c, 0, 1, &r), 2);
    ck_assert(strstr(rb_error(), "0 steps"));
}
END_TEST

/* A non-finite loss stops the run with the step number and leaves the last checkpoint alone. */
START_TEST(test_nan_loss_stops) {
    char *out = tu_tempdir();
    Config c;
    TrainResult r;
    run_config(&c, out, "nan");
    c.steps = 6;
    ck_assert(train_run(&c, 0, 1, &r) == 0);
    /* plant a NaN gain in a checkpoint at step 2 of a longer run, then resume it */
    c.steps = 12;
    snprintf(c.run_id, sizeof c.run_id, "nan2");
    char dir[1400], path[1500];
    snprintf(dir, sizeof dir, "%s/nan2", out);
    ck_assert(rb_mkdir_p(dir) == 0);
    Model m;
    ck_assert(model_build(&m, &c) == 0);
    m.p.final_g[0] = NAN;
    CkptState st = {2, 0.0, 9.9};
    snprintf(path, sizeof path, "%s/ckpt.bin", dir);
    ck_assert(checkpoint_save(path, &m, &st) == 0);
    char *before = tu_read(path);
    ck_assert_int_eq(train_run(&c, 1, 1, &r), 2);
    ck_assert_msg(strstr(rb_error(), "loss is nan at step 3"), "%s", rb_error());
    char *after = tu_read(path);
    ck_assert(memcmp(before, after, 64) == 0);
    model_free(&m);
}
END_TEST

/* ckpt_minutes checkpoints by the clock even with no evaluation until the end, and a finished run
 * keeps model.bin (parameters only, loadable) and drops ckpt.bin unless keep_ckpt = 1. */
START_TEST(test_time_checkpoints_and_model_file) {
    char *out = tu_tempdir();
    Config c;
    TrainResult r;
    run_config(&c, out, "clock");
    c.steps = 8;
    c.eval_every = 0;
    c.ckpt_minutes = 1e-9; /* due after every step */
    nan_at_step = 6;
    train_set_test_hook(inject_nan);
    ck_assert_int_eq(train_run(&c, 0, 1, &r), 2); /* stopped before the update of step 6 */
    train_set_test_hook(NULL);
    char path[1500];
    snprintf(path, sizeof path, "%s/clock/ckpt.bin", out);
    Model m;
    ck_assert(model_build(&m, &c) == 0);
    CkptState st;
    ck_assert_msg(checkpoint_load(path, &m, &st) == 0, "%s", rb_error());
    ck_assert_int_eq(st.step, 5); /* the clock checkpointed step 5 although no evaluation ran */
    ck_assert_msg(train_run(&c, 1, 1, &r) == 0, "%s", rb_error());
    ck_assert(access(path, F_OK) != 0); /* finished: optimizer state dropped */
    snprintf(path, sizeof path, "%s/clock/model.bin", out);
    ck_assert_msg(checkpoint_load_params(path, &m, &st) == 0, "%s", rb_error());
    ck_assert_int_eq(st.step, 8);
    ck_assert(checkpoint_load(path, &m, &st) != 0); /* no optimizer state: cannot resume */
    ck_assert(strstr(rb_error(), "parameters-only"));
    /* keep_ckpt = 1 keeps a full checkpoint at the last step besides model.bin */
    snprintf(c.run_id, sizeof c.run_id, "keep");
    c.keep_ckpt = 1;
    ck_assert(train_run(&c, 0, 1, &r) == 0);
    snprintf(path, sizeof path, "%s/keep/ckpt.bin", out);
    ck_assert(checkpoint_load(path, &m, &st) == 0 && st.step == 8);
    model_free(&m);
}
END_TEST

static Suite *train_suite(void) {
    Suite *s = suite_create("train");
    TCase *tc = tcase_create("train");
    tcase_add_checked_fixture(tc, NULL, tu_free_all);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_same_config_same_metrics);
    tcase_add_test(tc, test_resume_after_kill9);
    tcase_add_test(tc, test_resume_after_sigterm);
    tcase_add_test(tc, test_resume_attnres_full_after_kill9);
    tcase_add_test(tc, test_profiling_keeps_trajectory);
    tcase_add_test(tc, test_corrupt_checkpoint_refused);
    tcase_add_test(tc, test_cli_errors);
    tcase_add_test(tc, test_budgets);
    tcase_add_test(tc, test_nan_loss_stops);
    tcase_add_test(tc, test_time_checkpoints_and_model_file);
    suite_add_tcase(s, tc);
    return s;
}

RB_TEST_MAIN(train_suite)
