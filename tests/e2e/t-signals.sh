#!/bin/sh
# SIGINT and SIGTERM. The first signal ends every wait and every transfer
# at once: the run exits 3 within 2 s, the writes left unanswered are
# named in run.log (UnknownFate) and --resume reads them back before
# writing (no duplicate write, every row right). A second signal ends the
# process there and then. A server that never answers is played by a
# stopped dvsim (SIGSTOP): its kernel still accepts connections and takes
# requests, nothing answers them.
. "$(dirname "$0")/lib.sh"

cd "$W" || exit 1

# ms since the epoch
now_ms() { date +%s%3N; }

# wait_exit PID SECONDS: wait until PID ends (at most SECONDS); sets RC
# and TOOK (ms from the call)
wait_exit() {
	t0=$(now_ms)
	i=0
	while kill -0 "$1" 2>/dev/null && [ $i -lt $(($2 * 20)) ]; do
		sleep 0.05
		i=$((i + 1))
	done
	TOOK=$(($(now_ms) - t0))
	if kill -0 "$1" 2>/dev/null; then
		kill -9 "$1" 2>/dev/null
		wait "$1"
		RC=timeout
		return 1
	fi
	wait "$1"
	RC=$?
}

# wait_for FILE PATTERN SECONDS
wait_for() {
	i=0
	while ! grep -a -q "$2" "$1" 2>/dev/null; do
		i=$((i + 1))
		[ $i -gt $(($3 * 20)) ] && return 1
		sleep 0.05
	done
}

# 1. SIGINT while the run's requests hang: exit 3 within 2 s, the writes
# in flight named; --resume then finishes with each write applied once
start_dvsim --generate 400 --seed 7 --problems delivery=100 --latency-ms 20 --op-ms 30
{
	echo "mailbox,incoming"
	state | jq -r '.entities.mailboxes[].emailaddress + ",server-side-sync"'
} >in.csv
total=$(($(wc -l <in.csv) - 1))
need=$(state | jq '[.entities.mailboxes[] | select(.incomingemaildeliverymethod != 2 or .outgoingemaildeliverymethod != 2 or .actdeliverymethod != 1)] | length')
write_job job.cfg "$BASE" "" "{ parallel = 4; batch_size = 10; max_attempts = 6; request_timeout = 120; }"
"$MBXFIX" run job.cfg --no-progress -v >a.out 2>a.err &
pid=$!
# once writes are going, stop the server in the middle of them
i=0
while [ "$(stats | jq .writes.total)" -lt 20 ] && [ $i -lt 200 ]; do
	sleep 0.05
	i=$((i + 1))
done
kill -STOP "$DV_PID"
sleep 1
kill -INT "$pid"
wait_exit "$pid" 10
echo "# SIGINT with requests hanging: exit $RC after $TOOK ms"
eq "hanging requests: exit 3" "$RC" 3
check "hanging requests: ended within 2 s of SIGINT ($TOOK ms)" test "$TOOK" -lt 2000
check "hanging requests: the message says interrupted" grep -q "interrupted" a.err
log="$W/out/e2e/latest/run.log"
check "hanging requests: run.log names writes of unknown fate" \
	grep -q '"error_code":"UnknownFate"' "$log"
echo "# $(grep -c UnknownFate "$log") rows with a write of unknown fate"
check "hanging requests: the journal records their outcome as unknown (0)" \
	grep -a -q "^outcome [0-9]* 0 " "$W/out/e2e/latest/journal"
kill -CONT "$DV_PID"
sleep 1 # what the server still does with the abandoned requests
"$MBXFIX" run job.cfg --resume --no-progress >b.out 2>b.err
eq "resume: exit 0" $? 0
eq "resume: every mailbox right" "$(state | jq '[.entities.mailboxes[] | select(.incomingemaildeliverymethod == 2 and .outgoingemaildeliverymethod == 2 and .actdeliverymethod == 1)] | length')" "$total"
wrote=$(stats | jq .writes.total)
echo "# interrupted run and resume: $wrote writes for $need needed"
eq "resume: no write applied twice" "$((wrote - need))" 0
stop_dvsim

