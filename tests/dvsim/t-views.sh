#!/bin/sh
# dvsim's saved and personal views of mailboxes, GET mailboxes?fetchXml=
# (the FetchXML subset of docs/fidelity.md, paging cookie included), the
# organisation's default email settings, and --tested: a generated
# organisation whose mailboxes were tested before, the same for a seed.
. "${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/dvsim/lib.sh"

start_dvsim a --generate 40 --seed 3
TOK=$(token)
AUTH="Authorization: Bearer $TOK"
api() {
	p=$1
	shift
	req GET "api/data/v9.2/$p" -H "$AUTH" "$@"
}
enc() { jq -rn --arg s "$1" '$s | @uri'; }
curl -s "$URL/_sim/state" >"$TMP/s.json"

check "system views of mailboxes" "$(api "savedqueries?\$select=name&\$filter=returnedtypecode%20eq%20'mailbox'")" 200
check "two system views" "$(jq '.value | length' "$TMP/body")" 2
check "personal views" "$(api "userqueries?\$select=name,fetchxml")" 200
check_match "a personal view's FetchXML" "$(jq -r '.value[0].fetchxml' "$TMP/body")" '^<fetch>.*emailserverprofile'

# eq, or, nested filters, in
fx='<fetch><entity name="mailbox"><attribute name="name" /><filter type="or"><condition attribute="incomingemaildeliverymethod" operator="ne" value="2" /><condition attribute="actdeliverymethod" operator="in"><value>0</value><value>2</value></condition></filter></entity></fetch>'
check "fetchXml query" "$(api "mailboxes?fetchXml=$(enc "$fx")")" 200
got=$(jq -c '[.value[].mailboxid] | sort' "$TMP/body")
want=$(jq -c '[.entities.mailboxes[] | select(.incomingemaildeliverymethod != 2 or .actdeliverymethod == 0 or .actdeliverymethod == 2) | .mailboxid] | sort' "$TMP/s.json")
check "or of ne and in: the matching mailboxes" "$got" "$want"
check "only the attributes asked, and the key" "$(jq -c '.value[0] | keys' "$TMP/body")" '["@odata.etag","mailboxid","name"]'
fx='<fetch><entity name="mailbox"><filter><condition attribute="emailserverprofile" operator="null" /></filter></entity></fetch>'
api "mailboxes?fetchXml=$(enc "$fx")" >/dev/null
check "null on a lookup by its logical name" "$(jq -c '[.value[].mailboxid] | sort' "$TMP/body")" \
	"$(jq -c '[.entities.mailboxes[] | select(._emailserverprofile_value == null) | .mailboxid] | sort' "$TMP/s.json")"

# paging: 7 a page, the cookie and morerecords when asked
fx='<fetch count="7"><entity name="mailbox"><attribute name="name" /></entity></fetch>'
api "mailboxes?fetchXml=$(enc "$fx")" -H 'Prefer: odata.include-annotations="Microsoft.Dynamics.CRM.fetchxmlpagingcookie,Microsoft.Dynamics.CRM.morerecords"' >/dev/null
check "a page of 7" "$(jq '.value | length' "$TMP/body")" 7
check "morerecords" "$(jq '."@Microsoft.Dynamics.CRM.morerecords"' "$TMP/body")" true
check_match "the paging cookie, encoded twice" "$(jq -r '."@Microsoft.Dynamics.CRM.fetchxmlpagingcookie"' "$TMP/body")" '^<cookie pagenumber="2" pagingcookie="%253Ccookie'
n=$(jq '.entities.mailboxes | length' "$TMP/s.json")
last=$(( (n + 6) / 7 ))
fx="<fetch count=\"7\" page=\"$last\"><entity name=\"mailbox\"><attribute name=\"name\" /></entity></fetch>"
api "mailboxes?fetchXml=$(enc "$fx")" -H 'Prefer: odata.include-annotations="*"' >/dev/null
check "the last page" "$(jq '.value | length' "$TMP/body")" "$(( n - (last - 1) * 7 ))"
check "no more records after it" "$(jq '."@Microsoft.Dynamics.CRM.morerecords"' "$TMP/body")" false
check "no annotations unless asked" "$(api "mailboxes?fetchXml=$(enc "$fx")"; jq 'has("@Microsoft.Dynamics.CRM.morerecords")' "$TMP/body")" "200false"

