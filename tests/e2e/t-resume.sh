#!/bin/sh
# An interrupted run (SIGINT) leaves a valid prefix of results.csv and a
# summary marked interrupted; --resume finishes the remaining rows, each
# mailbox written once, each row with exactly one line.
. "$(dirname "$0")/lib.sh"

cd "$W" || exit 1
start_dvsim --generate 300 --seed 4 --latency-ms 40
write_job job.cfg "$BASE" "" "{ parallel = 1; batch_size = 5; max_attempts = 6; }"
{
	echo "mailbox,incoming,ref"
	state | jq -r '.entities.mailboxes | to_entries[] | "\(.value.emailaddress),outlook,r\(.key)"'
} >in.csv
n=$(($(wc -l <in.csv) - 1))
need=$(state | jq '[.entities.mailboxes[] | select(.incomingemaildeliverymethod != 1 or .outgoingemaildeliverymethod != 2 or .actdeliverymethod != 1)] | length')

"$MBXFIX" run job.cfg --no-progress >r1.out 2>r1.err &
pid=$!
sleep 1.5
kill -INT "$pid"
wait "$pid"
eq "interrupted run: exit 3" $? 3
cat r1.err
first=$(tail -n +2 "$(results)" | grep -c '^')
check "interrupted run wrote some rows but not all ($first)" test "$first" -gt 0 -a "$first" -lt "$n"
eq "interrupted run: its lines are rows 1..$first in order" \
	"$(col ref | tr '\n' ' ')" "$(tail -n +2 in.csv | head -n "$first" | cut -d, -f3 | tr '\n' ' ')"
eq "summary says interrupted" "$(jq .interrupted "$W/out/e2e/latest/summary.json")" true

"$MBXFIX" run job.cfg --resume --no-progress >r2.out 2>r2.err
eq "resumed run: exit 0" $? 0
cat r2.err
eq "results.csv: one line per row, in input order" \
	"$(col ref | tr '\n' ' ')" "$(tail -n +2 in.csv | cut -d, -f3 | tr '\n' ' ')"
eq "every mailbox holds incoming=outlook" \
	"$(state | jq '[.entities.mailboxes[] | select(.incomingemaildeliverymethod == 1)] | length')" "$n"
eq "each needed write applied once" "$(stats | jq .writes.total)" "$need"
done_checks
