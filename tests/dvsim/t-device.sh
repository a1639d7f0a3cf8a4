#!/bin/sh
# The device authorization grant (docs/fidelity.md, "Device code sign-in
# and people"): /devicecode answers a device code, a user code, the
# verification URI, expires_in and interval; the token endpoint answers
# authorization_pending, slow_down when polled faster than the interval
# (which then grows by 5 s), authorization_declined, expired_token,
# bad_verification_code, AADSTS-shaped; a confidential client cannot
# redeem without its credential; a refresh token gives a new access token
# and a new refresh token. People approve by who they are: a Global admin
# or a Delegated Mailbox Approver with System Administrator may, an
# ordinary System Administrator gets 403 0x8009000B; approve-no-effect
# touches application users only. Service protection is kept per user.
. "${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/dvsim/lib.sh"

PUB=0b5e1c2d-3f4a-4b6c-8d7e-9f0a1b2c3d4e
DC_GRANT=urn:ietf:params:oauth:grant-type:device_code

# devicecode: POST /devicecode for PUB; the answer in $TMP/dc.json
devicecode() {
	curl -s -d "client_id=${1:-$PUB}" --data-urlencode "scope=$URL/.default offline_access" \
		"$URL/contoso/oauth2/v2.0/devicecode" >"$TMP/dc.json"
	DC=$(jq -r .device_code "$TMP/dc.json")
	UC=$(jq -r .user_code "$TMP/dc.json")
}
# poll [CLIENT]: one token request for $DC; prints the error (or "token")
poll() {
	curl -s -d "grant_type=$DC_GRANT&client_id=${1:-$PUB}&device_code=$DC" \
		"$URL/contoso/oauth2/v2.0/token" >"$TMP/tok.json"
	jq -r '.error // (if .access_token then "token" else "?" end)' "$TMP/tok.json"
}
sim() { curl -s -o /dev/null -w '%{http_code}' -d "user_code=$UC&person=$1&action=$2" "$URL/_sim/device"; }
# person_token NAME: an access token of person NAME, through the device flow
person_token() {
	devicecode
	sim "$1" approve >/dev/null
	sleep 1.1
	poll >/dev/null
	jq -r .access_token "$TMP/tok.json"
}

start_dvsim d --generate 10 --seed 3 --public-client "$PUB" \
	--device-interval-s 1 --device-expires-s 12 --problems "approval=100"
devicecode
check "devicecode: interval" "$(jq .interval "$TMP/dc.json")" 1
check "devicecode: expires_in" "$(jq .expires_in "$TMP/dc.json")" 12
check "devicecode: verification_uri" "$(jq -r .verification_uri "$TMP/dc.json")" https://microsoft.com/devicelogin
check_match "devicecode: a user code" "$UC" '^[A-Z0-9]{8}$'
check_match "devicecode: message names the code" "$(jq -r .message "$TMP/dc.json")" "$UC"
check "polled at once: slow_down" "$(poll)" slow_down
check_match "slow_down is AADSTS-shaped" "$(jq -r '.error_description' "$TMP/tok.json")" '^AADSTS[0-9]+: '
check "slow_down: 400" "$(curl -s -o /dev/null -w '%{http_code}' -d "grant_type=$DC_GRANT&client_id=$PUB&device_code=$DC" "$URL/contoso/oauth2/v2.0/token")" 400
check "the interval grew by 5 s" "$(curl -s "$URL/_sim/device" | jq --arg c "$UC" '.[] | select(.user_code == $c) | .interval_s')" 11
devicecode
sleep 1.1
check "after the interval: authorization_pending" "$(poll)" authorization_pending
check "pending: error_codes 70016" "$(jq -c .error_codes "$TMP/tok.json")" "[70016]"
check "a confidential client may not redeem without its secret" "$(poll "$DEMO_ID")" invalid_client
sleep 1.1
check "an unknown device code: bad_verification_code" "$(DC=nope poll)" bad_verification_code
check "declined by the person: /_sim/device 200" "$(sim sysadmin deny)" 200
sleep 1.1
check "declined: authorization_declined" "$(poll)" authorization_declined
check "an unknown person: /_sim/device 400" "$(sim nobody approve)" 400
devicecode
sleep 12.5
check "past expires_in: expired_token" "$(poll)" expired_token
check "expired: error_codes 70020" "$(jq -c .error_codes "$TMP/tok.json")" "[70020]"

# success and refresh
devicecode
sim global-admin approve >/dev/null
sleep 1.1
check "approved: a token" "$(poll)" token
RT=$(jq -r .refresh_token "$TMP/tok.json")
AT=$(jq -r .access_token "$TMP/tok.json")
check_match "a refresh token too (offline_access)" "$RT" '^[0-9a-f]{64}$'
check "redeemed once only" "$(poll)" expired_token
ADMIN=$(curl -s "$URL/_sim/state" | jq -r '.entities.systemusers[] | select(.domainname == "admin@contoso.onmicrosoft.com") | .systemuserid')
check "WhoAmI names the person" "$(req GET "$API/WhoAmI" -H "Authorization: Bearer $AT" >/dev/null; jq -r .UserId "$TMP/body")" "$ADMIN"
curl -s -d "grant_type=refresh_token&client_id=$PUB&refresh_token=$RT" --data-urlencode "scope=$URL/.default offline_access" \
	"$URL/contoso/oauth2/v2.0/token" >"$TMP/rt.json"
