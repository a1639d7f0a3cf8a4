#!/bin/sh
# 500 rows against a hostile dvsim: 5% 503s, 2% dropped connections,
# 3-second tokens, service protection limits small enough to throttle.
# Every valid row must end in its state, once, with its own result line;
# no request may be sent while throttled; bad rows are reported invalid.
. "$(dirname "$0")/lib.sh"

start_dvsim --generate 500 --seed 8 --fail-rate 0.05 --reset-rate 0.02 \
	--token-ttl 3 --window-s 2 --limit-requests 30 --limit-concurrent 4 \
	--latency-ms 5
# one request at a time: a request already in flight when another was
# answered 429 reaches dvsim inside the throttle through no fault of the
# client's, so only with nothing else in flight does every request dvsim
# sees while throttled say the client ignored a Retry-After
write_job "$W/job.cfg" "$BASE" "" "{ parallel = 1; batch_size = 8; max_attempts = 10; }"

state | jq -r '.entities.mailboxes | to_entries[] | select(.key < 500) |
	(["server-side-sync","outlook","none","forward"][.key % 4]) as $in |
	(["server-side-sync","outlook","none"][.key % 3]) as $out |
	(["server-side-sync","outlook","none"][.key % 2]) as $act |
	"\(.value.emailaddress),\($in),\($out),\($act),r\(.key)"' >"$W/rows"
first=$(head -n 1 "$W/rows" | cut -d, -f1)
{
	echo "mailbox,incoming,outgoing,act,ref,note"
	sed 's/$/,/' "$W/rows"
	echo "$first,outlook,outlook,outlook,dup,"
	echo "bad1@contoso.com,sideways,,,badvalue,"
	echo "bad2@contoso.com,,forward,,forwardout,"
	echo ",,,,emptymailbox,"
	echo "not an address,,,,malformed,"
	echo "bad3@contoso.com,,,,toomany,x,y"
	echo "bad4@contoso.com,,"
	printf 'bad5@contoso.com,,,,badutf8,\377\376\n'
	echo 'ghost@contoso.com,,,,ghost,"quoted, ""note"""'
} >"$W/in.csv"
# bad4 (too few fields) has no ref: give it one in the expectation
n=$(wc -l <"$W/rows")

state | jq -r '.entities.mailboxes | to_entries[] | select(.key < 500) |
	"\(.value.mailboxid) \([2,1,0,3][.key % 4]),\([2,1,0][.key % 3]),\([1,0][.key % 2])"' | sort >"$W/want"
need=$(state | jq '[.entities.mailboxes | to_entries[] | select(.key < 500) |
	select(.value.incomingemaildeliverymethod != [2,1,0,3][.key % 4] or
	       .value.outgoingemaildeliverymethod != [2,1,0][.key % 3] or
	       .value.actdeliverymethod != [1,0][.key % 2])] | length')

start=$(date +%s)
"$MBXFIX" run "$W/job.cfg" --no-progress >"$W/run.out" 2>"$W/run.err"
eq "exit status 1 (invalid and failed rows)" $? 1
echo "run took $(($(date +%s) - start)) s"
cat "$W/run.out"
stats | jq -c . | tee "$W/stats.json"

state | jq -r '.entities.mailboxes | to_entries[] | select(.key < 500) |
	"\(.value.mailboxid) \(.value.incomingemaildeliverymethod),\(.value.outgoingemaildeliverymethod),\(.value.actdeliverymethod)"' | sort >"$W/have"
check "every valid row's mailbox holds its values" cmp -s "$W/want" "$W/have"
eq "each mailbox written once (no operation applied twice)" "$(stats | jq .writes.total)" "$need"
eq "no request sent while throttled" "$(stats | jq .throttled_violations)" 0
check "dvsim did throttle (429s sent)" test "$(stats | jq .throttled_429)" -gt 0
check "faults were injected (503s and resets)" test "$(stats | jq '.faults."503"')" -gt 0 -a "$(stats | jq .faults.resets)" -gt 0
check "tokens were renewed" test "$(stats | jq .tokens_issued)" -gt 1
eq "valid rows ok" "$(col result | head -n "$n" | grep -c '^ok$')" "$n"
eq "result lines = input rows" "$(tail -n +2 "$(results)" | grep -c '^')" "$((n + 9))"
eq "result lines in input order, each its own row" \
	"$(head -n $((n + 1)) "$(results)" | tail -n +2 | cut -d, -f5 | tr '\n' ' ')" \
	"$(cut -d, -f5 "$W/rows" | tr '\n' ' ')"
for ref in dup badvalue forwardout emptymailbox malformed toomany badutf8; do
	eq "row '$ref' invalid" "$(grep -a ",$ref," "$(results)" | grep -c ',invalid,')" 1
done
eq "too-few-fields row invalid" "$(grep -a '^bad4@' "$(results)" | grep -c 'invalid')" 1
eq "unknown mailbox failed" "$(grep -c '^ghost@contoso.com,.*,failed,' "$(results)")" 1
check "quoted note carried through" grep -q '"quoted, ""note"""' "$(results)"
eq "failed.csv holds the 9 failed or invalid rows" "$(tail -n +2 "$W/out/e2e/latest/failed.csv" | grep -c '^')" 9
check "summary.json counts retries" test "$(jq '.retries // .requests.retries // 0' "$W/out/e2e/latest/summary.json")" -gt 0
check "no token or secret in any output" sh -c "! grep -rq -e dvsim-demo-secret -e 'Bearer ' '$W/out' '$W/run.out' '$W/run.err'"
done_checks
