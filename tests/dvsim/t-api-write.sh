#!/bin/sh
# Web API writes: PATCH with If-Match (404, 412) and upsert, option-set and
# property validation, @odata.bind, the approval rules for an approver and
# a System-Administrator-only client, AddPrivilegesRole depth rules and
# inherited role copies, RetrieveRolePrivilegesRole, user roles by $ref.
. "${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/dvsim/lib.sh"

LIM_ID=0b9e2a6c-1d2f-4a8e-9b7c-3e5f6a7b8c9d
start_dvsim w --generate 12 --seed 8 --problems ok \
	--client "$DEMO_ID:$DEMO_SECRET" --client-limited "$LIM_ID:limited-secret"
TOK=$(token)
LTOK=$(token "$LIM_ID" limited-secret)
AUTH="Authorization: Bearer $TOK"
state() { curl -s "$URL/_sim/state"; }
jb() { jq -r "$1" "$TMP/body"; }
patch() { # patch TOKEN PATH BODY [IF-MATCH]
	if [ -n "$4" ]; then
		req PATCH "$API/$2" -H "Authorization: Bearer $1" -H 'Content-Type: application/json' -H "If-Match: $4" --data-binary "$3"
	else
		req PATCH "$API/$2" -H "Authorization: Bearer $1" -H 'Content-Type: application/json' --data-binary "$3"
	fi
}
post() { req POST "$API/$1" -H "$AUTH" -H 'Content-Type: application/json' --data-binary "$2"; }
mbx() { state | jq -r --arg id "$1" '.entities.mailboxes[] | select(.mailboxid == $id) | .'"$2"; }

S=$(state)
M=$(printf '%s' "$S" | jq -r '.entities.mailboxes[1].mailboxid')
M2=$(printf '%s' "$S" | jq -r '.entities.mailboxes[2].mailboxid')
U2=$(printf '%s' "$S" | jq -r '.entities.mailboxes[2]._regardingobjectid_value')
HYB=$(printf '%s' "$S" | jq -r '.entities.emailserverprofiles[] | select(.name == "Exchange Server (Hybrid)") | .emailserverprofileid')
MISSING=00000000-0000-4000-8000-0000000000aa

check "PATCH If-Match *: 204" "$(patch "$TOK" "mailboxes($M)" '{"incomingemaildeliverymethod":1,"actdeliverymethod":2}' '*')" 204
check_match "PATCH: OData-EntityId" "$(hdr OData-EntityId)" "/api/data/v9\.2/mailboxes\($M\)$"
check "PATCH: written" "$(mbx "$M" incomingemaildeliverymethod),$(mbx "$M" actdeliverymethod)" "1,2"
check "PATCH missing row: 404" "$(patch "$TOK" "mailboxes($MISSING)" '{"name":"x"}' '*')" 404
check "PATCH missing row: code" "$(jb .error.code)" 0x80040217
check "PATCH missing row: message" "$(jb .error.message)" "mailbox With Id = $MISSING Does Not Exist"
check "stale ETag: 412" "$(patch "$TOK" "mailboxes($M)" '{"actdeliverymethod":1}' 'W/"1"')" 412
check "stale ETag: code" "$(jb .error.code)" 0x80060882
ETAG=$(curl -s -H "$AUTH" "$URL/$API/mailboxes($M)?\$select=name" | jq -r '."@odata.etag"')
check "current ETag: 204" "$(patch "$TOK" "mailboxes($M)" '{"actdeliverymethod":1}' "$ETAG")" 204
check "upsert without If-Match: 204" "$(patch "$TOK" "mailboxes($MISSING)" '{"name":"made by upsert"}')" 204
check "upsert: created" "$(mbx "$MISSING" name)" "made by upsert"
check "option set: 400" "$(patch "$TOK" "mailboxes($M)" '{"outgoingemaildeliverymethod":3}' '*')" 400
check "option set: code" "$(jb .error.code)" 0x80044331
check_match "option set: message" "$(jb .error.message)" "outside the valid range\. Accepted Values: 0,1,2$"
check "unknown property: 400" "$(patch "$TOK" "mailboxes($M)" '{"bogus":1}' '*')" 400
check "unknown property: code" "$(jb .error.code)" 0x80048d19
check_match "unknown property: message" "$(jb .error.message)" "^Error identified in Payload provided by the user for Entity :'mailbox'.*InnerException : Microsoft.OData.ODataException: The property 'bogus' does not exist on type 'Microsoft.Dynamics.CRM.mailbox'\\."
USERX=$(curl -s "$URL/_sim/state" | jq -r '.entities.systemusers[0].systemuserid')
check "regardingobjectid is read-only: 400" "$(patch "$TOK" "mailboxes($M)" "{\"regardingobjectid@odata.bind\":\"/systemusers($USERX)\"}" '*')" 400
check "regardingobjectid is read-only: code" "$(jb .error.code)" 0x80048d19
check_match "regardingobjectid is read-only: message" "$(jb .error.message)" "The property 'regardingobjectid' is read-only"
check "read-only column: 400" "$(patch "$TOK" "mailboxes($M)" '{"mailboxstatus":1}' '*')" 400
check "bind: 204" "$(patch "$TOK" "mailboxes($M)" "{\"emailserverprofile@odata.bind\":\"/emailserverprofiles($HYB)\",\"ownerid@odata.bind\":\"/systemusers($U2)\"}" '*')" 204
check "bind: profile" "$(mbx "$M" _emailserverprofile_value)" "$HYB"
check "bind: owner" "$(mbx "$M" _ownerid_value)" "$U2"
check "bad bind URL: 400" "$(patch "$TOK" "mailboxes($M)" '{"emailserverprofile@odata.bind":"emailserverprofiles"}' '*')" 400
check "bad bind URL: code" "$(jb .error.code)" 0x80090800
check "bind to a missing row: 404" "$(patch "$TOK" "mailboxes($M)" "{\"emailserverprofile@odata.bind\":\"/emailserverprofiles($MISSING)\"}" '*')" 404
check "malformed JSON: 400" "$(patch "$TOK" "mailboxes($M)" '{"name":' '*')" 400