check "refresh: a new access token" "$(jq -r '.access_token | length > 0' "$TMP/rt.json")" true
check "refresh: a new refresh token" "$(jq -r --arg o "$RT" '.refresh_token != $o and (.refresh_token | length) == 64' "$TMP/rt.json")" true
curl -s -d "grant_type=refresh_token&client_id=$PUB&refresh_token=nope" --data-urlencode "scope=$URL/.default" \
	"$URL/contoso/oauth2/v2.0/token" >"$TMP/rt2.json"
check "an unknown refresh token: invalid_grant" "$(jq -r .error "$TMP/rt2.json")" invalid_grant

# approval by who the caller is
users=$(curl -s "$URL/_sim/state" | jq -r '[.entities.systemusers[] | select(.emailrouteraccessapproval != 1 and .applicationid == null and (.domainname | test("contoso.onmicrosoft.com") | not))] | .[0:4][] | .systemuserid')
set -- $users
approve() {
	req PATCH "$API/systemusers($2)" -H "Authorization: Bearer $1" -H "Content-Type: application/json" \
		-H "If-Match: *" -d '{"emailrouteraccessapproval":1}'
}
approval_of() { curl -s "$URL/_sim/state" | jq -r --arg u "$1" '.entities.systemusers[] | select(.systemuserid == $u) | .emailrouteraccessapproval'; }
check "an ordinary System Administrator: 403" "$(approve "$(person_token sysadmin)" "$1")" 403
check "... 0x8009000B" "$(jq -r .error.code "$TMP/body")" 0x8009000B
check "... not approved" "$(approval_of "$1")" 0
check "the Global admin (System Administrator): 204" "$(approve "$AT" "$1")" 204
check "... approved" "$(approval_of "$1")" 1
check "the Delegated Mailbox Approver: 204" "$(approve "$(person_token mailbox-approver)" "$2")" 204
check "... approved" "$(approval_of "$2")" 1
kill "$PID"

# approve-no-effect: an application user's approval changes nothing, a
# person's still does
start_dvsim v --generate 10 --seed 3 --public-client "$PUB" --device-interval-s 1 \
	--problems "approval=100" --variant approve-no-effect --client "$DEMO_ID:$DEMO_SECRET"
users=$(curl -s "$URL/_sim/state" | jq -r '[.entities.systemusers[] | select(.emailrouteraccessapproval != 1 and .applicationid == null and (.domainname | test("contoso.onmicrosoft.com") | not))] | .[0:2][] | .systemuserid')
set -- $users
check "approve-no-effect: the application user's approval answered 204" "$(approve "$(token)" "$1")" 204
check "... and without effect" "$(approval_of "$1")" 0
check "approve-no-effect: the Global admin's approval: 204" "$(approve "$(person_token global-admin)" "$2")" 204
check "... takes effect" "$(approval_of "$2")" 1
kill "$PID"

# service protection per user: one user throttled, the others not
B=6a1e2f3d-4c5b-4a69-8788-99aabbccdd01
start_dvsim l --generate 2 --limit-requests 3 --window-s 10 --public-client "$PUB" \
	--device-interval-s 1 --client "$DEMO_ID:$DEMO_SECRET" --client "$B:secret-b"
Q="$API/WhoAmI"
TA=$(token) TB=$(token "$B" secret-b) TP=$(person_token sysadmin)
for i in 1 2 3; do req GET "$Q" -H "Authorization: Bearer $TA" >/dev/null; done
check "user A's 4th request: 429" "$(req GET "$Q" -H "Authorization: Bearer $TA")" 429
check "user A once more while throttled: 429" "$(req GET "$Q" -H "Authorization: Bearer $TA")" 429
check "user B is not throttled" "$(req GET "$Q" -H "Authorization: Bearer $TB")" 200
check "the person is not throttled" "$(req GET "$Q" -H "Authorization: Bearer $TP")" 200
check "stats: A's requests" "$(stat_of ".users[\"$DEMO_ID\"].requests")" 5
check "stats: A's 429s" "$(stat_of ".users[\"$DEMO_ID\"].throttled_429")" 2
check "stats: A's requests while throttled" "$(stat_of ".users[\"$DEMO_ID\"].while_throttled")" 1
check "stats: B's 429s" "$(stat_of ".users[\"$B\"].throttled_429")" 0
check "stats: the person, by UPN" "$(stat_of '.users["sysadmin@contoso.onmicrosoft.com"].requests')" 1
finish
