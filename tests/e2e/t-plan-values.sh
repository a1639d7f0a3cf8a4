#!/bin/sh
# plan.csv: for every row and action, the value now and the value run
# would leave, in words, checked against dvsim's state read here: profile
# names, delivery methods by name, owner UPNs, the privileges a role
# lacks, approval states, the last test's statuses and, where the latest
# alerts say a test fails for a reason outside Dataverse, that it will
# fail again. The terminal summary groups the changes and counts a role
# once, however many rows name it.
. "$(dirname "$0")/lib-actions.sh"

dvsim_start --generate 150 --seed 11 --test-delay-ms 50
state >"$T/s0.json"
jq -r '.entities.mailboxes[] | .emailaddress' "$T/s0.json" | sed '1i mailbox' >"$T/all.csv"
# every mailbox tested once, so that statuses and alerts exist
write_job tested "$T/all.csv" "test_enable"
run_job tested
state >"$T/s.json"
stats >"$T/st0.json"

write_job plan "$T/all.csv" "fix_owner;set_profile;set_delivery;grant_privileges;approve;test_enable"
sed -i 's/^  privileges = .*/  privileges = "server-side-sync"; role = "Sales Restricted";/' "$T/plan.cfg"
E2E_SECRET=dvsim-demo-secret "$MBXFIX" plan --no-progress "$T/plan.cfg" >"$T/plan.out" 2>"$T/plan.err"
check "plan: exit 0 or 1" [ $? -le 1 ]
P="$T/out/plan/latest-plan/plan.csv"
check "plan.csv written" [ -s "$P" ]
"$CSV2JSON" <"$P" >"$T/p.json"
stats >"$T/st1.json"
check "plan wrote nothing" jqt "$T/st1.json" "$(jq .writes.total "$T/st0.json") == .writes.total"

