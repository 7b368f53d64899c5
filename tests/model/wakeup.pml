/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The AioContext wake-up protocol as src/aio implements it: notify_me,
 * notified, notify-accept and sender-side coalescing.  Promela statements
 * interleave atomically, which is the sequentially consistent order the C
 * code gets from its seq_cst atomics (aio-internal.h explains why those
 * are needed).
 *
 * Producers publish work (a BH: src/aio/bh.c) and call aio_notify(); the
 * home thread runs aio_poll(ctx, true) until it has taken all the work.
 * A lost wake-up leaves it blocked in the wait after the producers are
 * done: spin reports that as an invalid end state.  The assertion checks
 * the coalescing promise: every eventfd write belongs to a distinct 0->1
 * transition of notified, and there is one such transition at most per
 * iteration (between two accepts), so writes <= iterations + 1 (the +1 is
 * a write by a producer that set the flag just before an accept).
 *
 * -DBUG_DISPATCHING models the 2015 mistake of raising notify_me only
 * once the home thread has decided to block (asking "is anyone
 * dispatching?" rather than "is anyone in prepare/poll?"): spin must
 * find the lost wake-up.
 */

#define NPROD 2
#define ITEMS 2
#define TOTAL (NPROD * ITEMS)

bool notified = false;
byte notify_me = 0;
byte eventfd = 0;         /* the eventfd counter, as 0 / non-zero */
byte queued = 0;          /* published work not yet taken */
byte taken = 0;
byte writes = 0;
byte accepts = 0;

/* src/aio/context.c: aio_notify() */
inline aio_notify()
{
    if
    :: notified -> skip                    /* coalesced */
    :: else ->
        atomic { old = notified; notified = true };
        if
        :: old -> skip                     /* lost the race: coalesced */
        :: else ->
            if
            :: notify_me != 0 ->
                eventfd = 1;
                writes++;
                assert(writes <= accepts + 1)
            :: else -> skip
            fi
        fi
    fi
}

proctype producer()
{
    byte i = 0;
    bool old;

    do
    :: i < ITEMS ->
        queued++;                          /* aio_bh_schedule(): push */
        aio_notify();
        i++
    :: else -> break
    od
}

/* src/aio/aio-poll.c: aio_poll(ctx, true) in a loop */
proctype home()
{
    bool blocking;
    bool fd_ready;

    do
    :: taken == TOTAL -> break
    :: else ->
        /* compute_timeout(): queued work means a zero timeout */
        blocking = (queued == 0);
        fd_ready = false;
        /* Busy polling may see the flag early; the Dekker check below
         * covers the same case, so polling needs no separate step. */
        if
        :: blocking ->
#ifdef BUG_DISPATCHING
            if
            :: notified -> skip
            :: else -> notify_me = 2; (eventfd != 0)
            fi;
#else
            notify_me = 2;
            if
            :: notified -> skip
            :: else -> (eventfd != 0)      /* the wait in the fd monitor */
            fi;
#endif
            fd_ready = (eventfd != 0);
            notify_me = 0
        :: else -> skip
        fi;
        /* aio_notify_accept(): exchange */
        atomic { notified = false; accepts++ };
        /* aio_bh_poll(): take everything published so far */
        atomic { taken = taken + queued; queued = 0 };
        /* dispatch: the notifier's handler drains the eventfd */
        if
        :: fd_ready -> eventfd = 0
        :: else -> skip
        fi
    od
}

init
{
    atomic {
        run home();
        run producer();
        run producer()
    }
}
