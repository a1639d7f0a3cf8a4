#!/bin/sh
# test_enable alone on mailboxes with each problem mbxfix can fix: every
# row fails with the code of its cause and a hint naming the action that
# fixes it (and the missing privilege for PrivilegeDenied), so the admin
# can put it in the CSV; nothing but the test request is written.
. "$(dirname "$0")/lib-actions.sh"

dvsim_start --generate 60 --seed 9 --test-delay-ms 100 \
	--problems "profile=20,hybrid=15,owner=20,privileges=20,approval=15,delivery=10"
state >"$T/before.json"
sh jobs/demo-input.sh <"$T/before.json" | sed 's/,fix_owner;set_profile;set_delivery;approve;test_enable,/,test_enable,/' >"$T/in.csv"
write_job diag "$T/in.csv" "test_enable"
run_job diag
stats >"$T/stats.json"

jq '
  .entities as $e
  | ($e.systemusers | map({key: .systemuserid, value: .}) | from_entries) as $u
  | ($e.emailserverprofiles | map({key: .emailserverprofileid, value: .}) | from_entries) as $p
  | ($e.roles | map({key: .roleid, value: .name}) | from_entries) as $rn
  | ($e.systemuserrolescollection | map({key: .systemuserid, value: $rn[.roleid]}) | from_entries) as $ur
  | [$e.mailboxes[] | select($u[._regardingobjectid_value] != null)
     | ._regardingobjectid_value as $r
     | {key: .emailaddress, value:
         (if ._emailserverprofile_value == null or $p[._emailserverprofile_value].statecode == 1 then "profile"
          elif $p[._emailserverprofile_value].servertype == 2 then "hybrid"
          elif .emailrouteraccessapproval != 1 then "approval"
          elif .incomingemaildeliverymethod != 2 or .outgoingemaildeliverymethod != 2 then "delivery"
          elif .actdeliverymethod != 1 then "act-off"
          elif ._ownerid_value != $r then "owner"
          elif ($ur[$r] == "Sales Restricted" or $ur[$r] == "Field Service Lite") then "privileges"
          else "ok" end)}]
  | from_entries' "$T/before.json" >"$T/cause.json"
jq --slurpfile c "$T/cause.json" '[.[] | . + {cause: ($c[0][.mailbox] // "queue")}]' "$R" >"$T/rc.json"

kind() { jqt "$T/rc.json" "[.[] | select(.cause == \"$1\")] | length > 0 and all(.[]; $2)"; }
check "exit 1" [ "$RC" -eq 1 ]
check "healthy and ACT-off rows ok" jqt "$T/rc.json" \
	'all(.[] | select(.cause == "ok" or .cause == "act-off" or .cause == "queue"); .result == "ok" and .test_enable == "done")'
check "no or inactive profile: InvalidEmailServerProfile, set_profile" kind profile \
	'.error_code == "InvalidEmailServerProfile" and (.hint | test("action set_profile"))'
check "Hybrid profile: Unauthorized, set_profile to Exchange Online" kind hybrid \
	'.error_code == "Unauthorized" and (.hint | test("action set_profile with profile=Microsoft Exchange Online"))'
check "not approved: EmailAddressNotApproved, approve" kind approval \
	'.error_code == "EmailAddressNotApproved" and (.hint | test("action approve"))'
check "owner: UserPrivilegeError, fix_owner" kind owner \
	'.error_code == "UserPrivilegeError" and (.hint | test("action fix_owner")) and .act_status == "failure" and .incoming_status == "success"'
check "privileges: PrivilegeDenied naming the privilege, the user's role, grant_privileges" kind privileges \
	'.error_code == "PrivilegeDenied" and (.hint | test("lacks prv[A-Za-z]+: grant it")) and (.hint | test("grant_privileges with role=(Sales Restricted|Field Service Lite) and privileges=prv")) and (.error_message | test("is missing prv"))'
check "delivery not on Server-Side Sync: set_delivery" kind delivery \
	'.error_code == "DeliveryMethod" and (.hint | test("set_delivery"))'
check "only the test requests were written" jqt "$T/stats.json" \
	".writes.total == $(jq length "$R") and (.writes.by_action.AddPrivilegesRole // 0) == 0"
finish
