#!/bin/sh
# Scenario URLs /_sim/<name>[-N][@K]/api/data/v9.2/... (src/dvsim/server.h).
. "${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/dvsim/lib.sh"

P="mailboxes?\$select=name&\$top=1"
start_dvsim s --generate 2
TOK=$(token)
AUTH="Authorization: Bearer $TOK"

check "plain path" "$(req GET "$API/$P" -H "$AUTH")" 200
check "429: status" "$(req GET "_sim/429/$API/$P" -H "$AUTH")" 429
check "429: Retry-After seconds" "$(hdr Retry-After)" 1
check "429: code" "$(jq -r .error.code "$TMP/body")" 0x80072322
check "429date: status" "$(req GET "_sim/429date/$API/$P" -H "$AUTH")" 429
check_match "429date: HTTP date" "$(hdr Retry-After)" '^[A-Z][a-z]{2}, [0-9]{2} [A-Z][a-z]{2} [0-9]{4} [0-9:]{8} GMT$'
check "429none: status" "$(req GET "_sim/429none/$API/$P" -H "$AUTH")" 429
check "429none: no Retry-After" "$(hdr Retry-After)" ""
check "503: status" "$(req GET "_sim/503/$API/$P" -H "$AUTH")" 503
check "503: error JSON" "$(jq -r .error.code "$TMP/body")" 0x80040216
check "429-2: first" "$(req GET "_sim/429-2/$API/$P" -H "$AUTH")" 429
check "429-2: second" "$(req GET "_sim/429-2/$API/$P" -H "$AUTH")" 429
check "429-2: then passes" "$(req GET "_sim/429-2/$API/$P" -H "$AUTH")" 200
check "unknown scenario: 404" "$(req GET "_sim/nosuch/$API/$P" -H "$AUTH")" 404
check "scenario still needs a token" "$(req GET "_sim/429/$API/$P")" 401
check "slow: a 1 s client timeout trips" "$(curl -s -o /dev/null -m 1 -H "$AUTH" "$URL/_sim/slow-1/$API/$P"; echo $?)" 28
check "slow-1: then fast" "$(curl -s -o /dev/null -m 1 -w '%{http_code}' -H "$AUTH" "$URL/_sim/slow-1/$API/$P")" 200
check "expire-1: 401" "$(req GET "_sim/expire-1/$API/$P" -H "$AUTH")" 401
check "expire-1: expired code" "$(jq -r .error.code "$TMP/body")" 0x8005f101
check "expired token stays refused" "$(req GET "$API/$P" -H "$AUTH")" 401
TOK2=$(token)
check "new token passes expire-1 now" "$(req GET "_sim/expire-1/$API/$P" -H "Authorization: Bearer $TOK2")" 200
check "scenario faults counted" "$(stat_of .faults.scenario)" 8
check "429-1@1: the first request passes" "$(req GET "_sim/429-1@1/$API/$P" -H "Authorization: Bearer $TOK2")" 200
check "429-1@1: the second gets the fault" "$(req GET "_sim/429-1@1/$API/$P" -H "Authorization: Bearer $TOK2")" 429
check "429-1@1: then passes" "$(req GET "_sim/429-1@1/$API/$P" -H "Authorization: Bearer $TOK2")" 200
check "503@1: after the first, always" "$(req GET "_sim/503@1/$API/$P" -H "Authorization: Bearer $TOK2")$(req GET "_sim/503@1/$API/$P" -H "Authorization: Bearer $TOK2")$(req GET "_sim/503@1/$API/$P" -H "Authorization: Bearer $TOK2")" 200503503
check "bad @K: 404" "$(req GET "_sim/429@x/$API/$P" -H "Authorization: Bearer $TOK2")" 404
# expirepart: outside a $batch as expire; inside, each part is refused
check "expirepart outside a \$batch: 401" "$(req GET "_sim/expirepart/$API/$P" -H "Authorization: Bearer $TOK2")" 401
TOK3=$(token)
printf -- '--b1\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\nGET /%s/%s HTTP/1.1\r\n\r\n--b1--\r\n' "$API" "$P" >"$TMP/batch"
check "expirepart: the \$batch itself is answered 200 (continue-on-error)" "$(req POST "_sim/expirepart/$API/\$batch" -H "Authorization: Bearer $TOK3" -H "Content-Type: multipart/mixed; boundary=b1" -H "Prefer: odata.continue-on-error" --data-binary @"$TMP/batch")" 200
check_match "expirepart: its part is 401 with the expired code" "$(tr -d '\r' <"$TMP/body" | tr '\n' ' ')" 'HTTP/1.1 401 .*0x8005f101'
check "expirepart: the token is revoked" "$(req GET "$API/$P" -H "Authorization: Bearer $TOK3")" 401
finish
