/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Applying an IOThreadConfig to a running AioContext, driven by the
 * property table's apply column (common/iothread-props.h).
 */
#ifndef IOTHREADD_IOTHREAD_APPLY_H
#define IOTHREADD_IOTHREAD_APPLY_H

#include <sched.h>

#include <iothread/aio.h>

#include "common/iothread-config.h"

/*
 * iothread_apply_settings: apply every runtime property of *@cfg to @ctx,
 * in the table's order; creation-only ones (fdmon) are left alone.  Must
 * run inside @ctx's thread: the CPU affinity is that of the calling
 * thread, and @unpinned is the set used when cpu-affinity is unset.
 * Returns 0 or the first setter's -errno (the rows before it applied).
 */
int iothread_apply_settings(AioContext *ctx, const IOThreadConfig *cfg,
                            const cpu_set_t *unpinned);

/* iothread_config_fdmon: the library's AioFdmon for cfg->fdmon. */
AioFdmon iothread_config_fdmon(const IOThreadConfig *cfg);

/* The APPLY_GROUP functions the table names (for the table's sake). */
int iothread_apply_poll(AioContext *ctx, const IOThreadConfig *cfg,
                        const cpu_set_t *unpinned);
int iothread_apply_pool(AioContext *ctx, const IOThreadConfig *cfg,
                        const cpu_set_t *unpinned);
int iothread_apply_affinity(AioContext *ctx, const IOThreadConfig *cfg,
                            const cpu_set_t *unpinned);

#endif /* IOTHREADD_IOTHREAD_APPLY_H */
