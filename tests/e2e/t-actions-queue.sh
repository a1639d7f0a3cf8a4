#!/bin/sh
# Queue mailboxes: set_profile, set_delivery and approve work as for user
# mailboxes; fix_owner leaves a queue's owner alone unless the row names
# one, and then assigns it; Test & Enable tests email only.
. "$(dirname "$0")/lib-actions.sh"

dvsim_start --generate 10 --seed 4 --test-delay-ms 100 --problems "ok"
state >"$T/before.json"
q1=$(jq -r '.entities.queues[0].emailaddress' "$T/before.json")
q2=$(jq -r '.entities.queues[1].emailaddress' "$T/before.json")
m1=$(jq -r ".entities.mailboxes[] | select(.emailaddress == \"$q1\") | .mailboxid" "$T/before.json")
m2=$(jq -r ".entities.mailboxes[] | select(.emailaddress == \"$q2\") | .mailboxid" "$T/before.json")
admin=$(jq -r '.entities.systemusers[] | select(.domainname == "admin@contoso.com") | .systemuserid' "$T/before.json")
user=$(jq -r '[.entities.systemusers[] | select(.applicationid == null and .domainname != "admin@contoso.com")][0] | .domainname' "$T/before.json")
userid=$(jq -r ".entities.systemusers[] | select(.domainname == \"$user\") | .systemuserid" "$T/before.json")
hybrid=$(jq -r '.entities.emailserverprofiles[] | select(.name == "Exchange Server (Hybrid)") | .emailserverprofileid' "$T/before.json")

# Break the first queue's mailbox: Hybrid profile, Outlook delivery,
# address pending approval.
api_patch "mailboxes($m1)" "{\"emailserverprofile@odata.bind\":\"/emailserverprofiles($hybrid)\",\"incomingemaildeliverymethod\":1,\"outgoingemaildeliverymethod\":1}"
api_patch "mailboxes($m1)" '{"emailrouteraccessapproval":2}'
state >"$T/broken.json"
check "setup: queue mailbox broken" jqt "$T/broken.json" \
	".entities.mailboxes[] | select(.mailboxid == \"$m1\") | ._emailserverprofile_value == \"$hybrid\" and .incomingemaildeliverymethod == 1 and .emailrouteraccessapproval == 2"

cat >"$T/in.csv" <<CSV
mailbox,actions,act,owner
$q1,fix_owner;set_profile;set_delivery;approve;test_enable,none,
$q2,fix_owner,,$user
CSV
write_job queue "$T/in.csv"
stats >"$T/s0.json"
run_job queue
stats >"$T/s1.json"
state >"$T/after.json"

if variant approve-no-effect; then
	# the approval is accepted without effect: queue 1 stops there
	check "no effect: exit 1" [ "$RC" -eq 1 ]
	check "no effect: queue 1 fixed but NotApproved, test skipped" jqt "$R" \
		'.[0] | .result == "failed" and .set_profile == "done" and .set_delivery == "done" and .approve == "failed" and .error_code == "NotApproved" and .test_enable == "skipped" and (.error_message | test("queue.s email address is still"))'
	check "state: queue 1 fixed, still pending, owner still the admin" jqt "$T/after.json" \
		".entities.mailboxes[] | select(.mailboxid == \"$m1\") | ._ownerid_value == \"$admin\" and .incomingemaildeliverymethod == 2 and .emailrouteraccessapproval == 2 and ._emailserverprofile_value != \"$hybrid\""
	check "set_profile + set_delivery in one PATCH: 3 PATCHes in all" jqt "$T/s1.json" \
		".operations.by_method.PATCH - $(jq .operations.by_method.PATCH "$T/s0.json") == 3"
else
	check "exit 0" [ "$RC" -eq 0 ]
	check "queue 1: owner unchanged, profile/delivery/approval done, tested" jqt "$R" \
		'.[0] | .result == "ok" and .fix_owner == "unchanged" and .set_profile == "done" and .set_delivery == "done" and .approve == "done" and .test_enable == "done"'
	check "queue 1: email statuses success, ACT not run" jqt "$R" \
		'.[0] | .incoming_status == "success" and .outgoing_status == "success" and .act_status == "not-run"'
	check "state: queue 1 fixed, owner still the admin" jqt "$T/after.json" \
		".entities.mailboxes[] | select(.mailboxid == \"$m1\") | ._ownerid_value == \"$admin\" and .incomingemaildeliverymethod == 2 and .emailrouteraccessapproval == 1 and ._emailserverprofile_value != \"$hybrid\""
	check "state: the queue record approved (approve writes it)" jqt "$T/after.json" \
		".entities.queues[] | select(.emailaddress == \"$q1\") | .emailrouteraccessapproval == 1"
	# queue 1: profile + delivery in one PATCH, approval alone, the test
	# request; queue 2: the owner. Four PATCHes in all.
	check "set_profile + set_delivery in one PATCH: 4 PATCHes in all" jqt "$T/s1.json" \
		".operations.by_method.PATCH - $(jq .operations.by_method.PATCH "$T/s0.json") == 4"
fi
check "queue 2: named owner assigned" jqt "$R" '.[1] | .result == "ok" and .fix_owner == "done"'
check "state: queue 2 owned by the named user" jqt "$T/after.json" \
	".entities.mailboxes[] | select(.mailboxid == \"$m2\") | ._ownerid_value == \"$userid\""
finish
