# SPDX-License-Identifier: LGPL-2.1-or-later
# examples/copy-file (built with the examples) is run once by make check
# against a temporary file (tests/copy-file.sh).
PROGRAMS       += $(B)/examples/copy-file
CHECK_PROGRAMS += tests/copy-file.sh