# 2. SIGINT before any answer at all (the sign-in request hangs)
start_dvsim --generate 3 --seed 7
write_job job.cfg "$BASE" "" "{ parallel = 1; batch_size = 10; max_attempts = 6; request_timeout = 120; }"
kill -STOP "$DV_PID"
rm -rf out
"$MBXFIX" run job.cfg --no-progress >c.out 2>c.err &
pid=$!
sleep 1
kill -INT "$pid"
wait_exit "$pid" 10
echo "# SIGINT during sign-in: exit $RC after $TOOK ms"
eq "sign-in hangs: exit 3" "$RC" 3
check "sign-in hangs: ended within 2 s of SIGINT ($TOOK ms)" test "$TOOK" -lt 2000
check "sign-in hangs: nothing written" test ! -e out
kill -CONT "$DV_PID"
stop_dvsim

# 3. SIGTERM while the start-up probe waits out a Retry-After of minutes
start_dvsim --generate 3 --seed 7 --window-s 300 --limit-requests 1
tok=$(curl -s -d "client_id=$CLIENT_ID&client_secret=$MBXFIX_CLIENT_SECRET&grant_type=client_credentials&scope=$BASE/.default" \
	"$BASE/contoso.onmicrosoft.com/oauth2/v2.0/token" | jq -r .access_token)
curl -s -o /dev/null -H "Authorization: Bearer $tok" "$BASE/api/data/v9.2/mailboxes?\$top=1"
ra=$(curl -s -D - -o /dev/null -H "Authorization: Bearer $tok" "$BASE/api/data/v9.2/mailboxes?\$top=1" |
	tr -d '\r' | sed -n 's/^[Rr]etry-[Aa]fter: //p')
check "the probe will be told to wait minutes (Retry-After: $ra)" test "${ra:-0}" -ge 60
write_job job.cfg "$BASE" "" "{ parallel = 1; batch_size = 10; max_attempts = 6; }"
"$MBXFIX" run job.cfg --no-progress >d.out 2>d.err &
pid=$!
# until the probe got its 429 (the two above made one already)
i=0
while [ "$(stats | jq .throttled_429)" -lt 2 ] && [ $i -lt 200 ]; do
	sleep 0.05
	i=$((i + 1))
done
sleep 0.5
kill -TERM "$pid"
wait_exit "$pid" 10
echo "# SIGTERM in the probe's Retry-After wait: exit $RC after $TOOK ms"
eq "Retry-After wait: exit 3" "$RC" 3
check "Retry-After wait: ended within 2 s of SIGTERM ($TOOK ms)" test "$TOOK" -lt 2000
check "Retry-After wait: nothing written" test ! -e out
stop_dvsim

# 4. a second signal ends the process at once, even where the first one
# cannot be acted on: here mbxfix is stuck writing its log to a pipe that
# is full and that nobody reads
start_dvsim --generate 3 --seed 7
write_job job.cfg "$BASE" "" "{ parallel = 1; batch_size = 10; max_attempts = 6; }"
rm -rf out
mkfifo logpipe
exec 3<>logpipe # held open, never read
head -c 65536 /dev/zero >&3 # the pipe is full
"$MBXFIX" run job.cfg --no-progress -v >e.out 2>logpipe &
pid=$!
sleep 1
check "log pipe full: mbxfix is stuck" kill -0 "$pid"
kill -INT "$pid"
sleep 1
check "log pipe full: the first SIGINT cannot end it (still writing)" kill -0 "$pid"
kill -INT "$pid"
wait_exit "$pid" 3
echo "# second SIGINT: exit $RC after $TOOK ms"
eq "second signal: killed by SIGINT (130)" "$RC" 130
check "second signal: ended at once ($TOOK ms)" test "$TOOK" -lt 1000
exec 3<&-
stop_dvsim

done_checks
