#!/bin/sh
# Preflight: every profile, role, owner and privilege template the rows
# and the job's defaults name is resolved before the first write. A row
# naming an unknown one fails with nothing of it written ("did you mean"
# from the names that exist); a job default that does not resolve stops
# the run before any write, naming the setting and its line; plan shows the
# same failures; check finds unknown templates offline.
. "$(dirname "$0")/lib-actions.sh"

dvsim_start --generate 60 --seed 7 --problems "ok"
state >"$T/before.json"
users() { jq -r "[.entities.systemusers[] | select(.applicationid == null)][$1].internalemailaddress" "$T/before.json"; }
u1=$(users 1) u2=$(users 2) u3=$(users 3) u4=$(users 4)
mb() { state | jq -c --arg a "$1" '.entities.mailboxes[] | select(.emailaddress == $a)
	| {incomingemaildeliverymethod, _emailserverprofile_value, _ownerid_value}'; }
for u in "$u1" "$u3" "$u4"; do mb "$u"; done >"$T/mb.before"

A="fix_owner;set_profile;set_delivery;grant_privileges"
{
	echo "mailbox,actions,profile,incoming,owner,role"
	echo "$u1,$A,,outlook,,Sales Restrictd"                     # role misspelt
	echo "$u2,$A,,outlook,,Sales Restricted"                    # fine
	echo "$u3,$A,microsoft exchange onlin,outlook,,Sales Restricted" # profile
	echo "$u4,$A,,outlook,nobody@contoso.com,Sales Restricted"  # owner
} >"$T/in.csv"
write_job pf "$T/in.csv" "$A"

run_job pf
check "exit 1: some rows failed (got $RC)" [ "$RC" -eq 1 ]
check "unknown role: grant_privileges failed, the rest skipped" jqt "$R" \
	'.[0].result == "failed" and .[0].grant_privileges == "failed" and .[0].set_delivery == "skipped" and .[0].fix_owner == "skipped" and .[0].set_profile == "skipped"'
check "unknown role: UnknownRole, did you mean 'Sales Restricted'" jqt "$R" \
	'.[0].error_code == "UnknownRole" and (.[0].error_message | test("did you mean .Sales Restricted."))'
check "a good row runs" jqt "$R" '.[1].result == "ok" and .[1].set_delivery == "done"'
check "unknown profile: set_profile failed, suggestion given" jqt "$R" \
	'.[2].set_profile == "failed" and .[2].error_code == "UnknownProfile" and (.[2].error_message | test("did you mean .Microsoft Exchange Online."))'
check "unknown owner: fix_owner failed" jqt "$R" '.[3].fix_owner == "failed" and .[3].error_code == "UnknownUser"'
for u in "$u1" "$u3" "$u4"; do mb "$u"; done >"$T/mb.after"
check "nothing of the failed rows written" cmp -s "$T/mb.before" "$T/mb.after"

# plan shows the same failures
E2E_SECRET=dvsim-demo-secret "$MBXFIX" plan --no-progress "$T/pf.cfg" >/dev/null 2>"$T/plan.err"
check "plan: exit 1" [ $? -eq 1 ]
"$CSV2JSON" <"$(ls -dt "$T"/out/pf/*/ | head -n 1)results.csv" >"$T/plan.json"
check "plan: the same failures" jqt "$T/plan.json" \
	'[.[] | .error_code] == ["UnknownRole", "", "UnknownProfile", "UnknownUser"]'

# a misspelt default stops the run before any write, naming the setting
# and its line: exit 2, the job file is wrong and nothing was written
# (docs/design.md: exit 2 only while nothing has been written)
sent() { stats | jq '.api_requests + .tokens_issued + .token_errors'; }
w0=$(stats | jq .writes.total)
printf 'mailbox\n%s\n%s\n' "$u1" "$u2" >"$T/in2.csv"
write_job def "$T/in2.csv" "set_delivery;grant_privileges"
sed -i 's|^  privileges = .*|  role = "Sales Restrictd";\n  privileges = "server-side-sync";|' "$T/def.cfg"
run_job def
line=$(grep -n 'role = "Sales Restrictd"' "$T/def.cfg" | cut -d: -f1)
check "misspelt default role: exit 2 (got $RC)" [ "$RC" -eq 2 ]
check "the message names the setting and its line" grep -q "def.cfg:$line: setting 'defaults.role': no security role 'Sales Restrictd' (did you mean 'Sales Restricted'?)" "$T/def.stderr"
check "no results written" [ ! -e "$T/out/def" ]
check "nothing written to the organisation" [ "$(stats | jq .writes.total)" = "$w0" ]

# a default template that does not exist: exit 2, before any request
# (templates are checked offline)
sed -i -e 's|role = "Sales Restrictd"|role = "Sales Restricted"|' -e 's|privileges = "server-side-sync"|privileges = "server-side-snyc"|' "$T/def.cfg"
r0=$(sent)
run_job def
check "unknown default template: exit 2 (got $RC)" [ "$RC" -eq 2 ]
check "the message names the setting" grep -q "setting 'defaults.privileges': no privilege template 'server-side-snyc'" "$T/def.stderr"
check "no request sent for it" [ "$(sent)" = "$r0" ]

# batched: 55 rows naming 55 distinct owners cost two In() lookups of the
# owners (50 names each at most), not one lookup per owner, and the
# actions find the answers without asking again
{
	echo "mailbox,owner"
	jq -r '[.entities.systemusers[] | select(.applicationid == null)][:55][]
		| .internalemailaddress + "," + .domainname' "$T/before.json"
} >"$T/in4.csv"
write_job own "$T/in4.csv" "fix_owner"
g0=$(stats | jq .operations.by_method.GET)
run_job own
g=$(( $(stats | jq .operations.by_method.GET) - g0 ))
check "55 owners: every row ok" jqt "$R" 'length == 55 and all(.[]; .result == "ok")'
# 2 mailbox reads, 2 owner lookups, the probe
check "55 owners: looked up in batches ($g GETs)" [ "$g" -le 5 ]

# check: templates offline
printf 'mailbox,actions,role,privileges\n%s,grant_privileges,R,nosuch\n%s,grant_privileges,R,\n' "$u1" "$u2" >"$T/in3.csv"
write_job chk "$T/in3.csv" "grant_privileges"
"$MBXFIX" check "$T/chk.cfg" >"$T/chk.out" 2>"$T/chk.err"
check "check: an unknown template makes the row invalid (exit 1)" [ $? -eq 1 ]
check "check: the row and the template named" grep -q "row 1 (line 2): column 'privileges': no privilege template 'nosuch'" "$T/chk.err"
sed -i 's|^  privileges = .*|  privileges = "nosuch-default";|' "$T/chk.cfg"
"$MBXFIX" check "$T/chk.cfg" >"$T/chk2.out" 2>"$T/chk2.err"
check "check: an unknown default template is a job error (exit 2)" [ $? -eq 2 ]
check "check: the setting and its line named" grep -q "chk.cfg:[0-9]*: setting 'defaults.privileges': no privilege template 'nosuch-default'" "$T/chk2.err"
finish
