#!/bin/sh
# Runs mbxfix's end-to-end scripts again under each dvsim --variant: the
# behaviours of the real service that no source settles (docs/fidelity.md).
# mbxfix must be right under every one. The scripts named by
# VARIANT_TESTS (default: every action script, tests/e2e/t-actions-*.sh,
# t-delivery.sh, t-graph-causes.sh, and the selection and plan scripts
# t-select-*.sh, t-plan-*.sh) run once per variant in VARIANTS.
top=$(cd "$(dirname "$0")/.." && pwd)
out="$top/build/e2e-variants"
mkdir -p "$out"
export TOP="$top"
: "${MBXFIX:=$top/mbxfix}" "${DVSIM:=$top/dvsim}"
export MBXFIX DVSIM
: "${VARIANTS:=te-flag-stays te-postponed te-status-kept approve-no-effect batch-echo-ok no-content-id dop-48}"
: "${VARIANT_TESTS:=$(ls "$top"/tests/e2e/t-actions-*.sh "$top"/tests/e2e/t-delivery.sh "$top"/tests/e2e/t-graph-causes.sh "$top"/tests/e2e/t-select-*.sh "$top"/tests/e2e/t-plan-*.sh)}"
pass=0 fail=0
for v in $VARIANTS; do
	for t in $VARIANT_TESTS; do
		[ -f "$t" ] || continue
		name=$v-$(basename "$t" .sh)
		start=$(date +%s)
		if DVSIM_VARIANT=$v sh "$t" >"$out/$name.log" 2>&1; then
			pass=$((pass + 1))
			echo "ok   $name ($(($(date +%s) - start))s)"
		else
			fail=$((fail + 1))
			echo "FAIL $name (see $out/$name.log)"
			tail -n 20 "$out/$name.log" | sed 's/^/    /'
		fi
	done
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
