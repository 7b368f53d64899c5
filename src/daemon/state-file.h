/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * --state-file: the iothreads as they are now, so that a restart brings
 * back what was created or retuned at runtime.  The file uses the
 * configuration file's vocabulary ({"iothreads": [...]}) and is replaced
 * atomically (temporary file, fsync, rename, fsync of the directory): a
 * crash at any moment leaves the old version or the new one, never a mix.
 */
#ifndef IOTHREADD_STATE_FILE_H
#define IOTHREADD_STATE_FILE_H

#include "daemon/block-objects.h"
#include "daemon/registry.h"

/* state_save: write every iothread's settings, and the block objects
 * created over QMP ("blockdevs", "nbd-server", "exports"), to @path.  0 or
 * -errno with *@errp (malloc'd). */
int state_save(const char *path, Registry *r, BlockObjects *b, char **errp);

/*
 * state_restore: read @path (a missing file is an empty state) and make
 * the registry match it for the iothreads it lists: create those missing
 * (as if made by object-add), retune those that exist (their back-end
 * stays as created).  Iothreads it does not list are left alone.  Then
 * the block objects it lists that do not exist yet are created, as if
 * by QMP.  0 or
 * -errno with *@errp; what was restored before an error stays.
 */
int state_restore(const char *path, Registry *r, BlockObjects *b,
                  char **errp);

#endif /* IOTHREADD_STATE_FILE_H */
