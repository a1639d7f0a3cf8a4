#!/bin/sh
# 200 connections at once, each request taking --latency-ms 1000 of real
# service time: all are served together (thread per connection), so the
# whole lot takes about one second, not 200.
. "${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/dvsim/lib.sh"

start_dvsim p --generate 2 --latency-ms 1000 --limit-concurrent 1000
TOK=$(token)
M=$(curl -s "$URL/_sim/state" | jq -r '.entities.mailboxes[0].mailboxid')
{
	printf 'header = "Authorization: Bearer %s"\n' "$TOK"
	i=0
	while [ $i -lt 200 ]; do
		printf 'url = "%s/%s/mailboxes(%s)?$select=name"\noutput = "/dev/null"\n' "$URL" "$API" "$M"
		i=$((i + 1))
	done
} >"$TMP/cfg"
start=$(date +%s%N)
curl -s --parallel --parallel-immediate --parallel-max 200 -K "$TMP/cfg" -w '%{http_code}\n' >"$TMP/codes" 2>"$TMP/curl.err"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
check "200 answers" "$(wc -l <"$TMP/codes" | tr -d ' ')" 200
check "all 200 OK" "$(grep -c '^200$' "$TMP/codes")" 200
check "served together (${ms} ms < 5000)" "$([ "$ms" -lt 5000 ] && echo yes)" yes
check "each took the latency (${ms} ms >= 1000)" "$([ "$ms" -ge 1000 ] && echo yes)" yes
finish
