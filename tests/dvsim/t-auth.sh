#!/bin/sh
# Bearer tokens on the Web API: missing, invalid, tampered, expired
# after --token-ttl (401 with Dataverse's error JSON).
. "${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/dvsim/lib.sh"

Q="$API/mailboxes?\$select=name&\$top=1"
start_dvsim a --generate 2 --token-ttl 2
TOK=$(token)
check "fresh token works" "$(req GET "$Q" -H "Authorization: Bearer $TOK")" 200
check "no bearer: 401" "$(req GET "$Q")" 401
check "no bearer: error JSON" "$(jq -r .error.code "$TMP/body")" 0x80040204
check_match "WWW-Authenticate" "$(hdr WWW-Authenticate)" '^Bearer authorization_uri=https://login.microsoftonline.com/'
check "garbage bearer: 401" "$(req GET "$Q" -H "Authorization: Bearer abc.def.ghi")" 401
TAMPERED=$(printf '%s' "$TOK" | sed 's/\.\(.\)/.X\1/')
check "tampered token: 401" "$(req GET "$Q" -H "Authorization: Bearer $TAMPERED")" 401
check "Basic on the API: 401" "$(req GET "$Q" -u "$DEMO_ID:$DEMO_SECRET")" 401
sleep 2.2
check "expired token: 401" "$(req GET "$Q" -H "Authorization: Bearer $TOK")" 401
check "expired token: code" "$(jq -r .error.code "$TMP/body")" 0x8005f101
check "expired token: message" "$(jq -r .error.message "$TMP/body")" "The access token has expired."
TOK2=$(token)
check "a new token works" "$(req GET "$Q" -H "Authorization: Bearer $TOK2")" 200
check "401s counted" "$(stat_of .unauthorized_401)" 5
check "token not logged" "$(grep -c -e "$TOK" -e "$TOK2" "$TMP/a.err")" 0
finish
