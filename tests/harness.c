/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "harness.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static TestCase *cases;
static TestCase **cases_tail = &cases;
static int failures_in_case;
static _Atomic(const char *) running_case;
static atomic_int case_generation;

void test_register(TestCase *tc)
{
    *cases_tail = tc;
    cases_tail = &tc->next;
}

void test_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "  %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    failures_in_case++;
}

double test_timeout_scale(void)
{
    const char *s = getenv("IOTHREAD_TEST_TIMEOUT_SCALE");
    double v = s ? strtod(s, NULL) : 1.0;

    return v > 0 ? v : 1.0;
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

/* Turns a hang into a failure: abort with the name of the stuck case. */
static void *watchdog(void *arg)
{
    double limit = *(double *)arg;

    for (;;) {
        int gen = atomic_load(&case_generation);
        struct timespec ts = {.tv_sec = 1};
        double waited = 0;

        while (atomic_load(&case_generation) == gen) {
            nanosleep(&ts, NULL);
            waited += 1;
            if (waited > limit) {
                fprintf(stderr, "not ok - %s: hung for more than %.0f s\n",
                        atomic_load(&running_case), limit);
                fflush(NULL);
                abort();
            }
        }
    }
    return NULL;
}

static bool run_one(const char *name, TestCase *tc, AioFdmon fdmon)
{
    atomic_store(&running_case, name);
    atomic_fetch_add(&case_generation, 1);
    failures_in_case = 0;
    if (tc->fn) {
        tc->fn();
    } else {
        tc->fdmon_fn(fdmon);
    }
    printf("%s - %s\n", failures_in_case ? "not ok" : "ok", name);
    fflush(stdout);
    return failures_in_case == 0;
}

int main(int argc, char **argv)
{
    static const AioFdmon all[] = {AIO_FDMON_POLL, AIO_FDMON_EPOLL,
                                   AIO_FDMON_IO_URING};
    const char *filter = argc > 1 ? argv[1] : NULL;
    double limit = 300 * test_timeout_scale();
    int passed = 0, failed = 0;
    pthread_t wd;

    pthread_create(&wd, NULL, watchdog, &limit);
    pthread_detach(wd);

    for (TestCase *tc = cases; tc; tc = tc->next) {
        if (filter && !strstr(tc->name, filter)) {
            continue;
        }
        if (tc->fn) {
            run_one(tc->name, tc, AIO_FDMON_AUTO) ? passed++ : failed++;
            continue;
        }
        for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
            char name[256];

            snprintf(name, sizeof(name), "%s[%s]", tc->name,
                     aio_fdmon_name(all[i]));
            if (!test_fdmon_available(all[i])) {
                printf("ok - %s # SKIP back-end not available here\n", name);
                continue;
            }
            run_one(name, tc, all[i]) ? passed++ : failed++;
        }
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
