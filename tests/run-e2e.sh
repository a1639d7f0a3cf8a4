#!/bin/sh
# Runs every end-to-end script: tests/dvsim/t-*.sh (the simulator alone)
# and tests/e2e/t-*.sh (mbxfix against the simulator). Each script exits 0
# when every check it makes holds; its output is kept in build/e2e/.
top=$(cd "$(dirname "$0")/.." && pwd)
out="$top/build/e2e"
mkdir -p "$out"
export TOP="$top"
: "${MBXFIX:=$top/mbxfix}" "${DVSIM:=$top/dvsim}"
export MBXFIX DVSIM
pass=0 fail=0
for t in "$top"/tests/dvsim/t-*.sh "$top"/tests/e2e/t-*.sh; do
	[ -f "$t" ] || continue
	name=$(basename "$(dirname "$t")")-$(basename "$t" .sh)
	start=$(date +%s)
	if sh "$t" >"$out/$name.log" 2>&1; then
		pass=$((pass + 1))
		echo "ok   $name ($(( $(date +%s) - start ))s)"
	else
		fail=$((fail + 1))
		echo "FAIL $name (see $out/$name.log)"
		tail -n 20 "$out/$name.log" | sed 's/^/    /'
	fi
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
