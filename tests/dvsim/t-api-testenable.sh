#!/bin/sh
# Test & Enable over HTTP for every problem kind of the generator: schedule
# it with testemailconfigurationscheduled=true, wait --test-delay-ms, then
# check the three statuses, the cleared flag, the retry count and the
# alerts (tracelogs) with their texts and codes. Also: a delivery method not on
# Server-Side Synchronization is not tested, and the delay is honoured.
. "${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/dvsim/lib.sh"

jb() { jq -r "$1" "$TMP/body"; }

# run_kind MIX TYPE IN OUT ACT TEXT-REGEX
run_kind() {
	start_dvsim "te-$1" --generate 3 --seed 4 --problems "$1=100" --test-delay-ms 1000
	T=$(token)
	M=$(curl -s "$URL/_sim/state" | jq -r '.entities.mailboxes[1].mailboxid')
	st=$(req PATCH "$API/mailboxes($M)" -H "Authorization: Bearer $T" \
		-H 'Content-Type: application/json' -H 'If-Match: *' \
		--data-binary '{"testemailconfigurationscheduled":true}')
	check "$1: scheduled" "$st" 204
	req GET "$API/mailboxes($M)?\$select=testemailconfigurationscheduled,actstatus" -H "Authorization: Bearer $T" >/dev/null
	check "$1: not yet evaluated" "$(jb '.testemailconfigurationscheduled,.actstatus' | tr '\n' ' ')" "true 0 "
	i=0
	while [ $i -lt 50 ]; do
		req GET "$API/mailboxes($M)?\$select=testemailconfigurationscheduled,incomingemailstatus,outgoingemailstatus,actstatus,testemailconfigurationretrycount,testmailboxaccesscompletedon" \
			-H "Authorization: Bearer $T" >/dev/null
		[ "$(jb .testemailconfigurationscheduled)" = false ] && break
		sleep 0.1
		i=$((i + 1))
	done
	check "$1: statuses" "$(jb '[.incomingemailstatus,.outgoingemailstatus,.actstatus] | join(" ")')" "$3 $4 $5"
	check "$1: retry count" "$(jb .testemailconfigurationretrycount)" 1
	check_match "$1: completed on" "$(jb .testmailboxaccesscompletedon)" '^20[0-9-]{8}T[0-9:]{8}Z$'
	req GET "$API/tracelogs?\$select=level,text,errortypedisplay,errordetails&\$filter=_regardingobjectid_value%20eq%20$M&\$orderby=createdon%20desc" \
		-H "Authorization: Bearer $T" >/dev/null
	if [ "$2" = success ]; then
		check "$1: success alert" "$(jb '.value[0].level')" 1
	else
		check "$1: error alert" "$(jb '[.value[] | select(.level == 3)] | length > 0')" true
		check "$1: error code" "$(jb "[.value[] | select(.level == 3) | .errortypedisplay] | index(\"$2\") != null")" true
	fi
	check_match "$1: alert text" "$(jb '[.value[].text] | join(" ")')" "$6"
	[ -n "${7:-}" ] && check_match "$1: alert details" "$(jb '[.value[].errordetails // ""] | join(" ")')" "$7"
	# KB 3212785: a 401 alert does not say its cause
	[ "$2" = "$U401" ] && check "$1: 401 alerts without details" \
		"$(jb "[.value[] | select(.errortypedisplay == \"$U401\") | .errordetails] | all(. == null)")" true
	kill "$PID" 2>/dev/null
	wait "$PID" 2>/dev/null
}

U401="Http server returned 401 Unauthorized exception."
run_kind ok success 1 1 1 "was tested and enabled"
run_kind profile InvalidIncomingEmailServerProfile 2 2 2 \
	"does not have an email server profile associated with it or the email server profile is inactive"
run_kind hybrid "$U401" 2 2 2 "Make sure that the credentials specified in the mailbox"
run_kind owner UserPrivilegeError 1 1 2 "An internal Microsoft Dynamics 365 error occurred while synchronizing appointments, contacts, and tasks"
run_kind privileges Crm.80040220.PrivilegeDenied 1 1 2 "doesn't have sufficient permissions on this mailbox" \
	'Principal user \(Id=[0-9a-f-]{36}, type=8\) is missing prv[A-Za-z]+ privilege \(Id=[0-9a-f-]{36}\)'
# KB 4052727: one alert per direction, each with its code
run_kind approval OutgoingEmailS2SApprovalNeeded 2 2 2 "requires an approval by an Office 365 administrator"
run_kind approval IncomingEmailS2SApprovalNeeded 2 2 2 "Email cannot be received because the email address of the mailbox"
run_kind approval ExchangeSyncEmailS2SApprovalNeeded 2 2 2 "Appointments, contacts, and tasks can't be synchronized because"
run_kind address "$U401" 2 2 2 "credentials specified in the mailbox"
run_kind licence "$U401" 2 2 2 "credentials specified in the mailbox"
run_kind recreated "$U401" 2 2 2 "credentials specified in the mailbox"
run_kind recreated NoUserFoundWithGivenClaims 2 2 2 "NoUserFoundWithGivenClaims" "User does not exist in tenant with id '[0-9a-f-]{36}'"
run_kind impersonation ImpersonationError 2 2 2 "An impersonation error occurred in accessing the mailbox" \
	"The account does not have permission to impersonate the requested user"
run_kind disabled MailboxDisabled 2 2 2 "deactivated or disabled"

# incoming by Outlook, ACT none: only outgoing is tested
start_dvsim te-delivery --generate 3 --seed 4 --problems ok --test-delay-ms 100
T=$(token)
M=$(curl -s "$URL/_sim/state" | jq -r '.entities.mailboxes[1].mailboxid')
check "delivery: set" "$(req PATCH "$API/mailboxes($M)" -H "Authorization: Bearer $T" -H 'Content-Type: application/json' -H 'If-Match: *' \
	--data-binary '{"incomingemaildeliverymethod":1,"actdeliverymethod":2,"testemailconfigurationscheduled":true}')" 204
sleep 0.5
req GET "$API/mailboxes($M)?\$select=incomingemailstatus,outgoingemailstatus,actstatus,testemailconfigurationscheduled" -H "Authorization: Bearer $T" >/dev/null
check "delivery: only SSS directions tested" "$(jb '[.incomingemailstatus,.outgoingemailstatus,.actstatus,.testemailconfigurationscheduled] | join(" ")')" "0 1 0 false"
finish
