/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Lists of users for --allow-uid and the "allow-uid" config key. */
#ifndef IOTHREADD_UID_LIST_H
#define IOTHREADD_UID_LIST_H

#include <stddef.h>
#include <sys/types.h>

/* uid_parse: a user name or a number.  0 or -EINVAL. */
int uid_parse(const char *s, uid_t *uid);

/*
 * uid_list_parse: append the comma-separated users in @s to *@uids (a
 * malloc'd array of *@n).  On error nothing is appended; returns 0,
 * -EINVAL or -ENOMEM.
 */
int uid_list_parse(const char *s, uid_t **uids, size_t *n);

#endif /* IOTHREADD_UID_LIST_H */
