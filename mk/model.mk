# SPDX-License-Identifier: LGPL-2.1-or-later
# The Promela model of the wake-up protocol, checked with spin.
CHECK_PROGRAMS += tests/model/check.sh

.PHONY: model
model: deps
	@tests/model/check.sh
