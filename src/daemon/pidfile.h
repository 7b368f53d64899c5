/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The pidfile: written once the daemon serves, locked for as long as it
 * runs (a second daemon on the same file fails rather than overwrites),
 * removed on exit.
 */
#ifndef IOTHREADD_PIDFILE_H
#define IOTHREADD_PIDFILE_H

typedef struct Pidfile {
    char *path;
    int fd;
} Pidfile;

/* pidfile_write: create, lock and fill @path.  0 or -errno, with *@errp
 * (malloc'd) explaining (-EWOULDBLOCK: another daemon holds it). */
int pidfile_write(Pidfile *p, const char *path, char **errp);

/* pidfile_remove: unlink and unlock; safe on a Pidfile never written. */
void pidfile_remove(Pidfile *p);

#endif /* IOTHREADD_PIDFILE_H */
