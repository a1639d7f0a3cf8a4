#!/bin/sh
# Runs each cmocka binary given; cmocka prints its summary on stderr.
fail=0
for t in "$@"; do
	if ! "$t" 2>&1; then
		echo "FAILED: $t"
		fail=$((fail + 1))
	fi
done
[ "$fail" -eq 0 ]
