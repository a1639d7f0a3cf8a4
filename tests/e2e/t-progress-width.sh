#!/bin/sh
# The progress line on a pseudo-terminal (script(1)): on a 60-column
# terminal no line is ever wider than 59 columns (it shortens, it does not
# wrap); on a 200-column one the full line shows elapsed time, the phase,
# rows done/total, failed, rate and ETA; while throttled it says how long
# it waits for Retry-After.
. "$(dirname "$0")/lib.sh"

cd "$W" || exit 1
# a fresh organisation for each run (so each has writes to make), behind
# a window of 3 s with 5 requests: the run is held by Retry-After
fresh() {
	stop_dvsim
	start_dvsim --generate 30 --seed 3 --latency-ms 80 --window-s 3 --limit-requests 5
	{
		echo "mailbox"
		addresses
		echo "nobody@nowhere.example"
	} >in.csv
	write_job job.cfg "$BASE" "" "{ parallel = 1; batch_size = 1; max_attempts = 10; }"
}

# run mbxfix on a terminal COLS wide; the bytes it wrote there in tty.COLS
on_tty() {
	cols=$1
	shift
	script -qefc "stty cols $cols rows 24; $MBXFIX run $* >run.$cols.out" /dev/null \
		>tty.$cols 2>&1
}
# every piece of the terminal output between \r and \n, escapes removed
pieces() { tr '\r' '\n' <"$1" | sed 's/\x1b\[K//g'; }

fresh
on_tty 60 job.cfg
eq "60 columns: exit 1 (a row fails)" $? 1
pieces tty.60 | sort -u | head -n 20
widest=$(pieces tty.60 | awk '{ if (length($0) > w) w = length($0) } END { print w + 0 }')
echo "widest piece: $widest"
check "60 columns: a progress line was drawn" grep -q "failed" tty.60
check "60 columns: no line wider than 59 columns" test "$widest" -le 59
check "60 columns: the line is rewritten in place (\\r, no scrolling)" \
	test "$(tr -cd '\r' <tty.60 | wc -c)" -gt 3
eq "60 columns: a single line of progress (one newline at the end)" \
	"$(grep -c 'failed' tty.60)" 1
check "60 columns: throttling shows as a wait" sh -c "pieces() { tr '\r' '\n' <\"\$1\"; }; pieces tty.60 | grep -q 'wait [0-9]*s'"

fresh
on_tty 200 job.cfg
eq "200 columns: exit 1" $? 1
pieces tty.200 | sort -u | head -n 20
check "200 columns: elapsed, phase, rows, failed, ETA, rate" sh -c \
	"tr '\r' '\n' <tty.200 | grep -Eq '^[0-9]+:[0-9]{2} [a-z]+.*, rows [0-9]+/34, failed [0-9]+, ETA [0-9?:]+, [0-9.]+ rows/s'"
check "200 columns: Retry-After waits are named" sh -c \
	"tr '\r' '\n' <tty.200 | grep -Eq 'waiting [0-9]+ s for Retry-After'"
check "200 columns: the phases are named" sh -c \
	"tr '\r' '\n' <tty.200 | grep -Eq ' (resolving|writing),'"
widest=$(pieces tty.200 | awk '{ if (length($0) > w) w = length($0) } END { print w + 0 }')
check "200 columns: no line wider than 199" test "$widest" -le 199

# off a terminal: plain lines, no carriage return
fresh
"$MBXFIX" run job.cfg >plain.out 2>plain.err
check "off a terminal: no \\r" sh -c "! tr -d '\n' <plain.err | grep -q \"\$(printf '\r')\""
check "off a terminal: plain progress lines" grep -q "^mbxfix: [0-9]*:[0-9]* .*rows [0-9]*/34" plain.err

done_checks
