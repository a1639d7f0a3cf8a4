#!/bin/sh
# The problems mbxfix can only explain: no Exchange Online licence, an
# address that differs from Exchange's, a user deleted and recreated, a
# disabled user, an on-premises profile whose account may not
# impersonate. Each row ends failed at test_enable with the code of its
# alert and the hint of the support articles (a 401 names no cause: the
# hint lists the causes that remain), and the statuses it got.
. "$(dirname "$0")/lib-actions.sh"

dvsim_start --generate 60 --seed 3 --test-delay-ms 100 \
	--problems "address=20,licence=20,impersonation=20,disabled=20,recreated=20"
state >"$T/before.json"
sh jobs/demo-input.sh <"$T/before.json" >"$T/in.csv"
write_job unfix "$T/in.csv"
run_job unfix

# The cause of each user mailbox, from dvsim's organisation.
jq '
  .entities as $e | .simulator.exchange as $x
  | ($e.systemusers | map({key: .systemuserid, value: .}) | from_entries) as $u
  | ($e.emailserverprofiles | map({key: .emailserverprofileid, value: .name}) | from_entries) as $p
  | [$e.mailboxes[] | select($u[._regardingobjectid_value] != null)
     | ._regardingobjectid_value as $r
     | {key: .emailaddress, value:
         (if $u[$r].isdisabled then "disabled"
          elif $x[$r].recreated then "recreated"
          elif $x[$r].licensed == false then "licence"
          elif $x[$r].location == "onprem" then "impersonation"
          elif ($x[$r].address | ascii_downcase) != (.emailaddress | ascii_downcase) then "address"
          else "ok" end)}]
  | from_entries' "$T/before.json" >"$T/cause.json"

jq --slurpfile c "$T/cause.json" '[.[] | . + {cause: ($c[0][.mailbox] // "queue")}]' "$R" >"$T/rc.json"

check "exit 1" [ "$RC" -eq 1 ]
check "every kind present" jqt "$T/rc.json" \
	'[.[].cause] | unique | contains(["address","disabled","impersonation","licence","recreated"])'
check "healthy rows and queues ok" jqt "$T/rc.json" \
	'all(.[] | select(.cause == "ok" or .cause == "queue"); .result == "ok")'
check "each problem row failed at test_enable, earlier actions not failed" jqt "$T/rc.json" \
	'all(.[] | select(.cause != "ok" and .cause != "queue"); .result == "failed" and .test_enable == "failed" and .set_profile != "failed" and .approve != "failed")'
# KB 3212785: a 401 does not say its cause; on an Exchange Online
# profile the hint lists the four that remain, most likely first.
check "no licence and address: Unauthorized, the Exchange Online causes listed" jqt "$T/rc.json" \
	'[.[] | select(.cause == "licence" or .cause == "address")] | length > 0 and all(.[]; .error_code == "Unauthorized" and (.hint | test("with an Exchange Online profile")) and (.hint | test("[(]1[)] the mailbox.s email address differs from the Exchange mailbox")) and (.hint | test("[(]2[)] the user has no Exchange Online licence")) and (.hint | test("Basic authentication") | not) and .outgoing_status == "failure")'
check "recreated: NoUserFoundWithGivenClaims, permanently deleted hint" jqt "$T/rc.json" \
	'all(.[] | select(.cause == "recreated"); .error_code == "NoUserFoundWithGivenClaims" and (.hint | test("permanently deleted")))'
check "impersonation: ImpersonationError, Exchange hint" jqt "$T/rc.json" \
	'all(.[] | select(.cause == "impersonation"); .error_code == "ImpersonationError" and (.hint | test("impersonation rights in Exchange")))'
check "disabled: MailboxDisabled" jqt "$T/rc.json" \
	'all(.[] | select(.cause == "disabled"); .error_code == "MailboxDisabled" and (.hint | test("enable the user")))'
check "error_message carries the alert text" jqt "$T/rc.json" \
	'all(.[] | select(.cause == "licence"); .error_message | test("credentials specified in the mailbox"))'
check "statuses reported on failed rows" jqt "$T/rc.json" \
	'all(.[] | select(.result == "failed"); .incoming_status != "" and .outgoing_status != "" and .act_status != "")'
check "failed.csv lists exactly the failed rows" \
	[ "$(($(wc -l <"$T/out/unfix/latest/failed.csv") - 1))" -eq "$(jq '[.[] | select(.result == "failed")] | length' "$R")" ]

# Test again: a recurring alert is not written anew (its modifiedon
# advances), and the second test may complete in the same second as the
# first; the diagnosis must be the same.
cp "$R" "$T/first.json"
sed 's/,fix_owner;set_profile;set_delivery;approve;test_enable,/,test_enable,/' "$T/in.csv" >"$T/again.csv"
write_job again "$T/again.csv" "test_enable"
run_job again
check "re-test: same outcome and error_code on every row" jqt "$R" \
	"[.[] | [.mailbox, .result, .error_code]] == $(jq -c '[.[] | [.mailbox, .result, .error_code]]' "$T/first.json")"
finish