# refused
check "another entity than the set: 400" "$(api "mailboxes?fetchXml=$(enc '<fetch><entity name="queue" /></fetch>')")" 400
check "an unknown attribute: 400" "$(api "mailboxes?fetchXml=$(enc '<fetch><entity name="mailbox"><attribute name="nope" /></entity></fetch>')")" 400
check_match "its message" "$(jq -r .error.message "$TMP/body")" "doesn't contain attribute with Name = 'nope'"
check "an operator dvsim does not play: 400" "$(api "mailboxes?fetchXml=$(enc '<fetch><entity name="mailbox"><filter><condition attribute="name" operator="like" value="a%" /></filter></entity></fetch>')")" 400
check "not XML: 400" "$(api "mailboxes?fetchXml=$(enc '<fetch><entity name="mailbox">')")" 400

# the organisation's default email settings
api "organizations?\$select=_defaultemailserverprofileid_value,defaultemailsettings" >/dev/null
check "default profile: Microsoft Exchange Online" "$(jq -r '.value[0]._defaultemailserverprofileid_value' "$TMP/body")" \
	"$(jq -r '.entities.emailserverprofiles[] | select(.name == "Microsoft Exchange Online") | .emailserverprofileid' "$TMP/s.json")"
check_match "default delivery methods" "$(jq -r '.value[0].defaultemailsettings' "$TMP/body")" '<IncomingEmailDeliveryMethod>2</IncomingEmailDeliveryMethod>'

# --tested: statuses and alerts at start, the same for the same seed
check "without --tested, nothing tested" "$(jq '[.entities.mailboxes[] | select(.testmailboxaccesscompletedon != null)] | length' "$TMP/s.json")" 0
start_dvsim b --generate 40 --seed 3 --tested
curl -s "$URL/_sim/state" >"$TMP/t1.json"
start_dvsim c --generate 40 --seed 3 --tested
curl -s "$URL/_sim/state" >"$TMP/t2.json"
check "--tested: every mailbox tested" "$(jq '[.entities.mailboxes[] | select(.testmailboxaccesscompletedon == null)] | length' "$TMP/t1.json")" 0
check "--tested: failures with their alerts" "$(jq '[.entities.tracelogs[] | select(.level == 3)] | length > 0' "$TMP/t1.json")" true
check "--tested: the same statuses for the same seed" \
	"$(jq -c '[.entities.mailboxes[] | [.mailboxid, .incomingemailstatus, .outgoingemailstatus, .actstatus]]' "$TMP/t1.json")" \
	"$(jq -c '[.entities.mailboxes[] | [.mailboxid, .incomingemailstatus, .outgoingemailstatus, .actstatus]]' "$TMP/t2.json")"
check "--tested: the same alerts for the same seed" \
	"$(jq -c '[.entities.tracelogs[] | [._regardingobjectid_value, .level, .text]] | sort' "$TMP/t1.json")" \
	"$(jq -c '[.entities.tracelogs[] | [._regardingobjectid_value, .level, .text]] | sort' "$TMP/t2.json")"
check "--tested: the organisation is the seed's" \
	"$(jq -c '[.entities.mailboxes[] | [.mailboxid, ._emailserverprofile_value, .incomingemaildeliverymethod]]' "$TMP/t1.json")" \
	"$(jq -c '[.entities.mailboxes[] | [.mailboxid, ._emailserverprofile_value, .incomingemaildeliverymethod]]' "$TMP/s.json")"
check "--tested with --org: exit 2" "$("$DVSIM" --org x.json --tested >/dev/null 2>&1; echo $?)" 2
finish
