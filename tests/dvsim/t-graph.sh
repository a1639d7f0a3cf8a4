#!/bin/sh
# dvsim's Microsoft Graph: tokens for https://graph.microsoft.com with a
# roles claim and the tenant's id as tid, users by UPN or object id with
# $select, /organization, JSON $batch (at most 20, answered by id in
# another order), Graph's error shape, the permission check and 429.
. "${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/dvsim/lib.sh"

start_dvsim g --generate 20 --seed 9 --problems "recreated=30,licence=30,tenant=30"
gtoken() {
	curl -s -d "grant_type=client_credentials&client_id=$DEMO_ID" \
		--data-urlencode "client_secret=$DEMO_SECRET" \
		--data-urlencode "scope=https://graph.microsoft.com/.default" \
		"$URL/${1:-contoso.onmicrosoft.com}/oauth2/v2.0/token" | jq -r '.access_token // empty'
}
claims() { printf '%s' "$1" | cut -d. -f2 | tr '_-' '/+' | { read -r p; while [ $((${#p} % 4)) -ne 0 ]; do p="$p="; done; printf '%s' "$p"; } | base64 -d 2>/dev/null; }
G=$(gtoken)
C=$(claims "$G")
STATE=$(curl -s "$URL/_sim/state")
TID=$(printf '%s' "$STATE" | jq -r .simulator.tenant.id)
check "graph token: aud" "$(printf '%s' "$C" | jq -r .aud)" "https://graph.microsoft.com"
check "graph token: roles" "$(printf '%s' "$C" | jq -c .roles)" '["User.Read.All","Organization.Read.All"]'
check "graph token: tid is the tenant's id" "$(printf '%s' "$C" | jq -r .tid)" "$TID"
check "a Dataverse token has no roles" "$(claims "$(token)" | jq -c .roles)" "null"

gget() { curl -s -o "$TMP/body" -w '%{http_code}' -H "Authorization: Bearer ${2:-$G}" "$URL/v1.0$1"; }
check "organization: 200" "$(gget '/organization?$select=id,verifiedDomains')" 200
check "organization: id and domains" "$(jq -c '.value[0] | [.id, [.verifiedDomains[].name]]' "$TMP/body")" \
	"[\"$TID\",[\"contoso.com\",\"contoso.onmicrosoft.com\"]]"

# a healthy user, a recreated one, an unlicensed one, one in another tenant
U=$(printf '%s' "$STATE" | jq -r '.entities.systemusers[] | select(.applicationid == null) | .systemuserid' | head -n 1)
row() { printf '%s' "$STATE" | jq -r --arg u "$1" ".entities.systemusers[] | select(.systemuserid == \$u) | .$2"; }
UPN=$(row "$U" domainname)
AAD=$(row "$U" azureactivedirectoryobjectid)
check "user by UPN: 200" "$(gget "/users/$UPN?\$select=id,mail,proxyAddresses,assignedPlans")" 200
check "user by UPN: \$select keeps only those" "$(jq -c 'keys' "$TMP/body")" '["assignedPlans","id","mail","proxyAddresses"]'
check "user by UPN: id is the Dataverse object id" "$(jq -r .id "$TMP/body")" "$AAD"
check "user by object id: 200" "$(gget "/users/$AAD?\$select=userPrincipalName")" 200
check "user by object id: the UPN" "$(jq -r .userPrincipalName "$TMP/body")" "$UPN"
check "unknown user: 404 Request_ResourceNotFound" "$(gget /users/nobody@contoso.com)-$(jq -r .error.code "$TMP/body")" \
	"404-Request_ResourceNotFound"
REC=$(printf '%s' "$STATE" | jq -r '.simulator.exchange | to_entries[] | select(.value.recreated) | .key' | head -n 1)
gget "/users/$(row "$REC" domainname)" >/dev/null
check "recreated user: another object id" "$(jq -r --arg a "$(row "$REC" azureactivedirectoryobjectid)" '.id != $a and (.id | test("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"))' "$TMP/body")" true
check "recreated user: the old object id is gone" "$(gget "/users/$(row "$REC" azureactivedirectoryobjectid)")" 404
LIC=$(printf '%s' "$STATE" | jq -r '.simulator.exchange | to_entries[] | select(.value.licensed == false) | .key' | head -n 1)
gget "/users/$(row "$LIC" domainname)" >/dev/null
check "unlicensed user: the Exchange plan deleted" "$(jq -c '[.assignedPlans[] | select(.service == "exchange") | .capabilityStatus]' "$TMP/body")" '["Deleted"]'
TEN=$(printf '%s' "$STATE" | jq -r '.simulator.exchange | to_entries[] | select(.value.tenant) | .key' | head -n 1)
gget "/users/$(row "$TEN" domainname)" >/dev/null
check "user with a mailbox in another tenant: no mail, no Exchange plan" \
	"$(jq -c '[.mail, [.assignedPlans[] | select(.service == "exchange")]]' "$TMP/body")" '[null,[]]'

# $batch
body='{"requests":[{"id":"a","method":"GET","url":"/users/'$UPN'?$select=id"},{"id":"b","method":"GET","url":"/users/nobody@contoso.com"},{"id":"c","method":"GET","url":"/organization"}]}'
st=$(curl -s -o "$TMP/body" -w '%{http_code}' -H "Authorization: Bearer $G" -H 'Content-Type: application/json' -d "$body" "$URL/v1.0/\$batch")
check "batch: 200" "$st" 200
check "batch: every id answered, in another order" "$(jq -c '[.responses[] | [.id, .status]]' "$TMP/body")" '[["c",200],["b",404],["a",200]]'
many=$(jq -nc '{requests: [range(21) | {id: (. | tostring), method: "GET", url: "/organization"}]}')
check "batch: 21 requests refused" "$(curl -s -o "$TMP/body" -w '%{http_code}' -H "Authorization: Bearer $G" -H 'Content-Type: application/json' -d "$many" "$URL/v1.0/\$batch")" 400
check "batch: duplicate ids refused" "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $G" -H 'Content-Type: application/json' \
	-d '{"requests":[{"id":"1","method":"GET","url":"/organization"},{"id":"1","method":"GET","url":"/organization"}]}' "$URL/v1.0/\$batch")" 400

# tokens and permissions
check "a Dataverse token: 401 InvalidAuthenticationToken" "$(gget /organization "$(token)")-$(jq -r .error.code "$TMP/body")" \
	"401-InvalidAuthenticationToken"
check "no token: 401" "$(curl -s -o /dev/null -w '%{http_code}' "$URL/v1.0/organization")" 401
start_dvsim n --generate 3 --graph-roles "Organization.Read.All"
G2=$(gtoken)
check "without User.Read.All: roles" "$(claims "$G2" | jq -c .roles)" '["Organization.Read.All"]'
check "without User.Read.All: 403 Authorization_RequestDenied" \
	"$(gget /users/admin@contoso.com "$G2")-$(jq -r .error.code "$TMP/body")" "403-Authorization_RequestDenied"
check "without User.Read.All: organization still read" "$(gget /organization "$G2")" 200

# throttling: 3 requests a second
start_dvsim l --generate 3 --graph-limit 3
G3=$(gtoken)
gget /organization "$G3" >/dev/null
body='{"requests":[{"id":"1","method":"GET","url":"/organization"},{"id":"2","method":"GET","url":"/organization"},{"id":"3","method":"GET","url":"/organization"}]}'
curl -s -D "$TMP/hdr" -o "$TMP/body" -H "Authorization: Bearer $G3" -H 'Content-Type: application/json' -d "$body" "$URL/v1.0/\$batch" >/dev/null
t1=$(jq -c '[.responses[] | select(.status == 429) | .headers["Retry-After"]]' "$TMP/body")
st=$(curl -s -D "$TMP/hdr" -o "$TMP/body" -w '%{http_code}' -H "Authorization: Bearer $G3" -H 'Content-Type: application/json' -d "$body" "$URL/v1.0/\$batch")
ra=$(tr -d '\r' <"$TMP/hdr" | sed -n 's/^Retry-After: //ip')
if [ "$t1" = '["1"]' ] && [ "$st" = 429 ] && [ "$ra" = 1 ]; then
	ok "over the budget: a request in the batch, then the whole batch, 429 Retry-After 1"
else
	# the second may have turned between the requests: once more
	sleep 1
	gget /organization "$G3" >/dev/null
	curl -s -o "$TMP/body" -H "Authorization: Bearer $G3" -H 'Content-Type: application/json' -d "$body" "$URL/v1.0/\$batch" >/dev/null
	t1=$(jq -c '[.responses[] | select(.status == 429) | .headers["Retry-After"]]' "$TMP/body")
	check "over the budget: one request of the batch 429 Retry-After 1" "$t1" '["1"]'
fi
check "stats count Graph's 429s" "$(curl -s "$URL/_sim/stats" | jq '.graph.throttled_429 > 0')" true
finish
