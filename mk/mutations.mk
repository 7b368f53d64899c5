# SPDX-License-Identifier: LGPL-2.1-or-later
# make check-mutations: not part of make check.  Applies each known-bad
# change in tests/mutations/*.pl to a copy of the tree and checks that the
# C tests fail for it (see tests/mutations/run.sh).
.PHONY: check-mutations
check-mutations:
	@tests/mutations/run.sh
