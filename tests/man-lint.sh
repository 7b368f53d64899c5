#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Every man page must be clean under mandoc -Tlint (warnings and worse;
# "style" remarks such as pages not yet installed are not errors).
passed=0
failed=0
for page in man/*.[1-8]; do
    out=$(mandoc -Tlint -Wwarning "$page" 2>&1)
    if [ $? -eq 0 ] && [ -z "$out" ]; then
        echo "ok - mandoc lint $page"
        passed=$((passed + 1))
    else
        echo "not ok - mandoc lint $page"
        echo "$out" | sed 's/^/#   /'
        failed=$((failed + 1))
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
