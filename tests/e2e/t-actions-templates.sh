#!/bin/sh
# The committed templates and the demo input are valid input for the demo
# job (mbxfix check, offline), and the privilege template holds every
# privilege KB 4015092 lists.
. "$(dirname "$0")/lib-actions.sh"

for f in templates/remediate.csv templates/onboard-wave.csv \
	templates/approve-only.csv input/demo.csv; do
	MBXFIX_CLIENT_SECRET=x "$MBXFIX" check --input "$f" jobs/demo.cfg >"$T/check.out" 2>&1
	check "check $f: exit 0" [ $? -eq 0 ]
	check "check $f: no invalid row" grep -q " 0 invalid" "$T/check.out"
done
check "demo input: 513 rows (500 users, the admin, 12 queues)" grep -q "^jobs/demo.cfg: 513 rows" "$T/check.out"
n=$(grep -c 'name = "prv' templates/privileges/server-side-sync.cfg)
check "server-side-sync template: 24 privileges" [ "$n" -eq 24 ]
finish
