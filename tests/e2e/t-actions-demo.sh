#!/bin/sh
# make demo's script: dvsim starts, the committed input/demo.csv matches
# the generated organisation (no unknown mailbox), every fixable mailbox
# ends ok, the rest fail with a cause mbxfix can only explain, and dvsim
# is stopped afterwards.
. "$(dirname "$0")/lib-actions.sh"

DEMO_OUTPUT="$T/out" sh jobs/demo.sh >"$T/demo.out" 2>&1
rc=$?
check "demo exits 0" [ "$rc" -eq 0 ]
check "demo prints where the results are" grep -q "Results of this run are in" "$T/demo.out"
check "demo ends by naming the next steps" sh -c "tail -n 9 '$T/demo.out' | grep -q '^Next:'"
check "demo names the report to open" grep -q "open $T/out/demo/latest/report.html" "$T/demo.out"
check "demo names the rerun of the failed rows" grep -q "mbxfix run --rerun-failed JOB.cfg" "$T/demo.out"
check "demo does not name its temporary job" sh -c "! grep -q 'rerun-failed /tmp' '$T/demo.out'"
"$CSV2JSON" <"$T/out/demo/latest/results.csv" >"$T/r.json"
check "513 result lines" jqt "$T/r.json" 'length == 513'
check "most rows ok" jqt "$T/r.json" '[.[] | select(.result == "ok")] | length >= 400'
check "failures are only the causes outside Dataverse" jqt "$T/r.json" \
	'all(.[] | select(.result != "ok"); .error_code | IN("Unauthorized", "ImpersonationError", "MailboxDisabled", "NoUserFoundWithGivenClaims"))'
check "ok rows: incoming and outgoing success" jqt "$T/r.json" \
	'all(.[] | select(.result == "ok"); .incoming_status == "success" and .outgoing_status == "success")'
check "ok user rows: ACT success too" jqt "$T/r.json" \
	'all(.[] | select(.result == "ok" and .act == ""); .act_status == "success")'
port=$(sed -n 's/^demo: dvsim serves .* at http:\/\/127.0.0.1:\([0-9]*\)$/\1/p' "$T/demo.out")
check "dvsim stopped" sh -c "! curl -sf http://127.0.0.1:$port/_sim/stats >/dev/null"
finish
