/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * CPU lists ("0-3,^2", "r") as users write them for an IOThread's
 * cpu-affinity property, in the config file, on the command line and over
 * QMP.  One parser and one canonical printer so that every entry point
 * accepts the same syntax and reports the same errors, and so that the
 * value read back (qom-get, query-iothreads) is always in canonical form.
 *
 * Library-style: never prints, never exits.  Thread-safe.
 */
#ifndef IOTHREADD_CPULIST_H
#define IOTHREADD_CPULIST_H

#include <sched.h>

/*
 * cpulist_parse: parse the CPU list @s into *@set.
 *
 * Grammar (like virsh's cpuset and taskset -c), no whitespace anywhere:
 *
 *   cpulist = "r" | item { "," item }
 *   item    = [ "^" ] cpu [ "-" cpu ]
 *   cpu     = decimal number, 0 .. CPU_SETSIZE-1
 *
 * "N" selects one CPU, "N-M" (N <= M) a range; a leading "^" excludes the
 * CPU or range instead.  Exclusions are applied after all inclusions,
 * whatever their position ("^1,0-3" == "0,2-3"), as virsh does.  "r", which
 * must stand alone, selects every CPU the process may run on.
 *
 * Errors: an empty list or item, a range without end, a reversed range, a
 * CPU number >= CPU_SETSIZE, any other unexpected character, a list that
 * selects no CPU (e.g. "0,^0"), and a CPU outside the set the process may
 * run on.  That set is the affinity of the process's main thread
 * (sched_getaffinity(getpid())), not of the calling thread, so that the
 * answer does not depend on which (possibly pinned) thread parses.
 *
 * Returns 0 and fills *@set, or returns -EINVAL, leaves *@set untouched and,
 * if @errp is not NULL, stores a malloc'd message in *@errp (the caller
 * frees it; NULL if even that allocation failed), e.g.
 *   "invalid cpulist '0-': range without end"
 *   "CPU 64 is not available (available: 0-1)"
 * On success *@errp is set to NULL.
 */
int cpulist_parse(const char *s, cpu_set_t *set, char **errp);

/*
 * cpulist_format: the canonical text of @set: ascending, comma-separated,
 * runs of two or more CPUs as "N-M" (e.g. "0-3,5", "0-1", "7"); "" for an
 * empty set.  cpulist_parse() accepts it back unchanged.  Returns a
 * malloc'd string, or NULL when out of memory.
 */
char *cpulist_format(const cpu_set_t *set);

#endif /* IOTHREADD_CPULIST_H */
