/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* Per-case watchdog unless IOTHREAD_TEST_CASE_TIMEOUT says otherwise. */
#define TEST_TIMEOUT_SEC 300
/* A WAIT_FOR whose progress stands still this long gives up. */
#define TEST_STALL_SEC 10

static TestCase *cases;
static TestCase **cases_tail = &cases;

/* The running case's state: set by main() between cases, written by any
 * thread of the case (test_fail from a helper thread), read by main()
 * and, on a hang, by the watchdog. */
static atomic_int failures_in_case;
static pthread_mutex_t report_lock = PTHREAD_MUTEX_INITIALIZER;
static char skip_reason[256]; /* under report_lock */
static _Atomic(const char *) running_case;
static atomic_int case_generation;
/* Totals: main() only, read by the watchdog once main() is stuck. */
static atomic_int n_passed, n_failed, n_skipped;

void test_register(TestCase *tc)
{
    *cases_tail = tc;
    cases_tail = &tc->next;
}

void test_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;

    pthread_mutex_lock(&report_lock);
    fprintf(stderr, "  %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    pthread_mutex_unlock(&report_lock);
    atomic_fetch_add(&failures_in_case, 1);
}

void test_skip(const char *fmt, ...)
{
    va_list ap;

    pthread_mutex_lock(&report_lock);
    va_start(ap, fmt);
    vsnprintf(skip_reason, sizeof(skip_reason), fmt, ap);
    va_end(ap);
    if (!skip_reason[0]) {
        snprintf(skip_reason, sizeof(skip_reason), "no reason given");
    }
    pthread_mutex_unlock(&report_lock);
}

double test_timeout_scale(void)
{
    const char *s = getenv("IOTHREAD_TEST_TIMEOUT_SCALE");
    double v = s ? strtod(s, NULL) : 1.0;

    return v > 0 ? v : 1.0;
}

bool test_quick(void)
{
    const char *q = getenv("IOTHREAD_TEST_QUICK");

    return q && *q && *q != '0';
}

double test_stall_sec(void)
{
    return TEST_STALL_SEC * test_timeout_scale();
}

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

bool test_stalled(TestStall *s, long long progress)
{
    int64_t now = now_ns();

    if (s->since_ns == 0 || progress != s->progress) {
        s->progress = progress;
        s->since_ns = now;
        return false;
    }
    return now - s->since_ns > (int64_t)(test_stall_sec() * 1e9);
}

bool test_fdmon_available(AioFdmon fdmon)
{
    AioContext *ctx;

    if (aio_context_new(&ctx, fdmon) < 0) {
        return false;
    }
    aio_context_free(ctx);
    return true;
}

/* Entries of /proc/self/<dir>; with @skip_uring, not io_uring's workers. */
static int count_proc_entries(const char *dir, bool skip_uring)
{
    char path[300], comm[32];
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    if (!d) {
        return -1;
    }
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') {
            continue;
        }
        if (skip_uring) {
            FILE *f;
            bool uring;

            snprintf(path, sizeof(path), "%s/%s/comm", dir, e->d_name);
            f = fopen(path, "r");
            uring = f && fgets(comm, sizeof(comm), f) &&
                    strncmp(comm, "iou-", 4) == 0;
            if (f) {
                fclose(f);
            }
            if (uring) {
                continue;
            }
        }
        n++;
    }
    closedir(d);
    return n;
}

int test_count_fds(void)
{
    /* opendir's own fd is listed while we read: don't count it. */
    return count_proc_entries("/proc/self/fd", false) - 1;
}

int test_count_threads(void)
{
    return count_proc_entries("/proc/self/task", true);
}

static double case_timeout_sec(void)
{
    const char *s = getenv("IOTHREAD_TEST_CASE_TIMEOUT");
    double v = s ? strtod(s, NULL) : 0;

    return v > 0 ? v : TEST_TIMEOUT_SEC * test_timeout_scale();
}

/* Turns a hang into a failure: report the stuck case, the totals so far
 * (the stuck one failed), and exit.  _exit: the stuck threads still hold
 * what they hold, and exit handlers (the leak checker) would only report
 * the hang's state. */
static void *watchdog(void *arg)
{
    double limit = *(double *)arg;

    for (;;) {
        int gen = atomic_load(&case_generation);
        int64_t start = now_ns();

        while (atomic_load(&case_generation) == gen) {
            struct timespec ts = {.tv_nsec = 100 * 1000 * 1000};

            nanosleep(&ts, NULL);
            if (now_ns() - start > (int64_t)(limit * 1e9)) {
                printf("not ok - %s: hung for more than %.0f s\n",
                       atomic_load(&running_case), limit);
                printf("%d passed, %d failed, %d skipped\n",
                       atomic_load(&n_passed), atomic_load(&n_failed) + 1,
                       atomic_load(&n_skipped));
                fflush(NULL);
                _exit(1);
            }
        }
    }
    return NULL;
}

