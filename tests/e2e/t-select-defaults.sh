#!/bin/sh
# apply_defaults: the organisation's default email server profile and
# delivery methods (read from the organization row, as the admin center's
# Apply Default Email Settings does), over a selection; with test_enable,
# the profile-wide Test & Enable of the admin center.
. "$(dirname "$0")/lib-actions.sh"

dvsim_start --generate 120 --seed 9 --test-delay-ms 50
state >"$T/s0.json"
ORG=$(jq -r '.entities.organizations[0].organizationid' "$T/s0.json")
pid() { jq -r --arg n "$1" '.entities.emailserverprofiles[] | select(.name == $n) | .emailserverprofileid' "$T/s0.json"; }
HYB=$(pid "Exchange Server (Hybrid)")
ONLINE=$(pid "Microsoft Exchange Online")
DC=$(pid "Exchange On-Premises (Contoso DC)")

noinput_job() {
	write_job "$1" "" "$2" "${3:-}"
	sed -i '/^input = /d' "$T/$1.cfg"
}

# 1. other defaults than the generator's, to see that they are read
check "setup: org defaults changed" api_patch "organizations($ORG)" \
	"{\"defaultemailserverprofileid@odata.bind\": \"/emailserverprofiles($DC)\", \"defaultemailsettings\": \"<EmailSettings><IncomingEmailDeliveryMethod>1</IncomingEmailDeliveryMethod><OutgoingEmailDeliveryMethod>1</OutgoingEmailDeliveryMethod><ACTDeliveryMethod>0</ACTDeliveryMethod></EmailSettings>\"}"
sel=$(jq -c --arg p "$HYB" '[.entities.mailboxes[] | select(._emailserverprofile_value == $p) | .mailboxid] | sort' "$T/s0.json")
noinput_job d1 "apply_defaults"
E2E_SECRET=dvsim-demo-secret "$MBXFIX" plan --no-progress --where 'profile=Exchange Server (Hybrid)' "$T/d1.cfg" >"$T/d1p.out" 2>&1
"$CSV2JSON" <"$T/out/d1/latest-plan/plan.csv" >"$T/d1p.json"
check "plan of apply_defaults shows the organisation's profile" jqt "$T/d1p.json" 'length > 0 and all(.[]; .set_profile_then == "Exchange On-Premises (Contoso DC)")'
check "plan of apply_defaults shows its delivery methods" jqt "$T/d1p.json" 'all(.[]; .set_delivery_then == "incoming Outlook, outgoing Outlook, ACT Outlook")'
E2E_SECRET=dvsim-demo-secret "$MBXFIX" run --no-progress --where 'profile=Exchange Server (Hybrid)' "$T/d1.cfg" >"$T/d1.out" 2>&1
check "apply_defaults run: exit 0" [ $? -eq 0 ]
state >"$T/s1.json"
check "every selected mailbox has the organisation's default profile and methods" [ "$(jq -c --arg p "$DC" --argjson ids "$sel" \
	'[.entities.mailboxes[] | select(.mailboxid as $i | $ids | index($i)) | select(._emailserverprofile_value == $p and .incomingemaildeliverymethod == 1 and .outgoingemaildeliverymethod == 1 and .actdeliverymethod == 0) | .mailboxid] | sort' "$T/s1.json")" = "$sel" ]
check "no other mailbox changed" [ "$(jq -c --argjson ids "$sel" '[.entities.mailboxes[] | select(.mailboxid as $i | $ids | index($i) | not) | [.mailboxid, ._emailserverprofile_value, .incomingemaildeliverymethod, .outgoingemaildeliverymethod, .actdeliverymethod]] | sort' "$T/s1.json")" = \
	"$(jq -c --argjson ids "$sel" '[.entities.mailboxes[] | select(.mailboxid as $i | $ids | index($i) | not) | [.mailboxid, ._emailserverprofile_value, .incomingemaildeliverymethod, .outgoingemaildeliverymethod, .actdeliverymethod]] | sort' "$T/s0.json")" ]

# 2. back to Exchange Online defaults; Apply Default Email Settings and
# Test & Enable over every mailbox of the on-premises profile
api_patch "organizations($ORG)" \
	"{\"defaultemailserverprofileid@odata.bind\": \"/emailserverprofiles($ONLINE)\", \"defaultemailsettings\": \"<EmailSettings><IncomingEmailDeliveryMethod>2</IncomingEmailDeliveryMethod><OutgoingEmailDeliveryMethod>2</OutgoingEmailDeliveryMethod><ACTDeliveryMethod>1</ACTDeliveryMethod></EmailSettings>\"}"
noinput_job d2 "apply_defaults;test_enable"
printf 'select = { profile = "exchange on-premises (contoso dc)"; };\n' >>"$T/d2.cfg"
E2E_SECRET=dvsim-demo-secret "$MBXFIX" run --no-progress "$T/d2.cfg" >"$T/d2.out" 2>&1
check "profile-wide apply_defaults + Test & Enable: exit 0" [ $? -eq 0 ]
state >"$T/s2.json"
check "every one of them tested and healthy on Exchange Online" [ "$(jq -c --arg p "$ONLINE" --argjson ids "$sel" \
	'[.entities.mailboxes[] | select(.mailboxid as $i | $ids | index($i)) | select(._emailserverprofile_value == $p and .incomingemailstatus == 1 and .outgoingemailstatus == 1 and .testemailconfigurationretrycount > 0) | .mailboxid] | sort' "$T/s2.json")" = "$sel" ]

# 3. apply_defaults in a CSV row, and an organisation without defaults
jq -r --argjson ids "$sel" '.entities.mailboxes[] | select(.mailboxid as $i | $ids | index($i)) | .emailaddress' "$T/s2.json" | head -n 3 | sed '1i mailbox,actions' | sed '2,$s/$/,apply_defaults/' >"$T/rows.csv"
api_patch "organizations($ORG)" '{"defaultemailserverprofileid@odata.bind": null}' ||
	api_patch "organizations($ORG)" '{"_defaultemailserverprofileid_value": null}'
write_job d3 "$T/rows.csv" "set_delivery"
run_job d3
check "no default profile: the rows fail with NoDefaultProfile" jqt "$R" 'length == 3 and all(.[]; .error_code == "NoDefaultProfile" and .set_profile == "failed")'
check "check accepts apply_defaults rows" "$MBXFIX" check -q "$T/d3.cfg"
finish
