#!/bin/sh
# Web API reads (docs/fidelity.md): $select, $filter (percent-encoded, In(),
# functions, lookups), $expand, $orderby, $top, paging with
# odata.maxpagesize and @odata.nextLink, annotations, the error JSON of
# unknown sets, columns and bad filters.
. "${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/dvsim/lib.sh"

start_dvsim r --generate 23 --seed 5
TOK=$(token)
AUTH="Authorization: Bearer $TOK"
STATE=$(curl -s "$URL/_sim/state")
get() {
	p1=$1
	shift
	req GET "$API/$p1" -H "$AUTH" "$@"
}
jb() { jq -r "$1" "$TMP/body"; }

NMBX=$(printf '%s' "$STATE" | jq '.entities.mailboxes | length')
A1=$(printf '%s' "$STATE" | jq -r '.entities.mailboxes[1].emailaddress')
A2=$(printf '%s' "$STATE" | jq -r '.entities.mailboxes[2].emailaddress')
M1=$(printf '%s' "$STATE" | jq -r '.entities.mailboxes[1].mailboxid')

check "select: 200" "$(get 'mailboxes?$select=name,emailaddress&$top=2')" 200
check "select: two rows" "$(jb '.value | length')" 2
check "select: only the asked columns, key and etag" \
	"$(jb '.value[0] | keys | join(",")')" "@odata.etag,emailaddress,mailboxid,name"
check_match "select: context" "$(jb '."@odata.context"')" '/api/data/v9\.2/\$metadata#mailboxes\(name,emailaddress\)$'

check "unknown column: 400" "$(get 'mailboxes?$select=name,nosuch')" 400
check "unknown column: code" "$(jb .error.code)" 0x80060888
check "unknown column: message" "$(jb .error.message)" \
	"Could not find a property named 'nosuch' on type 'Microsoft.Dynamics.CRM.mailbox'."
check "unknown set: 404" "$(get 'nosuchset')" 404
check "unknown set: message" "$(jb .error.message)" "Resource not found for the segment 'nosuchset'."
check "bad filter: 400" "$(get 'mailboxes?$filter=name%20eq')" 400
check_match "bad filter: syntax error" "$(jb .error.message)" '^Syntax error at position'
check "bad filter types: 400" "$(get 'mailboxes?$filter=incomingemaildeliverymethod%20eq%20%27x%27')" 400

# percent-encoded equality on the address, and case-insensitive
UP=$(printf '%s' "$A1" | tr a-z A-Z)
check "filter by address: 200" "$(get "mailboxes?\$select=mailboxid&\$filter=emailaddress%20eq%20%27$UP%27")" 200
check "filter by address: the row" "$(jb '.value[0].mailboxid')" "$M1"
check "In(): two of three" "$(get "mailboxes?\$select=emailaddress&\$filter=Microsoft.Dynamics.CRM.In(PropertyName=%27emailaddress%27,PropertyValues=%5B%27$A1%27,%27nobody%40x.y%27,%27$A2%27%5D)")" 200
check "In(): count" "$(jb '.value | length')" 2
check "In() with aliases" "$(get "mailboxes?\$select=emailaddress&\$filter=Microsoft.Dynamics.CRM.In(PropertyName=@p1,PropertyValues=@p2)&@p1=%27emailaddress%27&@p2=%5B%22$A1%22%5D")" 200
check "In() with aliases: count" "$(jb '.value | length')" 1
# PropertyValues is JSON (docs/fidelity.md): a value holding ' is written
# in double quotes; the doubled quote of a single literal is refused.
M3=$(printf '%s' "$STATE" | jq -r '.entities.mailboxes[3].mailboxid')
check "odd address set" "$(req PATCH "$API/mailboxes($M3)" -H "$AUTH" -H 'Content-Type: application/json' -H 'If-Match: *' -d "{\"emailaddress\":\"o'b;r+x&y#z%@contoso.com\"}")" 204
ODD='%22o%27b%3Br%2Bx%26y%23z%25%40contoso.com%22'
check "In(): JSON strings" "$(get "mailboxes?\$select=mailboxid&\$filter=Microsoft.Dynamics.CRM.In(PropertyName=%27emailaddress%27,PropertyValues=%5B%22$A1%22,$ODD%5D)")" 200
check "In(): JSON strings: both rows" "$(jb '[.value[].mailboxid] | sort | join(",")')" \
	"$(printf '%s' "$STATE" | jq -r "[.entities.mailboxes[1,3].mailboxid] | sort | join(\",\")")"
check "In(): doubled quote refused" "$(get "mailboxes?\$select=mailboxid&\$filter=Microsoft.Dynamics.CRM.In(PropertyName=%27emailaddress%27,PropertyValues=%5B%27$A1%27,%27o%27%27b%40x.y%27%5D)")" 400
check "In(): doubled quote: message" "$(jb .error.message)" \
	"Invalid JSON. A comma character ',' was expected in scope 'Array'. Every two elements in an array and properties of an object must be separated by commas."
