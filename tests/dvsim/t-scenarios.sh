#!/bin/sh
# Scenario URLs /_sim/<name>[-N]/api/data/v9.2/... (STYLE.md §8).
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
finish
