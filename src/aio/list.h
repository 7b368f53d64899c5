/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Intrusive doubly-linked lists and simple queues, in the style of BSD's
 * <sys/queue.h>, plus what it lacks: "is this element on a list?" and a
 * removal that is safe when it is not, which the event loop needs because
 * a node may sit on an outer aio_poll()'s ready list when an inner one
 * finds it ready again.
 */
#ifndef IOTHREAD_LIST_H
#define IOTHREAD_LIST_H

#include <stddef.h>

#define LIST_HEAD_DECLARE(name, type)                                          \
    typedef struct name {                                                      \
        struct type *first;                                                    \
    } name

#define LIST_ENTRY(type)                                                       \
    struct {                                                                   \
        struct type *next;                                                     \
        struct type **prevp; /* NULL when not on a list */                     \
    }

#define LIST_INIT(head) ((head)->first = NULL)
#define LIST_EMPTY(head) ((head)->first == NULL)
#define LIST_FIRST(head) ((head)->first)
#define LIST_NEXT(elm, field) ((elm)->field.next)
#define LIST_IS_INSERTED(elm, field) ((elm)->field.prevp != NULL)

#define LIST_INSERT_HEAD(head, elm, field)                                     \
    do {                                                                       \
        (elm)->field.next = (head)->first;                                     \
        if ((elm)->field.next) {                                               \
            (elm)->field.next->field.prevp = &(elm)->field.next;               \
        }                                                                      \
        (head)->first = (elm);                                                 \
        (elm)->field.prevp = &(head)->first;                                   \
    } while (0)

#define LIST_REMOVE(elm, field)                                                \
    do {                                                                       \
        if ((elm)->field.next) {                                               \
            (elm)->field.next->field.prevp = (elm)->field.prevp;               \
        }                                                                      \
        *(elm)->field.prevp = (elm)->field.next;                               \
        (elm)->field.next = NULL;                                              \
        (elm)->field.prevp = NULL;                                             \
    } while (0)

#define LIST_SAFE_REMOVE(elm, field)                                           \
    do {                                                                       \
        if (LIST_IS_INSERTED(elm, field)) {                                    \
            LIST_REMOVE(elm, field);                                           \
        }                                                                      \
    } while (0)

#define LIST_FOREACH(var, head, field)                                         \
    for ((var) = (head)->first; (var); (var) = (var)->field.next)

/* Safe against removal of the current element. */
#define LIST_FOREACH_SAFE(var, head, field, tmp)                               \
    for ((var) = (head)->first; (var) && ((tmp) = (var)->field.next, 1);      \
         (var) = (tmp))

/* Move every element of @src to the empty list @dst; @src ends empty.
 * (Heads cannot be copied: the first element points back at its head.) */
#define LIST_MOVE(dst, src, field)                                             \
    do {                                                                       \
        (dst)->first = (src)->first;                                           \
        if ((dst)->first) {                                                    \
            (dst)->first->field.prevp = &(dst)->first;                         \
        }                                                                      \
        (src)->first = NULL;                                                   \
    } while (0)

/* Singly-linked FIFO queue. */
#define SIMPLEQ_HEAD_DECLARE(name, type)                                       \
    typedef struct name {                                                      \
        struct type *first;                                                    \
        struct type **lastp;                                                   \
    } name

#define SIMPLEQ_ENTRY(type)                                                    \
    struct {                                                                   \
        struct type *next;                                                     \
    }

#define SIMPLEQ_INIT(head)                                                     \
    do {                                                                       \
        (head)->first = NULL;                                                  \
        (head)->lastp = &(head)->first;                                        \
    } while (0)

#define SIMPLEQ_EMPTY(head) ((head)->first == NULL)
#define SIMPLEQ_FIRST(head) ((head)->first)

#define SIMPLEQ_INSERT_TAIL(head, elm, field)                                  \
    do {                                                                       \
        (elm)->field.next = NULL;                                              \
        *(head)->lastp = (elm);                                                \
        (head)->lastp = &(elm)->field.next;                                    \
    } while (0)

#define SIMPLEQ_REMOVE_HEAD(head, field)                                       \
    do {                                                                       \
        if (((head)->first = (head)->first->field.next) == NULL) {             \
            (head)->lastp = &(head)->first;                                    \
        }                                                                      \
    } while (0)

/* Move every element of @src to @dst (overwritten); @src ends empty. */
#define SIMPLEQ_MOVE(dst, src)                                                 \
    do {                                                                       \
        (dst)->first = (src)->first;                                           \
        (dst)->lastp = (src)->first ? (src)->lastp : &(dst)->first;            \
        SIMPLEQ_INIT(src);                                                     \
    } while (0)

/* Unlink @elm, which must be on the queue: O(position). */
#define SIMPLEQ_REMOVE(head, elm, type, field)                                 \
    do {                                                                       \
        struct type **pp_ = &(head)->first;                                    \
        while (*pp_ != (elm)) {                                                \
            pp_ = &(*pp_)->field.next;                                         \
        }                                                                      \
        if ((*pp_ = (elm)->field.next) == NULL) {                              \
            (head)->lastp = pp_;                                               \
        }                                                                      \
    } while (0)

#define SIMPLEQ_FOREACH(var, head, field)                                      \
    for ((var) = (head)->first; (var); (var) = (var)->field.next)

#endif /* IOTHREAD_LIST_H */