# <set>/$count: the number, as plain text
check "\$count: 200" "$(get 'mailboxes/$count')" 200
check "\$count: the number of mailboxes" "$(cat "$TMP/body")" "$NMBX"
check_match "\$count: plain text" "$(hdr Content-Type)" '^text/plain'
check "\$count with \$filter" "$(get "mailboxes/\$count?\$filter=emailaddress%20eq%20%27$A2%27")" 200
check "\$count with \$filter: 1" "$(cat "$TMP/body")" 1
check "startswith/and/not" "$(get 'mailboxes?$select=emailaddress&$filter=startswith(emailaddress,%27admin%27)%20and%20not%20(statecode%20eq%201)')" 200
check "startswith: admin" "$(jb '.value[0].emailaddress')" admin@contoso.com
OWNER=$(printf '%s' "$STATE" | jq -r '.entities.mailboxes[1]._ownerid_value')
check "lookup filter" "$(get "mailboxes?\$select=name&\$filter=_ownerid_value%20eq%20$OWNER")" 200
check_match "lookup filter: rows" "$(jb '.value | length')" '^[1-9]'

# $orderby and $top
check "orderby desc" "$(get 'mailboxes?$select=emailaddress&$orderby=emailaddress%20desc&$top=5')" 200
check "orderby: sorted" "$(jb '[.value[].emailaddress] == ([.value[].emailaddress] | sort | reverse)')" true
check "top: 5" "$(jb '.value | length')" 5

# paging
PAGES=0 SEEN=0 NEXT="$URL/$API/mailboxes?\$select=name"
while [ -n "$NEXT" ] && [ $PAGES -lt 50 ]; do
	curl -s -o "$TMP/body" -D "$TMP/hdr" -H "$AUTH" -H 'Prefer: odata.maxpagesize=5' "$NEXT"
	SEEN=$((SEEN + $(jb '.value | length')))
	PAGES=$((PAGES + 1))
	NEXT=$(jb '."@odata.nextLink" // empty')
done
check "paging: every row once" "$SEEN" "$NMBX"
check "paging: pages" "$PAGES" $(( (NMBX + 4) / 5 ))
check "paging: Preference-Applied" "$(hdr Preference-Applied)" "odata.maxpagesize=5"

# single rows, expand, annotations
check "row: 200" "$(get "mailboxes($M1)?\$select=name&\$expand=emailserverprofile(\$select=name),ownerid(\$select=fullname)")" 200
check_match "row: expanded profile" "$(jb '.emailserverprofile.name // "null"')" '^(Microsoft Exchange Online|Exchange.*|null)$'
check "row: expanded owner" "$(jb '.ownerid.fullname | type')" string
check "missing row: 404" "$(get 'mailboxes(00000000-0000-4000-8000-000000000001)')" 404
check "missing row: message" "$(jb .error.message)" "mailbox With Id = 00000000-0000-4000-8000-000000000001 Does Not Exist"
check "annotations" "$(get "mailboxes($M1)?\$select=_ownerid_value,actdeliverymethod" -H 'Prefer: odata.include-annotations="*"')" 200
check "annotation: lookuplogicalname" "$(jb '."_ownerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"')" systemuser
check_match "annotation: formatted option" "$(jb '."actdeliverymethod@OData.Community.Display.V1.FormattedValue"')" '^(Server-Side Synchronization|None|Microsoft Dynamics 365 for Outlook)$'
check "privileges by name" "$(get 'privileges?$select=name,canbeglobal,canbebasic&$filter=name%20eq%20%27prvApproveRejectEmailAddress%27')" 200
check "privilege: Global only" "$(jb '.value[0].canbeglobal,.value[0].canbebasic' | tr '\n' ' ')" "true false "
check "sdkmessagefilters: no UpdateMultiple for mailbox" "$(get 'sdkmessagefilters?$select=sdkmessagefilterid&$filter=sdkmessageid/name%20eq%20%27UpdateMultiple%27%20and%20primaryobjecttypecode%20eq%20%27mailbox%27')" 200
check "sdkmessagefilters: empty" "$(jb '.value | length')" 0
check "sdkmessages: UpdateMultiple exists" "$(get 'sdkmessages?$select=name&$filter=name%20eq%20%27UpdateMultiple%27')" 200
check "sdkmessages: one" "$(jb '.value | length')" 1
check "organization row" "$(get 'organizations?$select=requireapprovalforuseremail,_defaultemailserverprofileid_value')" 200
check "organization: approval required" "$(jb '.value[0].requireapprovalforuseremail')" true
finish
