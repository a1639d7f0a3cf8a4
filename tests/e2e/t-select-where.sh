#!/bin/sh
# Mailboxes chosen by query (--where, select = { ... }): each kind of
# selection gives exactly the mailboxes dvsim's state says match, computed
# here from /_sim/state; plan with a selection writes nothing; a CSV and
# a selection together give each mailbox once; a misspelt name stops the
# run with "did you mean" before any write.
. "$(dirname "$0")/lib-actions.sh"

dvsim_start --generate 200 --seed 7 --test-delay-ms 50

# plan_sel NAME ARGS...: plan set_delivery over a selection (no input
# file); GOT gets the sorted mailbox ids of its results
plan_sel() {
	n=$1
	shift
	write_job "$n" "" "set_delivery"
	sed -i '/^input = /d' "$T/$n.cfg"
	E2E_SECRET=dvsim-demo-secret "$MBXFIX" plan --no-progress "$@" \
		"$T/$n.cfg" >"$T/$n.stdout" 2>"$T/$n.stderr"
	RC=$?
	R="$T/$n.json"
	if [ -f "$T/out/$n/latest-plan/results.csv" ]; then
		"$CSV2JSON" <"$T/out/$n/latest-plan/results.csv" >"$R"
	else
		echo '[]' >"$R"
	fi
	GOT=$(jq -r '.[].mailbox_id' "$R" | sort | tr '\n' ' ')
}
# want FILTER: sorted ids of dvsim's mailboxes matching the jq FILTER
# (over a mailbox, with $s the whole state)
want() {
	jq -r ". as \$s | [.entities.mailboxes[] | select($1) | .mailboxid] | .[]" "$T/s.json" | sort | tr '\n' ' '
}
profile_id() {
	jq -r --arg n "$1" '.entities.emailserverprofiles[] | select(.name == $n) | .emailserverprofileid' "$T/s.json"
}

# a few mailboxes tested first so that statuses differ
state >"$T/s0.json"
jq -r '.entities.mailboxes[:40][] | .emailaddress' "$T/s0.json" | sed '1i mailbox' >"$T/t.csv"
write_job tested "$T/t.csv" "test_enable"
run_job tested
stats >"$T/st0.json"
state >"$T/s.json"

HYB=$(profile_id "Exchange Server (Hybrid)")
plan_sel p1 --where 'profile=  exchange server (HYBRID) '
check "profile: exit 0 or 1 ($RC)" [ "$RC" -le 1 ]
W=$(want "._emailserverprofile_value == \"$HYB\"")
check "profile=NAME (case and blanks ignored) selects the Hybrid mailboxes" [ -n "$W" ] && [ "$GOT" = "$W" ]
check "selected rows say where they came from" jqt "$R" 'all(.[]; .source | startswith("where profile="))'
check "the summary says how many were selected" grep -q "selected    $(echo "$W" | wc -w) mailbox" "$T/p1.stdout"

# the progress line counts the selected rows
write_job pg "" "set_delivery"
sed -i '/^input = /d' "$T/pg.cfg"
E2E_SECRET=dvsim-demo-secret "$MBXFIX" plan --where 'profile=Exchange Server (Hybrid)' "$T/pg.cfg" >/dev/null 2>"$T/pg.err"
nsel=$(echo "$GOT" | wc -w)
check "progress line over the selected rows" grep -q "rows $nsel/$nsel" "$T/pg.err"

plan_sel p2 --where status=failure
W=$(want '.incomingemailstatus == 2 or .outgoingemailstatus == 2 or .actstatus == 2')
check "status=failure selects the failed ones" [ -n "$W" ] && [ "$GOT" = "$W" ]

plan_sel p3 --where status=never-tested
W=$(want '.testmailboxaccesscompletedon == null')
check "status=never-tested" [ -n "$W" ] && [ "$GOT" = "$W" ]

plan_sel p4 --where status=not-enabled --where approval=not-approved
W=$(want '(.incomingemailstatus != 1 or .outgoingemailstatus != 1) and .emailrouteraccessapproval != 1')
check "status=not-enabled and approval=not-approved (both must hold)" [ -n "$W" ] && [ "$GOT" = "$W" ]

BU=$(jq -r '.entities.businessunits[] | select(.name == "Sales") | .businessunitid' "$T/s.json")
plan_sel p5 --where 'business_unit=sales'
W=$(want "._owningbusinessunit_value == \"$BU\"")
check "business_unit=NAME" [ -n "$W" ] && [ "$GOT" = "$W" ]

plan_sel p6 --where type=queue
W=$(want '._regardingobjectid_value as $r | any($s.entities.queues[]; .queueid == $r)')
check "type=queue" [ -n "$W" ] && [ "$GOT" = "$W" ]
plan_sel p7 --where type=user --where approval=approved
W=$(want '._regardingobjectid_value as $r | any($s.entities.systemusers[]; .systemuserid == $r) and .emailrouteraccessapproval == 1')
check "type=user and approval=approved" [ -n "$W" ] && [ "$GOT" = "$W" ]

# the job's select group, and paging: more mailboxes than one page
write_job p8 "" "set_delivery" 
sed -i '/^input = /d' "$T/p8.cfg"
printf 'select = { status = "unhealthy"; };\n' >>"$T/p8.cfg"
E2E_SECRET=dvsim-demo-secret "$MBXFIX" plan --no-progress "$T/p8.cfg" >/dev/null 2>&1
"$CSV2JSON" <"$T/out/p8/latest-plan/results.csv" >"$T/p8.json"
GOT=$(jq -r '.[].mailbox_id' "$T/p8.json" | sort | tr '\n' ' ')
W=$(want '.incomingemailstatus != 1 or .outgoingemailstatus != 1 or .actstatus == 2 or .testmailboxaccesscompletedon == null')
check "select = { status = \"unhealthy\" } in the job" [ -n "$W" ] && [ "$GOT" = "$W" ]

