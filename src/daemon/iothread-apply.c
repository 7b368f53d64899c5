/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The daemon's expansion of the property table's apply column: each row
 * becomes an Applier, and iothread_apply_settings() walks them in order.
 */
#include <errno.h>
#include <limits.h>

#include <iothread/thread-pool.h>

#include "daemon/iothread-apply.h"

typedef int IntSetter(AioContext *ctx, int64_t value);
typedef int GroupApplier(AioContext *ctx, const IOThreadConfig *cfg,
                         const cpu_set_t *unpinned);

typedef struct Applier {
    IntSetter *set_int;  /* APPLY_INT: one value, one setter */
    GroupApplier *group; /* APPLY_GROUP: adjacent rows, one call */
} Applier;

#define APPLY_INT(setter) {.set_int = setter}
#define APPLY_GROUP(fn) {.group = fn}
#define APPLY_AT_START {0}
#define APPLIER_ROW_(name, kind, field, min, max, def, runtime, cli, arg,    \
                     choices, desc, apply)                                   \
    apply,

static const Applier appliers[IOTHREAD_PROP_COUNT] = {
    IOTHREAD_PROPERTIES(APPLIER_ROW_)
};

int iothread_apply_poll(AioContext *ctx, const IOThreadConfig *cfg,
                        const cpu_set_t *unpinned)
{
    return aio_context_set_poll_params(ctx, cfg->poll_max_ns, cfg->poll_grow,
                                       cfg->poll_shrink);
}

static int clamp_int(int64_t v)
{
    return v > INT_MAX ? INT_MAX : (int)v;
}

int iothread_apply_pool(AioContext *ctx, const IOThreadConfig *cfg,
                        const cpu_set_t *unpinned)
{
    /* QEMU's properties are int64; no pool needs more than INT_MAX. */
    return aio_thread_pool_set_limits(ctx, clamp_int(cfg->thread_pool_min),
                                      clamp_int(cfg->thread_pool_max));
}

int iothread_apply_affinity(AioContext *ctx, const IOThreadConfig *cfg,
                            const cpu_set_t *unpinned)
{
    /* Inside the thread, so "0" means this thread, and the change is
     * visible in /proc before the reply goes out. */
    if (sched_setaffinity(0, sizeof(cpu_set_t),
                          cfg->cpu_affinity ? &cfg->affinity : unpinned) < 0) {
        return -errno;
    }
    return 0;
}

int iothread_apply_settings(AioContext *ctx, const IOThreadConfig *cfg,
                            const cpu_set_t *unpinned)
{
    GroupApplier *last = NULL;
    int ret = 0;

    for (size_t i = 0; i < IOTHREAD_PROP_COUNT && ret == 0; i++) {
        const Applier *a = &appliers[i];

        if (a->set_int) {
            ret = a->set_int(ctx, iothread_config_int(cfg,
                                                      &iothread_props[i]));
        } else if (a->group && a->group != last) {
            ret = a->group(ctx, cfg, unpinned);
        }
        last = a->group;
    }
    return ret;
}

AioFdmon iothread_config_fdmon(const IOThreadConfig *cfg)
{
    /* iothread_fdmon_names[] follows AioFdmon (test-iothread-config). */
    return (AioFdmon)cfg->fdmon;
}
