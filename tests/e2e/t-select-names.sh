#!/bin/sh
# Names typed by people are matched as the admin center matches them:
# case and surrounding blanks ignored, in the job's defaults, in the rows
# and in a selection; an unknown one says "did you mean".
. "$(dirname "$0")/lib-actions.sh"

dvsim_start --generate 40 --seed 13 --test-delay-ms 50
state >"$T/s.json"
jq -r '.entities.mailboxes[:10][] | .emailaddress' "$T/s.json" | sed '1i mailbox' >"$T/in.csv"

write_job n1 "$T/in.csv" "set_profile;grant_privileges"
sed -i 's/^  profile = .*/  profile = "  microsoft EXCHANGE online ";/; s/^  privileges = .*/  privileges = "server-side-sync"; role = " sales RESTRICTED  ";/' "$T/n1.cfg"
E2E_SECRET=dvsim-demo-secret "$MBXFIX" plan --no-progress "$T/n1.cfg" >"$T/n1.out" 2>&1
check "defaults with other case and blanks: plan exit 0" [ $? -eq 0 ]
"$CSV2JSON" <"$T/out/n1/latest-plan/plan.csv" >"$T/n1.json"
check "the profile is found" jqt "$T/n1.json" 'all(.[]; .set_profile_then == "Microsoft Exchange Online")'
check "the role is found" jqt "$T/n1.json" 'all(.[]; .grant_privileges_now | startswith("role Sales Restricted"))'

# in a row: another case and blanks
first=$(sed -n 2p "$T/in.csv")
printf 'mailbox,profile\n%s," exchange server (hybrid) "\n' "$first" >"$T/row.csv"
write_job n2 "$T/row.csv" "set_profile"
E2E_SECRET=dvsim-demo-secret "$MBXFIX" plan --no-progress "$T/n2.cfg" >/dev/null 2>&1
"$CSV2JSON" <"$T/out/n2/latest-plan/plan.csv" >"$T/n2.json"
check "a row's profile in another case" jqt "$T/n2.json" '.[0].set_profile_then == "Exchange Server (Hybrid)" and .[0].result == "ok"'

# unknown names: did you mean
write_job n3 "$T/in.csv" "grant_privileges"
sed -i 's/^  privileges = .*/  privileges = "server-side-sync"; role = "Sales Restricetd";/' "$T/n3.cfg"
E2E_SECRET=dvsim-demo-secret "$MBXFIX" plan --no-progress "$T/n3.cfg" >"$T/n3.out" 2>"$T/n3.err"
check "misspelt role: did you mean" grep -q "did you mean 'Sales Restricted'" "$T/n3.err"
write_job n4 "" "set_delivery"
sed -i '/^input = /d' "$T/n4.cfg"
E2E_SECRET=dvsim-demo-secret "$MBXFIX" plan --no-progress --where 'business_unit=Sale' "$T/n4.cfg" >"$T/n4.out" 2>"$T/n4.err"
check "misspelt business unit: exit 2" [ $? -eq 2 ]
check "misspelt business unit: did you mean" grep -q "did you mean 'Sales'" "$T/n4.err"
finish