# saved and personal views: their FetchXML, run by dvsim
plan_sel v1 --where 'view=Mailboxes with Test & Enable failures'
W=$(want '.incomingemailstatus == 2 or .outgoingemailstatus == 2 or .actstatus == 2')
check "view= a system view (FetchXML filter of type or)" [ -n "$W" ] && [ "$GOT" = "$W" ]
plan_sel v2 --where 'view= my hybrid MAILBOXES '
W=$(want "._emailserverprofile_value == \"$HYB\"")
check "view= a personal view, name matched without case and blanks" [ -n "$W" ] && [ "$GOT" = "$W" ]
SV=$(jq -r '[.entities.businessunits[] | select(.name == "Sales" or .name == "Service") | .businessunitid] | join(" ")' "$T/s.json")
plan_sel v3 --where 'view=Sales and Service or unapproved mailboxes' --where type=user
W=$(want "._regardingobjectid_value as \$r | any(\$s.entities.systemusers[]; .systemuserid == \$r) and .statecode == 0 and ((._owningbusinessunit_value | IN(\"${SV% *}\", \"${SV#* }\")) or .emailrouteraccessapproval != 1)")
check "view= nested filters, in and ne, with another term" [ -n "$W" ] && [ "$GOT" = "$W" ]
# a personal view whose pages hold 3 rows: every page is read
TOKEN=$(token)
curl -sf -o /dev/null -X POST -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \
	-d '{"name": "Active, small pages", "returnedtypecode": "mailbox", "querytype": 0, "statecode": 0, "fetchxml": "<fetch count=\"3\"><entity name=\"mailbox\"><filter><condition attribute=\"statecode\" operator=\"eq\" value=\"0\" /></filter></entity></fetch>"}' \
	"$URL/api/data/v9.2/userqueries"
plan_sel v4 --where 'view=Active, small pages'
W=$(want '.statecode == 0')
check "view= read page after page with the paging cookie ($(echo "$W" | wc -w) mailboxes, 3 a page)" [ -n "$W" ] && [ "$GOT" = "$W" ]
plan_sel v5 --where 'view=Active Mailbox'
check "unknown view: exit 2 with did you mean" grep -q "did you mean 'Active Mailboxes'" "$T/v5.stderr"

stats >"$T/st1.json"
check "the plans wrote nothing (the test's own view only)" jqt "$T/st1.json" "$(jq .writes.total "$T/st0.json") + 1 == .writes.total"

# a CSV and a selection: each mailbox once, the CSV's rows first
first=$(jq -r --arg p "$HYB" '[.entities.mailboxes[] | select(._emailserverprofile_value == $p)][0].emailaddress' "$T/s.json")
printf 'mailbox,note\n%s,from the csv\n' "$first" >"$T/mix.csv"
write_job mix "$T/mix.csv" "set_delivery"
E2E_SECRET=dvsim-demo-secret "$MBXFIX" plan --no-progress --where 'profile=Exchange Server (Hybrid)' "$T/mix.cfg" >/dev/null 2>&1
"$CSV2JSON" <"$T/out/mix/latest-plan/results.csv" >"$T/mix.json"
W=$(want "._emailserverprofile_value == \"$HYB\"")
check "CSV + selection: every selected mailbox once" [ "$(jq -r '.[].mailbox_id' "$T/mix.json" | sort | tr '\n' ' ')" = "$W" ]
check "CSV + selection: the CSV row first, with its columns" jqt "$T/mix.json" '.[0].note == "from the csv" and .[0].source == "input row 1" and .[0].result != "invalid"'
check "CSV + selection: no duplicate row" jqt "$T/mix.json" 'all(.[]; .result != "invalid")'

# a misspelt profile: exit 2, did you mean, nothing written
plan_sel bad --where 'profile=Exchange Server (Hybird)'
check "unknown profile: exit 2" [ "$RC" -eq 2 ]
check "unknown profile: did you mean" grep -q "did you mean 'Exchange Server (Hybrid)'" "$T/bad.stderr"
plan_sel bad2 --where 'colour=blue'
check "unknown key: exit 2 naming --where" grep -q -- "--where colour=blue: unknown key" "$T/bad2.stderr"

# run over a selection: every Hybrid mailbox moves to Exchange Online
write_job fix "" "set_profile"
sed -i '/^input = /d' "$T/fix.cfg"
E2E_SECRET=dvsim-demo-secret "$MBXFIX" run --no-progress --where 'profile=Exchange Server (Hybrid)' "$T/fix.cfg" >/dev/null 2>&1
check "run over the selection: exit 0" [ $? -eq 0 ]
state >"$T/s.json"
check "no mailbox left on the Hybrid profile" [ -z "$(want "._emailserverprofile_value == \"$HYB\"" | tr -d ' ')" ]
check "the run kept its input as input.csv" [ -s "$T/out/fix/latest/input.csv" ]

# paging: more mailboxes than one page (5,000); the queues' mailboxes,
# made last, are on the second page, reached through @odata.nextLink
kill "$DV_PID"
wait "$DV_PID" 2>/dev/null
dvsim_start --generate 5100 --seed 2
state >"$T/s.json"
plan_sel big --where type=queue
W=$(want '._regardingobjectid_value as $r | any($s.entities.queues[]; .queueid == $r)')
check "a selection past the first page of mailboxes ($(jq '.entities.mailboxes | length' "$T/s.json") mailboxes)" [ -n "$W" ] && [ "$GOT" = "$W" ]
finish
