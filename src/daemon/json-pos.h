/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Where a member of a JSON text is.  jansson keeps no source positions,
 * but a configuration error must say FILE:LINE:COL.  This scanner walks a
 * text that jansson has already accepted and finds the position of the
 * value, or key, at a path.
 */
#ifndef IOTHREADD_JSON_POS_H
#define IOTHREADD_JSON_POS_H

#include <stdbool.h>
#include <stddef.h>

/*
 * json_pos_find: find the element at @path (@depth elements: object keys,
 * compared byte for byte with the raw key text, or array indices as
 * decimal strings) in @text, valid JSON of @len bytes.  With @want_key the
 * position of the last element's key is returned (it must name an object
 * member), else that of its value.  @depth 0 is the top-level value.
 * Sets *@line and *@col (1-based; columns count bytes) and returns true,
 * or returns false when the path is not there.  Iterative: any nesting.
 */
bool json_pos_find(const char *text, size_t len, const char *const *path,
                   size_t depth, bool want_key, int *line, int *col);

#endif /* IOTHREADD_JSON_POS_H */
