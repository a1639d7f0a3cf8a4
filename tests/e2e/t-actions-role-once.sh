#!/bin/sh
# grant_privileges acts on a role, not a mailbox: 1,000 rows naming the
# same role cost exactly one AddPrivilegesRole, whose outcome is reported
# on each row; the role then holds every privilege of the template at
# least at the depth it asks for; a second run sends nothing.
. "$(dirname "$0")/lib-actions.sh"

dvsim_start --generate 1000 --seed 11 --problems "privileges=100"
state >"$T/before.json"
{
	echo "mailbox,role"
	jq -r '.entities.systemusers[] | select(.applicationid == null) | .internalemailaddress' \
		"$T/before.json" | head -n 1000 | sed 's/$/,Sales Restricted/'
} >"$T/in.csv"
write_job once "$T/in.csv" "grant_privileges"
run_job once
stats >"$T/stats1.json"

check "exit 0" [ "$RC" -eq 0 ]
check "1000 result lines" jqt "$R" 'length == 1000'
check "every row: grant_privileges done" jqt "$R" 'all(.[]; .result == "ok" and .grant_privileges == "done")'
check "exactly one AddPrivilegesRole" jqt "$T/stats1.json" '.writes.by_action.AddPrivilegesRole == 1'
check "no other write" jqt "$T/stats1.json" '.writes.total == 1'
# Reads: the mailboxes in groups of 50 (20 GETs), then one lookup each of
# the role, the privileges and the role's privileges, however many rows,
# and the probe read made at sign-in.
check "role and privileges looked up once (GETs: $(jq .operations.by_method.GET "$T/stats1.json"))" \
	jqt "$T/stats1.json" '.operations.by_method.GET <= 1000 / 50 + 4'

# The root role now holds each template privilege at the depth asked.
state >"$T/after.json"
jq -n --slurpfile s "$T/after.json" '
  $s[0].entities as $e
  | ($e.roles[] | select(.name == "Sales Restricted" and ._parentrootroleid_value == .roleid) | .roleid) as $rid
  | ($e.privileges | map({key: .privilegeid, value: .name}) | from_entries) as $pn
  | [$e.roleprivilegescollection[] | select(.roleid == $rid) | {key: $pn[.privilegeid], value: .privilegedepthmask}]
  | from_entries' >"$T/held.json"
check "role holds prvReadEmailServerProfile at Global" jqt "$T/held.json" '.prvReadEmailServerProfile >= 8'
check "role holds prvSyncToOutlook at Global" jqt "$T/held.json" '.prvSyncToOutlook >= 8'
check "role holds prvReadMailbox" jqt "$T/held.json" '.prvReadMailbox >= 1'
check "role holds prvOverrideCreatedOnCreatedBy at Global" jqt "$T/held.json" '.prvOverrideCreatedOnCreatedBy == 8'

run_job once
stats >"$T/stats2.json"
check "second run: every row unchanged" jqt "$R" 'all(.[]; .grant_privileges == "unchanged")'
check "second run: no write" jqt "$T/stats2.json" '.writes.total == 1'
finish
