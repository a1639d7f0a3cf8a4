#!/bin/sh
# A Test & Enable the service postpones (dvsim --variant te-postponed sets
# postponetestemailconfigurationuntil to the test delay from now and tests
# then). Postponed within run.test_timeout: mbxfix waits and the rows end
# ok. Postponed past it: the rows fail TestPostponed with the date at the
# first poll instead of waiting out test_timeout for a bare TestTimeout.
. "$(dirname "$0")/lib-actions.sh"

other=${DVSIM_VARIANT:-}
DVSIM_VARIANT=te-postponed${other:+,$other}

input() {
	jq -r '"mailbox", ([.entities.systemusers[] | select(.applicationid == null)][1:3][] | .internalemailaddress)' \
		"$T/before.json" >"$T/in.csv"
}

# 1. postponed by 1.5 s, test_timeout 30 s: waited for
dvsim_start --generate 4 --seed 6 --problems "ok" --test-delay-ms 1500
state >"$T/before.json"
input
write_job soon "$T/in.csv" "test_enable"
run_job soon
state >"$T/after.json"
check "postponed within test_timeout: exit 0" [ "$RC" -eq 0 ]
check "postponed within test_timeout: every row tested" jqt "$R" \
	'length == 2 and all(.[]; .result == "ok" and .test_enable == "done" and .incoming_status == "success")'
check "state: the service said when it would test" jqt "$T/after.json" \
	"[.entities.mailboxes[] | select(.emailaddress | IN($(jq -c '[.[].mailbox]' "$R")[])) | .postponetestemailconfigurationuntil | strings] | length == 2"
kill "$DV_PID" 2>/dev/null
wait "$DV_PID" 2>/dev/null
DV_PID=

# 2. postponed by an hour, test_timeout 20 s: TestPostponed at once
dvsim_start --generate 4 --seed 6 --problems "ok" --test-delay-ms 3600000
state >"$T/before.json"
input
write_job late "$T/in.csv" "test_enable" "test_timeout = 20;"
sed -i 's/test_timeout = 30; poll_interval = 1; test_timeout = 20;/test_timeout = 20; poll_interval = 1;/' "$T/late.cfg"
start=$(date +%s)
run_job late
took=$(($(date +%s) - start))
state >"$T/after.json"
until=$(jq -r "[.entities.mailboxes[] | select(.emailaddress == \"$(jq -r '.[0].mailbox' "$R")\")][0].postponetestemailconfigurationuntil" "$T/after.json")
check "postponed past test_timeout: exit 1" [ "$RC" -eq 1 ]
check "every row: TestPostponed naming the date ($until)" jqt "$R" \
	"length == 2 and all(.[]; .result == \"failed\" and .test_enable == \"failed\" and .error_code == \"TestPostponed\" and (.error_message | contains(\"$until\")) and (.hint | contains(\"$until\")) and (.hint | test(\"test_timeout\")))"
check "failed at the first polls, not after test_timeout ($took s)" [ "$took" -lt 15 ]
finish
