#!/bin/sh
# Every fixable problem kind (profile, hybrid, delivery, owner, privileges,
# approval) on a generated organisation, all six actions per row: every
# row ends ok with the three statuses success, dvsim's final state holds
# what was asked, each lacking role is granted once, and a second run
# without test_enable sends no write at all.
. "$(dirname "$0")/lib-actions.sh"

dvsim_start --generate 80 --seed 7 --test-delay-ms 100 \
	--problems "profile=15,hybrid=10,delivery=20,owner=15,privileges=20,approval=20"
state >"$T/before.json"
sh jobs/demo-input.sh <"$T/before.json" >"$T/in.csv"
write_job fix "$T/in.csv"
run_job fix

# --variant approve-no-effect: no approval takes effect, so the rows whose
# address needs approving fail NotApproved and are left out below.
pending=$(jq -c '[.entities.mailboxes[] | select(.emailrouteraccessapproval != 1) | .emailaddress]' "$T/before.json")
if variant approve-no-effect; then
	check "no effect: exit 1" [ "$RC" -eq 1 ]
	check "no effect: exactly the rows needing approval fail NotApproved, test_enable skipped" jqt "$R" \
		"[.[] | select(.result != \"ok\") | .mailbox] == [.[] | .mailbox | select(IN($pending[]))] and all(.[] | select(.result != \"ok\"); .approve == \"failed\" and .error_code == \"NotApproved\" and .test_enable == \"skipped\")"
	jq "[.[] | select(.result == \"ok\")]" "$R" >"$T/ok.json"
	R="$T/ok.json"
	printf '%s\n' "$pending" | jq -r '.[]' >"$T/pending.txt"
	awk -F, 'NR == FNR { p[$0] = 1; next } FNR == 1 || !($1 in p)' \
		"$T/pending.txt" "$T/in.csv" >"$T/in-ok.csv"
else
	check "exit 0 (every row ok)" [ "$RC" -eq 0 ]
	check "one result per input row" jqt "$R" "length == $(($(wc -l <"$T/in.csv") - 1))"
	cp "$T/in.csv" "$T/in-ok.csv"
fi
check "every row ok" jqt "$R" 'all(.[]; .result == "ok")'
check "user mailboxes: all three statuses success" jqt "$R" \
	'[.[] | select(.act != "none")] | all(.[]; .incoming_status == "success" and .outgoing_status == "success" and .act_status == "success")'
check "queue mailboxes: email statuses success" jqt "$R" \
	'[.[] | select(.act == "none")] | length > 0 and all(.[]; .incoming_status == "success" and .outgoing_status == "success")'
check "test_enable done on every row" jqt "$R" 'all(.[]; .test_enable == "done")'
check "some rows needed each fix" jqt "$R" \
	'(map(select(.set_profile == "done")) | length > 0) and (map(select(.set_delivery == "done")) | length > 0) and (map(select(.fix_owner == "done")) | length > 0) and (map(select(.grant_privileges == "done")) | length > 0)'
variant approve-no-effect ||
	check "some rows needed approving" jqt "$R" 'map(select(.approve == "done")) | length > 0'
check "healthy parts reported unchanged" jqt "$R" \
	'(map(select(.set_profile == "unchanged")) | length > 0) and (map(select(.fix_owner == "unchanged")) | length > 0)'
check "mailbox_id filled" jqt "$R" 'all(.[]; .mailbox_id | test("^[0-9a-f-]{36}$"))'

state >"$T/after.json"
online=$(jq -r '.entities.emailserverprofiles[] | select(.name == "Microsoft Exchange Online") | .emailserverprofileid' "$T/after.json")
check "state: every mailbox on the Exchange Online profile" jqt "$T/after.json" \
	"all(.entities.mailboxes[]; ._emailserverprofile_value == \"$online\")"
if variant approve-no-effect; then
	check "state: the addresses needing approval still pending, the others approved" jqt "$T/after.json" \
		"all(.entities.mailboxes[]; (.emailrouteraccessapproval == 1) == (.emailaddress | IN($pending[]) | not))"
else
	check "state: every address approved" jqt "$T/after.json" \
		'all(.entities.mailboxes[]; .emailrouteraccessapproval == 1)'
fi
check "state: delivery methods on Server-Side Sync" jqt "$T/after.json" \
	'all(.entities.mailboxes[]; .incomingemaildeliverymethod == 2 and .outgoingemaildeliverymethod == 2)'
check "state: user mailboxes owned by their user" jqt "$T/after.json" \
	'(.entities.queues | map(.queueid)) as $q | all(.entities.mailboxes[] | select(._regardingobjectid_value as $r | $q | index($r) | not); ._ownerid_value == ._regardingobjectid_value)'
check "state: statuses success (approved mailboxes)" jqt "$T/after.json" \
	"all(.entities.mailboxes[] | select(.emailaddress | IN($pending[]) | not); .incomingemailstatus == 1 and .outgoingemailstatus == 1)"

# Each role needing privileges was granted exactly once.
roles=$(jq '[.[] | select(.grant_privileges == "done") | .role] | unique | length' "$R")
stats >"$T/stats1.json"
check "one AddPrivilegesRole per role granted ($roles)" jqt "$T/stats1.json" \
	".writes.by_action.AddPrivilegesRole == $roles"

# Second run: nothing left to write (test_enable is a request, left out).
sed 's/;test_enable//' "$T/in-ok.csv" >"$T/in2.csv"
write_job again "$T/in2.csv" "fix_owner;set_profile;set_delivery;grant_privileges;approve"
run_job again
stats >"$T/stats2.json"
check "second run: exit 0" [ "$RC" -eq 0 ]
check "second run: every action unchanged" jqt "$R" \
	'all(.[]; [.fix_owner, .set_profile, .set_delivery, .grant_privileges, .approve] | all(. == "unchanged" or . == ""))'
check "second run: no write sent" jqt "$T/stats2.json" \
	"$(jq '.writes.total' "$T/stats1.json") == .writes.total"
finish
