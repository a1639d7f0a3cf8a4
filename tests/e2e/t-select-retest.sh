#!/bin/sh
# run.retest: with the default "changed", a mailbox whose statuses are all
# Success and that the run changes nothing of is not tested again;
# "unhealthy" tests only those not all Success; "always" tests every one.
# Which mailboxes were tested is read from dvsim's state
# (testemailconfigurationretrycount counts the service's tests).
. "$(dirname "$0")/lib-actions.sh"

dvsim_start --generate 30 --seed 3 --problems delivery=40 --test-delay-ms 50
state >"$T/s0.json"
jq -r '.entities.mailboxes[] | .emailaddress' "$T/s0.json" | sed '1i mailbox' >"$T/all.csv"
counts() { state | jq -c '[.entities.mailboxes[] | {key: .emailaddress, value: .testemailconfigurationretrycount}] | from_entries'; }

# 1. test everything once, without fixing: the delivery ones fail
write_job t1 "$T/all.csv" "test_enable" 'retest = "always";'
run_job t1
state >"$T/s1.json"
healthy=$(jq '[.entities.mailboxes[] | select(.incomingemailstatus == 1 and .outgoingemailstatus == 1)] | length' "$T/s1.json")
check "setup: some healthy, some not" [ "$healthy" -gt 0 ] && [ "$healthy" -lt 32 ]
c1=$(counts)

# 2. retest = "unhealthy": only the ones not all Success are tested
write_job t2 "$T/all.csv" "test_enable" 'retest = "unhealthy";'
run_job t2
c2=$(counts)
tested=$(jq -n --argjson a "$c1" --argjson b "$c2" '[$b | to_entries[] | select(.value > $a[.key]) | .key] | sort')
want=$(jq -c '[.entities.mailboxes[] | select((.incomingemailstatus == 1 and .outgoingemailstatus == 1 and (.actstatus == 1 or (.actdeliverymethod != 1 and .actstatus != 2))) | not) | .emailaddress] | sort' "$T/s1.json")
check "unhealthy: exactly the unhealthy mailboxes tested" [ "$(echo "$tested" | jq -c .)" = "$want" ]
check "unhealthy: the healthy rows unchanged, with their statuses" jqt "$R" \
	'all(.[] | select(.test_enable == "unchanged"); .incoming_status == "success")'

# 3. default (changed): fix delivery and test; healthy untouched ones are
# left alone, the fixed ones tested
write_job t3 "$T/all.csv" "set_delivery;test_enable"
run_job t3
c3=$(counts)
tested=$(jq -n --argjson a "$c2" --argjson b "$c3" '[$b | to_entries[] | select(.value > $a[.key]) | .key] | sort' | jq -c .)
changed=$(jq -c '[.[] | select(.set_delivery == "done") | .mailbox] | sort' "$R")
check "changed: exactly the mailboxes whose delivery changed were tested" [ "$tested" = "$changed" ]
check "changed: exit 0" [ "$RC" -eq 0 ]

# 4. always: every mailbox tested
write_job t4 "$T/all.csv" "test_enable" 'retest = "always";'
run_job t4
c4=$(counts)
check "always: every mailbox tested again" [ "$(jq -n --argjson a "$c3" --argjson b "$c4" '[$b | to_entries[] | select(.value <= $a[.key])] | length')" = 0 ]

# a bad value is a job error naming the setting
write_job bad "$T/all.csv" "test_enable" 'retest = "sometimes";'
run_job bad
check "bad run.retest: exit 2" [ "$RC" -eq 2 ]
check "bad run.retest: names the setting" grep -q "run.retest" "$T/bad.stderr"
finish
