#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The hand-written docs against the iothread property table
# (src/common/iothread-props.h): every property of the table is
# documented as one in iothreadd-qmp(7) (object-add's members),
# iothreadd.json(5) (the iothread object's keys), iothreadctl(1) (the
# knobs) and the bash completion (knobs; creation-only ones apart), and
# nothing else is documented as a property there.  The table is read
# through the C preprocessor, so this sees exactly what the code sees.
cd "$(dirname "$0")/.." || exit 1
CC=${CC:-cc}
pass=0 fail=0

# "name cli runtime" per row.
rows=$(printf '%s\n' '#include "common/iothread-props.h"' \
    '#define R(n, k, f, lo, hi, d, rt, cli, a, ch, desc, ap) @PROP n cli rt' \
    'IOTHREAD_PROPERTIES(R)' |
    $CC -E -P -D_GNU_SOURCE -Isrc -Iinclude -x c - | tr '@' '\n' |
    tr -d '"' | awk '$1 == "PROP" && NF == 4 {print $2, $3, $4}')
if [ -z "$rows" ]; then
    echo "not ok - read-property-table: no rows from iothread-props.h"
    echo "0 passed, 1 failed"
    exit 1
fi
names=$(echo "$rows" | awk '{print $1}' | sort)
clis=$(echo "$rows" | awk '{print "--" $2}' | sort)
creation=$(echo "$rows" | awk '$3 == "0" || $3 == "false" {print "--" $2}' | sort)

# same NAME WANT GOT: ok when the two sorted lists are equal.
same() {
    if [ "$2" = "$3" ]; then
        echo "ok - $1"
        pass=$((pass + 1))
    else
        missing=$(printf '%s\n' "$2" | grep -vxF -e "$3" | tr '\n' ' ')
        extra=$(printf '%s\n' "$3" | grep -vxF -e "$2" | tr '\n' ' ')
        echo "not ok - $1: undocumented: ${missing:-none}; documented but" \
             "not in the table: ${extra:-none}"
        fail=$((fail + 1))
    fi
}

# iothreadd-qmp(7): the .Cm words of object-add's "flat members" sentence.
got=$(sed -n '/the properties are flat members:/,/^Errors:/p' \
          man/iothreadd-qmp.7 | grep '^\.Cm' | sed 's/^\.Cm //' |
      tr ',' '\n' | tr -d ' .' | grep . | sort)
same "iothreadd-qmp.7-object-add-lists-every-property" "$names" "$got"

# iothreadd.json(5): the .It Cm keys of the iothread object, but "id".
got=$(sed -n '/^\.Ss Iothread objects/,/^\.El/p' man/iothreadd.json.5 |
      grep '^\.It Cm' | sed 's/^\.It Cm //' | tr ',' '\n' | tr -d ' ' |
      grep . | grep -vx id | sort)
same "iothreadd.json.5-iothread-keys-are-the-properties" "$names" "$got"

# iothreadctl(1): the .Fl options of the "Knobs" paragraph.
got=$(sed -n '/^Knobs, for/,/^\.Ar cpulist/p' man/iothreadctl.1 |
      grep '^\.Fl -' | sed 's/^\.Fl \(-[a-z-]*\).*/-\1/' | sort)
same "iothreadctl.1-knobs-are-the-properties" "$clis" "$got"

# bash completion: $knobs and $create_knobs together, and which is which.
knobs=$(sed -n '/local knobs="/,/"/p' completion/iothreadctl.bash |
        grep -o -- '--[a-z-]*')
create=$(sed -n 's/.*local create_knobs="\(.*\)"/\1/p' \
             completion/iothreadctl.bash | grep -o -- '--[a-z-]*')
got=$(printf '%s\n%s\n' "$knobs" "$create" | grep . | sort)
same "completion-knobs-are-the-properties" "$clis" "$got"
same "completion-creation-only-knobs" "$creation" \
     "$(printf '%s\n' "$create" | grep . | sort)"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