/*
 * A crash names its case too: print it, then let the previous action (the
 * default, or a sanitizer's report) have the signal.  A fault returns and
 * faults again under that action; an abort is raised again.
 */
static const int crash_signals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
static struct sigaction crash_old[sizeof(crash_signals) /
                                  sizeof(crash_signals[0])];
/* Only the test process reports: a case's forked child that crashes on
 * purpose (an abort the case expects) inherits the handler, and its
 * verdict is the case's to give, not a "not ok" line of its own. */
static pid_t crash_reporter;

static void write_str(const char *s)
{
    ssize_t r = write(STDOUT_FILENO, s, strlen(s));

    (void)r;
}

static void on_crash(int sig)
{
    const char *name = atomic_load(&running_case);
    char num[4] = {(char)('0' + sig / 10 % 10), (char)('0' + sig % 10)};

    if (getpid() == crash_reporter) {
        write_str("not ok - ");
        write_str(name ? name : "(between cases)");
        write_str(": killed by signal ");
        write_str(sig >= 10 ? num : num + 1);
        write_str("\n");
    }
    for (size_t i = 0; i < sizeof(crash_signals) / sizeof(crash_signals[0]);
         i++) {
        if (crash_signals[i] == sig) {
            sigaction(sig, &crash_old[i], NULL);
        }
    }
    if (sig == SIGABRT) {
        raise(sig);
    }
}

static void catch_crashes(void)
{
    struct sigaction sa = {.sa_handler = on_crash};

    crash_reporter = getpid();
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof(crash_signals) / sizeof(crash_signals[0]);
         i++) {
        sigaction(crash_signals[i], &sa, &crash_old[i]);
    }
}

/* IOTHREAD_TEST_VERBOSE: a line before each case, so that a crash the
 * signal handler cannot report (a fault in a thread that blocks every
 * signal, as IOThreads do) still shows which case was running. */
static bool verbose(void)
{
    const char *v = getenv("IOTHREAD_TEST_VERBOSE");

    return v && *v && *v != '0';
}

static void run_one(const char *name, TestCase *tc, AioFdmon fdmon)
{
    if (verbose()) {
        printf("# start %s\n", name);
        fflush(stdout);
    }
    atomic_store(&failures_in_case, 0);
    skip_reason[0] = '\0';
    atomic_store(&running_case, name);
    atomic_fetch_add(&case_generation, 1);
    if (tc->fn) {
        tc->fn();
    } else {
        tc->fdmon_fn(fdmon);
    }
    pthread_mutex_lock(&report_lock);
    if (atomic_load(&failures_in_case)) {
        printf("not ok - %s: %d check(s) failed\n", name,
               atomic_load(&failures_in_case));
        atomic_fetch_add(&n_failed, 1);
    } else if (skip_reason[0]) {
        printf("ok - %s # SKIP %s\n", name, skip_reason);
        atomic_fetch_add(&n_skipped, 1);
    } else {
        printf("ok - %s\n", name);
        atomic_fetch_add(&n_passed, 1);
    }
    pthread_mutex_unlock(&report_lock);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    static const AioFdmon all[] = {AIO_FDMON_POLL, AIO_FDMON_EPOLL,
                                   AIO_FDMON_IO_URING};
    const char *filter = argc > 1 ? argv[1] : NULL;
    double limit = case_timeout_sec();
    pthread_t wd;

    if (pthread_create(&wd, NULL, watchdog, &limit) != 0) {
        fprintf(stderr, "cannot start the watchdog\n");
        return 1;
    }
    pthread_detach(wd);
    catch_crashes();

    for (TestCase *tc = cases; tc; tc = tc->next) {
        if (filter && !strstr(tc->name, filter)) {
            continue;
        }
        if (tc->fn) {
            run_one(tc->name, tc, AIO_FDMON_AUTO);
            continue;
        }
        for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
            char name[256];

            snprintf(name, sizeof(name), "%s[%s]", tc->name,
                     aio_fdmon_name(all[i]));
            if (!test_fdmon_available(all[i])) {
                printf("ok - %s # SKIP back-end not available here\n", name);
                atomic_fetch_add(&n_skipped, 1);
                continue;
            }
            run_one(name, tc, all[i]);
        }
    }
    printf("%d passed, %d failed, %d skipped\n", atomic_load(&n_passed),
           atomic_load(&n_failed), atomic_load(&n_skipped));
    return atomic_load(&n_failed) ? 1 : 0;
}