# join: each plan row with its mailbox in the state
cat >"$T/join.jq" <<'JQ'
($s[0]) as $st |
($st.entities.emailserverprofiles | map({key: .emailserverprofileid, value: .name}) | from_entries) as $prof |
($st.entities.systemusers | map({key: .systemuserid, value: .domainname}) | from_entries) as $upn |
($st.entities.mailboxes | map({key: .mailboxid, value: .}) | from_entries) as $mb |
def inl: ["None", "Outlook", "Server-Side Synchronization", "Forward Mailbox"][.];
def actl: ["Outlook", "Server-Side Synchronization", "None"][.];
def st: ["Not Run", "Success", "Failure"][.];
def appr: ["Empty", "Approved", "Pending Approval", "Rejected"][.];
.[] | . as $r | $mb[$r.mailbox_id] as $m | {r: $r, m: $m,
  profile_now: (if $m._emailserverprofile_value then $prof[$m._emailserverprofile_value] else "(none)" end),
  delivery_now: "incoming \($m.incomingemaildeliverymethod | inl), outgoing \($m.outgoingemaildeliverymethod | inl), ACT \($m.actdeliverymethod | actl)",
  owner_now: ($upn[$m._ownerid_value] // $m._ownerid_value),
  owner_then: ($upn[$m._regardingobjectid_value] // null),
  approve_now: ($m.emailrouteraccessapproval | appr),
  test_now: "incoming \($m.incomingemailstatus | st), outgoing \($m.outgoingemailstatus | st), ACT \($m.actstatus | st)"}
JQ
jq -c --slurpfile s "$T/s.json" -f "$T/join.jq" "$T/p.json" >"$T/j.json"
n=$(wc -l <"$T/j.json")
check "every row joined ($n)" [ "$n" -eq "$(jq length "$T/p.json")" ]
all() { [ "$(jq -s "all(.[]; $1)" "$T/j.json")" = true ]; }
check "set_profile_now: the profile's name in dvsim" all '.r.set_profile_now == .profile_now'
check "set_profile_then: the target profile" all '.r.set_profile_then == "Microsoft Exchange Online"'
check "set_profile would-change exactly where now differs from then" all '(.r.set_profile == "would-change") == (.profile_now != "Microsoft Exchange Online")'
check "set_delivery_now: the three methods by name" all '.r.set_delivery_now == .delivery_now'
check "set_delivery_then: Server-Side Synchronization for all three" all '.r.set_delivery_then == "incoming Server-Side Synchronization, outgoing Server-Side Synchronization, ACT Server-Side Synchronization"'
check "fix_owner_now: the owner's UPN" all '.r.fix_owner == "" or .r.fix_owner == "unchanged" and .r.fix_owner_now == "" or .r.fix_owner_now == .owner_now'
check "fix_owner_then: the mailbox user's UPN (user mailboxes)" all '.owner_then == null or .r.fix_owner_then == .owner_then'
check "approve_now: the approval state" all '.r.approve_now == .approve_now'
check "approve_then: Approved (this caller has the approver's roles)" all '.r.approve_then == "Approved"'
check "test_enable_now: the last test's statuses" all '.r.test_enable_now == .test_now'

# the role: the privileges it lacks, from dvsim's role privileges
RID=$(jq -r '.entities.roles[] | select(.name == "Sales Restricted" and ._parentrootroleid_value == .roleid or (.name == "Sales Restricted" and ._parentrootroleid_value == null)) | .roleid' "$T/s.json" | head -n 1)
lacks=$(jq -r '.[0].grant_privileges_now' "$T/p.json")
check "grant_privileges_now names the role and what it lacks ($lacks)" sh -c "echo \"$lacks\" | grep -q '^role Sales Restricted lacks [0-9]*: prv'"
for p in $(echo "$lacks" | sed 's/^[^:]*://; s/,/\n/g' | awk '{print $1}'); do
	pid=$(jq -r --arg n "$p" '.entities.privileges[] | select(.name == $n) | .privilegeid' "$T/s.json")
	held=$(jq --arg r "$RID" --arg p "$pid" '[.entities.roleprivilegescollection[] | select(.roleid == $r and .privilegeid == $p and (.privilegedepthmask // 0) > 0 and (.privilegedepthmask // 0) < 16)] | length' "$T/s.json")
	check "role Sales Restricted does not hold $p in dvsim" [ "$held" = 0 ]
done
check "grant_privileges_then: +N privileges" jqt "$T/p.json" 'all(.[]; .grant_privileges_then | test("^role Sales Restricted: \\+[0-9]+ privileges?$"))'
check "summary: the role counted once, not per row" grep -q "grant_privileges would change 1 role ($(jq length "$T/p.json") rows)" "$T/plan.out"
check "summary: grouped profile changes" grep -q "mailboxes: Exchange Server (Hybrid) -> Microsoft Exchange Online" "$T/plan.out"

# prediction: failures outside Dataverse (no licence, another address,
# recreated user) are predicted to fail again; nothing else is but an
# Exchange impersonation right and a disabled user, which no write of the
# job fixes either
cat >"$T/out.jq" <<'JQ'
($s[0]) as $st | .[] | . as $r |
($st.entities.mailboxes[] | select(.mailboxid == $r.mailbox_id)) as $m |
($st.simulator.exchange[$m._regardingobjectid_value] // null) as $x |
{pred: ($r.test_enable_then | startswith("fails again")),
 failed: ($m.incomingemailstatus == 2 or $m.outgoingemailstatus == 2),
 outside: ($x != null and ($x.licensed == false or $x.recreated == true or ($x.address | ascii_downcase) != ($m.emailaddress | ascii_downcase))),
 maybe: (($x != null and $x.location == "onprem") or ($st.entities.systemusers[] | select(.systemuserid == $m._regardingobjectid_value) | .isdisabled == true)) }
JQ
jq -c --slurpfile s "$T/s.json" -f "$T/out.jq" "$T/p.json" >"$T/pred.json"
check "some failures predicted to fail again" [ "$(jq -s '[.[] | select(.pred)] | length' "$T/pred.json")" -gt 0 ]
check "every failed mailbox with no licence, another address or a recreated user is predicted to fail again" \
	[ "$(jq -s 'all(.[] | select(.failed and .outside); .pred)' "$T/pred.json")" = true ]
check "no prediction of failure for a cause Dataverse can fix" \
	[ "$(jq -s 'all(.[] | select(.pred); .outside or .maybe)' "$T/pred.json")" = true ]
finish
