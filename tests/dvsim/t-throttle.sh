#!/bin/sh
# Service protection: request count and execution time over the sliding
# window (429 + Retry-After, the window recovers, requests sent while
# throttled lengthen the period and are counted), and concurrency; the
# x-ms-ratelimit-* headers in the form Dataverse sends them, and
# x-ms-dop-hint (--dop-hint, --variant dop-48).
. "${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/dvsim/lib.sh"

Q="$API/mailboxes?\$select=name&\$top=1"

# a 10 s window: the throttled period outlasts a loaded machine's pauses
start_dvsim r --generate 2 --limit-requests 3 --window-s 10
TOK=$(token)
AUTH="Authorization: Bearer $TOK"
check "1st request" "$(req GET "$Q" -H "$AUTH")" 200
check "burst remaining after 1" "$(hdr x-ms-ratelimit-burst-remaining-xrm-requests)" 2
# seconds with a thousands separator and two decimals: 1,200,000 ms less
# the little this request took
check_match "time remaining: seconds, grouped, two decimals" \
	"$(hdr x-ms-ratelimit-time-remaining-xrm-requests)" '^1,(199\.[0-9][0-9]|200\.00)$'
check "x-ms-dop-hint: 4 by default" "$(hdr x-ms-dop-hint)" 4
check "2nd request" "$(req GET "$Q" -H "$AUTH")" 200
check "3rd request" "$(req GET "$Q" -H "$AUTH")" 200
check "burst remaining after 3" "$(hdr x-ms-ratelimit-burst-remaining-xrm-requests)" 0
check "4th request: 429" "$(req GET "$Q" -H "$AUTH")" 429
RA1=$(hdr Retry-After)
check_match "Retry-After in whole seconds" "$RA1" '^([1-9]|10)$'
check "code 0x80072322" "$(jq -r .error.code "$TMP/body")" 0x80072322
check "message" "$(jq -r .error.message "$TMP/body")" "Number of requests exceeded the limit of 3 over time window of 10 seconds."
check "not a violation yet" "$(stat_of .throttled_violations)" 0
# three more at once (one curl): each lengthens the throttled period by a
# second, so the third's Retry-After is beyond the first's
curl -s -D "$TMP/burst" -H "$AUTH" -w '%{http_code} ' -o /dev/null -o /dev/null \
	-o /dev/null "$URL/$Q" "$URL/$Q" "$URL/$Q" >"$TMP/codes"
check "5th to 7th, sent while throttled: 429" "$(cat "$TMP/codes")" "429 429 429 "
RAS=$(grep -i '^Retry-After:' "$TMP/burst" | tr -d '\r' | sed 's/^[^:]*: *//' | tr '\n' ' ')
echo "# Retry-After $RA1, then $RAS"
RA5=${RAS%% *} RA7=$(echo "$RAS" | awk '{ print $3 }')
check "the throttled period grew" "$([ "$RA7" -gt "$RA5" ] && echo yes)" yes
check "x-ms-dop-hint on a 429 too" "$(grep -i '^x-ms-dop-hint:' "$TMP/burst" | tr -d '\r' | sed 's/^[^:]*: *//' | sort -u)" 4
check "violations counted" "$(stat_of .throttled_violations)" 3
sleep "$RA7"
sleep 0.2
check "after Retry-After: the window recovered" "$(req GET "$Q" -H "$AUTH")" 200
check "429s counted" "$(stat_of .throttled_429)" 4
check "no further violation" "$(stat_of .throttled_violations)" 3

# combined execution time: each operation costs --op-ms
start_dvsim x --generate 2 --limit-exec-ms 300 --op-ms 200 --window-s 2
TOK=$(token)
AUTH="Authorization: Bearer $TOK"
check "exec: 1st (200 ms)" "$(req GET "$Q" -H "$AUTH")" 200
check_match "exec: 100 ms left, in seconds" \
	"$(hdr x-ms-ratelimit-time-remaining-xrm-requests)" '^0\.(0[0-9]|10)$'
check "exec: 2nd (400 ms in window)" "$(req GET "$Q" -H "$AUTH")" 200
check "exec: 3rd: 429" "$(req GET "$Q" -H "$AUTH")" 429
check "exec: code 0x80072321" "$(jq -r .error.code "$TMP/body")" 0x80072321
check_match "exec: message" "$(jq -r .error.message "$TMP/body")" "^Combined execution time of incoming requests exceeded limit of 300 milliseconds over time window of 2 seconds"
check_match "exec: Retry-After" "$(hdr Retry-After)" '^[1-3]$'
check "exec: nothing left" "$(hdr x-ms-ratelimit-time-remaining-xrm-requests)" 0.00

# x-ms-dop-hint: --dop-hint N, or 48 under the dop-48 variant
start_dvsim h --generate 2 --dop-hint 17
TOK=$(token)
check "--dop-hint 17: served" "$(req GET "$Q" -H "Authorization: Bearer $TOK")" 200
check "--dop-hint 17" "$(hdr x-ms-dop-hint)" 17
start_dvsim v --generate 2 --variant dop-48
TOK=$(token)
check "dop-48: served" "$(req GET "$Q" -H "Authorization: Bearer $TOK")" 200
check "dop-48: x-ms-dop-hint 48" "$(hdr x-ms-dop-hint)" 48
start_dvsim w --generate 2 --variant dop-48 --dop-hint 9
TOK=$(token)
check "dop-48 and --dop-hint 9: served" "$(req GET "$Q" -H "Authorization: Bearer $TOK")" 200
check "an explicit --dop-hint wins" "$(hdr x-ms-dop-hint)" 9
"$DVSIM" --dop-hint 0 >/dev/null 2>"$TMP/bad.err"
check "--dop-hint 0 refused" "$?" 2
check_match "--dop-hint 0: message" "$(head -n 1 "$TMP/bad.err")" "^dvsim: --dop-hint: '0' is not a number from 1 to 1000$"

# concurrency fails at once, without a throttled period
start_dvsim c --generate 2 --limit-concurrent 2 --latency-ms 1200
TOK=$(token)
for i in 1 2 3 4; do
	curl -s -o "$TMP/c$i.body" -D "$TMP/c$i.hdr" -w '%{http_code}\n' \
		-H "Authorization: Bearer $TOK" "$URL/$Q" >"$TMP/c$i.code" &
done
wait_for() { for i in 1 2 3 4; do while [ ! -s "$TMP/c$i.code" ]; do sleep 0.05; done; done; }
wait_for
check "concurrency: two served" "$(cat "$TMP"/c?.code | grep -c '^200$')" 2
check "concurrency: two refused" "$(cat "$TMP"/c?.code | grep -c '^429$')" 2
check "concurrency: code 0x80072326" "$(for i in 1 2 3 4; do grep -q '^429' "$TMP/c$i.code" && jq -r .error.code "$TMP/c$i.body"; done | sort -u)" 0x80072326
check "concurrency: message" "$(for i in 1 2 3 4; do grep -q '^429' "$TMP/c$i.code" && jq -r .error.message "$TMP/c$i.body"; done | sort -u)" "Number of concurrent requests exceeded the limit of 2."
check "concurrency: Retry-After" "$(for i in 1 2 3 4; do grep -q '^429' "$TMP/c$i.code" && grep -i '^Retry-After:' "$TMP/c$i.hdr" | tr -d '\r' | sed 's/.*: //'; done | sort -u)" 1
check "concurrency: next request is served" "$(req GET "$Q" -H "Authorization: Bearer $TOK")" 200
finish
