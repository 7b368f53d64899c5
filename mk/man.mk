# SPDX-License-Identifier: LGPL-2.1-or-later
# Man pages are hand-written mdoc in man/; make check lints them.
CHECK_PROGRAMS += tests/man-lint.sh
