/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/uid-list.h"

int uid_parse(const char *s, uid_t *uid)
{
    struct passwd *pw;
    char *end;
    unsigned long v;

    if (!s || !*s) {
        return -EINVAL;
    }
    if (strspn(s, "0123456789") == strlen(s)) {
        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno || v >= (uid_t)-1) {
            return -EINVAL;
        }
        *uid = (uid_t)v;
        return 0;
    }
    pw = getpwnam(s);
    if (!pw) {
        return -EINVAL;
    }
    *uid = pw->pw_uid;
    return 0;
}

int uid_list_parse(const char *s, uid_t **uids, size_t *n)
{
    char *copy = strdup(s), *save = NULL, *tok;
    size_t count = *n;
    uid_t *list;
    int ret = 0;

    if (!copy) {
        return -ENOMEM;
    }
    /* Room for every comma-separated item. */
    size_t items = 1;

    for (const char *p = s; *p; p++) {
        items += *p == ',';
    }
    list = realloc(*uids, (count + items) * sizeof(*list));
    if (!list) {
        free(copy);
        return -ENOMEM;
    }
    *uids = list;
    if (!*s || s[strlen(s) - 1] == ',' || *s == ',' || strstr(s, ",,")) {
        ret = -EINVAL;
    }
    for (tok = strtok_r(copy, ",", &save); tok && ret == 0;
         tok = strtok_r(NULL, ",", &save)) {
        ret = uid_parse(tok, &list[count++]);
    }
    free(copy);
    if (ret == 0) {
        *n = count;
    }
    return ret;
}
