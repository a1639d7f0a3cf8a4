#!/bin/sh
# Batch size against a service whose execution-time limit binds: each
# operation costs dvsim 100 ms, the user may spend 2.5 s of it in a 3 s
# window, and run.request_timeout is 2 s. mbxfix starts small, keeps a
# $batch's estimated server time well below the timeout, halves the size
# on the execution-time 429 (0x80072321) and finishes every row without a
# request being abandoned at its timeout; -v tells how the size evolved.
. "$(dirname "$0")/lib.sh"

cd "$W" || exit 1
start_dvsim --generate 30 --seed 7 --op-ms 100 --limit-exec-ms 2500 --window-s 3 \
	--dop-hint 4
{
	echo "mailbox,incoming"
	addresses | sed 's/$/,outlook/'
} >in.csv
rows=$(($(wc -l <in.csv) - 1))
need=$(state | jq '[.entities.mailboxes[] | select(.incomingemaildeliverymethod != 1 or .outgoingemaildeliverymethod != 2 or .actdeliverymethod != 1)] | length')
before=$(stats | jq .writes.total)
write_job job.cfg "$BASE" "" \
	"{ parallel = 0; batch_size = 0; max_attempts = 10; request_timeout = 2; }"
"$MBXFIX" run job.cfg --no-progress -vv >run.out 2>run.err
eq "exit status" $? 0
eq "every row ok" "$(col result | sort | uniq -c | awk '{ print $2 ":" $1 }')" "ok:$rows"
eq "each needed write applied once" \
	"$(($(stats | jq .writes.total) - before))" "$need"
check "the execution-time limit bound (dvsim answered 429)" \
	test "$(stats | jq .throttled_429)" -gt 0
check "no request was abandoned at its timeout" \
	sh -c '! grep -qi "timed out" run.err'
check "the size was halved on the execution-time limit" \
	grep -q "batch size [0-9]* -> [0-9]* (.*execution-time limit)" run.err
sizes=$(sed -n 's/^mbxfix: batch sizes: //p' run.err)
echo "# $sizes"
max=$(echo "$sizes" | sed -n 's/.*max \([0-9]*\) operations.*/\1/p')
# 2 s timeout / 4 = 500 ms per batch; the probe says 100 ms per operation
check "no batch above its time budget (max $max operations)" \
	test -n "$max" -a "${max:-99}" -le 5
check "the sizes chosen are logged, and shrank" \
	sh -c "echo '$sizes' | grep -q 'chosen 10 .*shrank [1-9]'"
done_checks
