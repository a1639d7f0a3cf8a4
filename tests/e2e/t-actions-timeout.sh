#!/bin/sh
# Test & Enable that does not finish within run.test_timeout: the row
# fails with TestTimeout and its hint, the statuses as last read, and the
# run ends in about test_timeout (polled every poll_interval). Under
# --variant te-postponed the service says it postponed the test past
# test_timeout: TestPostponed with the date, at the first poll.
. "$(dirname "$0")/lib-actions.sh"

dvsim_start --generate 3 --seed 6 --problems "ok" --test-delay-ms 60000
state >"$T/before.json"
jq -r '"mailbox", ([.entities.systemusers[] | select(.applicationid == null)][1:3][] | .internalemailaddress)' \
	"$T/before.json" >"$T/in.csv"
write_job slow "$T/in.csv" "test_enable"
sed -i 's/test_timeout = 30;/test_timeout = 2;/' "$T/slow.cfg"
start=$(date +%s)
run_job slow
took=$(($(date +%s) - start))
check "exit 1" [ "$RC" -eq 1 ]
if variant te-postponed; then
	# the service says when it will test: past test_timeout, so at once
	check "every row: TestPostponed with the date" jqt "$R" \
		'length == 2 and all(.[]; .result == "failed" and .test_enable == "failed" and .error_code == "TestPostponed" and (.error_message | test("until 20[0-9-]+T[0-9:]+Z")) and (.hint | test("test_timeout")))'
	check "gave up at the first poll, not at test_timeout ($took s)" [ "$took" -le 8 ]
else
	check "every row: TestTimeout" jqt "$R" \
		'length == 2 and all(.[]; .result == "failed" and .test_enable == "failed" and .error_code == "TestTimeout" and (.hint | test("test_timeout")))'
	check "gave up after about test_timeout ($took s)" [ "$took" -ge 2 -a "$took" -le 8 ]
fi
check "statuses as last read (not run)" jqt "$R" 'all(.[]; .incoming_status == "not-run")'
stats >"$T/stats.json"
check "polled with a few GETs, not a busy loop" jqt "$T/stats.json" '.operations.by_method.GET <= 12'
finish