# approval (docs/fidelity.md)
patch "$TOK" "mailboxes($M2)" '{"emailrouteraccessapproval":2}' '*' >/dev/null
check "approval by System Administrator only: 403" "$(patch "$LTOK" "mailboxes($M2)" '{"emailrouteraccessapproval":1}' '*')" 403
check "approval refused: code" "$(jb .error.code)" 0x8009000B
check "approval with another attribute: 204" "$(patch "$TOK" "mailboxes($M2)" '{"emailrouteraccessapproval":1,"actdeliverymethod":1}' '*')" 204
check "... but not approved" "$(mbx "$M2" emailrouteraccessapproval)" 2
check "approval alone by an approver: 204" "$(patch "$TOK" "mailboxes($M2)" '{"emailrouteraccessapproval":1}' '*')" 204
check "approved" "$(mbx "$M2" emailrouteraccessapproval)" 1
check "the user follows" "$(state | jq -r --arg u "$U2" '.entities.systemusers[] | select(.systemuserid == $u) | .emailrouteraccessapproval')" 1

# roles and privileges
ROOT=$(state | jq -r '.entities.roles[] | select(.name == "Sales Restricted" and ._parentrootroleid_value == .roleid) | .roleid')
COPY=$(state | jq -r '.entities.roles[] | select(.name == "Sales Restricted" and ._parentrootroleid_value != .roleid) | .roleid' | head -n 1)
req GET "$API/privileges?\$select=privilegeid,name&\$filter=Microsoft.Dynamics.CRM.In(PropertyName=%27name%27,PropertyValues=%5B%27prvReadEmailServerProfile%27,%27prvSyncToOutlook%27%5D)&\$orderby=name" -H "$AUTH" >/dev/null
P_RESP=$(jb '.value[] | select(.name == "prvReadEmailServerProfile") | .privilegeid')
P_SYNC=$(jb '.value[] | select(.name == "prvSyncToOutlook") | .privilegeid')
check "prvReadEmailServerProfile id (KB 4015092)" "$P_RESP" edebe6f6-cf2e-4520-b635-ae0615d41e34
check "AddPrivilegesRole, Depth by name: 204" "$(post "roles($ROOT)/Microsoft.Dynamics.CRM.AddPrivilegesRole" "{\"Privileges\":[{\"PrivilegeId\":\"$P_RESP\",\"Depth\":\"Basic\"}]}")" 204
check "AddPrivilegesRole, Depth by number: 204" "$(post "roles($ROOT)/Microsoft.Dynamics.CRM.AddPrivilegesRole" "{\"Privileges\":[{\"PrivilegeId\":\"$P_SYNC\",\"Depth\":\"3\"}]}")" 204
check "Global-only privilege at Basic: 400" "$(post "roles($ROOT)/Microsoft.Dynamics.CRM.AddPrivilegesRole" "{\"Privileges\":[{\"PrivilegeId\":\"$P_SYNC\",\"Depth\":\"Basic\"}]}")" 400
check "InvalidPrivilegeDepth" "$(jb .error.code)" 0x8004140b
check "raising the depth: 204" "$(post "roles($ROOT)/Microsoft.Dynamics.CRM.AddPrivilegesRole" "{\"Privileges\":[{\"PrivilegeId\":\"$P_RESP\",\"Depth\":\"Global\"}]}")" 204
check "child unit's copy: 403" "$(post "roles($COPY)/Microsoft.Dynamics.CRM.AddPrivilegesRole" "{\"Privileges\":[{\"PrivilegeId\":\"$P_RESP\",\"Depth\":\"Global\"}]}")" 403
check "child unit's copy: code" "$(jb .error.code)" 0x80048405
check "RetrieveRolePrivilegesRole of the copy" "$(req GET "$API/RetrieveRolePrivilegesRole(RoleId=$COPY)" -H "$AUTH")" 200
check "the copy follows the root: Global" "$(jq -r --arg p "$P_RESP" '.RolePrivileges[] | select(.PrivilegeId == $p) | .Depth' "$TMP/body")" Global

# user roles by $ref
LITE=$(state | jq -r --arg u "$U2" '(.entities.systemusers[] | select(.systemuserid == $u) | ._businessunitid_value) as $bu | .entities.roles[] | select(.name == "Field Service Lite" and ._businessunitid_value == $bu) | .roleid')
nroles() { req GET "$API/systemusers($U2)/systemuserroles_association?\$select=name" -H "$AUTH" >/dev/null; jb '.value | length'; }
N0=$(nroles)
check "associate: 204" "$(post "systemusers($U2)/systemuserroles_association/\$ref" "{\"@odata.id\":\"$URL/$API/roles($LITE)\"}")" 204
check "associated" "$(nroles)" $((N0 + 1))
check "disassociate: 204" "$(req DELETE "$API/systemusers($U2)/systemuserroles_association($LITE)/\$ref" -H "$AUTH")" 204
check "disassociated" "$(nroles)" "$N0"
finish
