#!/bin/sh
# The run journal and run identity (docs/journal.md): whenever the process
# dies (kill -9 at moments mbxfix-test chooses), --resume rebuilds
# results.csv and failed.csv exactly, each write applied once; a disk
# that fills stops the run with exit 3 and --resume finishes it; chains of
# --rerun-failed and --resume read the right rows; plan leaves 'latest'
# alone; a finished run is not resumed; one run of a job at a time; a
# record past 1 MB late in the input is one invalid row, not exit 2.
. "$(dirname "$0")/lib.sh"

cd "$W" || exit 1
MT=${MBXFIX}-test
if [ ! -x "$MT" ]; then
	echo "not ok - $MT is missing (make mbxfix-test)"
	exit 1
fi

# setup NAME [DVSIM OPTIONS]: a fresh organisation, job NAME, and an input
# of every mailbox (incoming=outlook) with a mailbox that does not exist
# after every 25th: those rows fail.
setup() {
	name=$1
	shift
	stop_dvsim
	start_dvsim --generate 300 --seed 7 "$@"
	write_job "$W/$name.cfg" "$BASE" "" "{ parallel = 2; batch_size = 10; max_attempts = 4; }"
	sed -i "s#output = \"$W/out\";#output = \"$W/$name\";#" "$W/$name.cfg"
	{
		echo "mailbox,incoming,ref"
		state | jq -r '.entities.mailboxes | to_entries[] | "\(.value.emailaddress),outlook,r\(.key)"' |
			awk '{ print } NR % 25 == 0 { print "ghost" NR "@contoso.com,outlook,g" NR }'
	} >"$W/in.csv"
	N=$(($(wc -l <"$W/in.csv") - 1))
	G=$(grep -c '^ghost' "$W/in.csv")
	M=$(state | jq '.entities.mailboxes | length')
	NEED=$(state | jq '[.entities.mailboxes[] | select(.incomingemaildeliverymethod != 1 or .outgoingemaildeliverymethod != 2 or .actdeliverymethod != 1)] | length')
	CFG="$W/$name.cfg"
	D="$W/$name/e2e/latest"
}

refs() { tail -n +2 "$1" | tr -d '\r' | cut -d, -f3 | tr '\n' ' '; }
not_ok_refs() { tail -n +2 "$1" | tr -d '\r' | awk -F, '$4 != "ok" { printf "%s ", $3 }'; }

# verify LABEL: the run's files against the input and dvsim
verify() {
	eq "$1: results.csv holds every row once, in input order" \
		"$(refs "$D/results.csv")" "$(refs "$W/in.csv")"
	eq "$1: failed.csv holds exactly the rows not ok, in order" \
		"$(refs "$D/failed.csv")" "$(not_ok_refs "$D/results.csv")"
	eq "$1: failed.csv holds the $G rows of unknown mailboxes" \
		"$(tail -n +2 "$D/failed.csv" | grep -c '^ghost')" "$G"
	eq "$1: each needed write applied once" "$(stats | jq .writes.total)" "$NEED"
	eq "$1: every mailbox holds incoming=outlook" \
		"$(state | jq '[.entities.mailboxes[] | select(.incomingemaildeliverymethod == 1)] | length')" "$M"
	eq "$1: summary.json covers the whole run" \
		"$(jq -c '[.rows, .results.ok, .results.failed]' "$D/summary.json")" "[$N,$((N - G)),$G]"
}

# 1. kill -9 at chosen moments, then --resume
for at in row:120 results:100 journal:5 row:1; do
	setup kill --latency-ms 10
	MBXFIX_TEST_KILL=$at "$MT" run "$CFG" --no-progress >k.out 2>k.err
	eq "killed at $at: the process died by SIGKILL" $? 137
	before=$(tail -n +2 "$D/results.csv" | grep -c '^')
	jrows=$(grep -a -c '^row ' "$D/journal")
	echo "# killed at $at: results.csv had $before rows, the journal $jrows"
	"$MBXFIX" run "$CFG" --resume --no-progress >r.out 2>r.err
	eq "killed at $at: --resume exits 1 (the unknown mailboxes)" $? 1
	verify "killed at $at"
done

# 2. a finished run is not resumed, and its files stay as they are
sum=$(cat "$D/results.csv" "$D/failed.csv" "$D/summary.json" | cksum)
"$MBXFIX" run "$CFG" --resume --no-progress >r.out 2>r.err
eq "--resume of a finished run: exit 2" $? 2
check "it says the run finished" grep -q "finished" r.err
eq "the finished run's files are untouched" "$(cat "$D/results.csv" "$D/failed.csv" "$D/summary.json" | cksum)" "$sum"

# 3. plan moves latest-plan, never latest; --resume still reads the run
target=$(readlink "$W/kill/e2e/latest")
"$MBXFIX" plan "$CFG" --no-progress >p.out 2>p.err
eq "plan: exit 0 or 1" "$(($? <= 1))" 1
eq "plan leaves latest on the run" "$(readlink "$W/kill/e2e/latest")" "$target"
check "plan has its own pointer" test -f "$W/kill/e2e/latest-plan/results.csv"
"$MBXFIX" run "$CFG" --resume --no-progress >r.out 2>r.err
eq "--resume after plan: refused (the run finished), exit 2" $? 2

# 4. --rerun-failed interrupted, then --resume; then interrupted, then
#    --rerun-failed again: each time exactly the failed rows
setup chain
"$MBXFIX" run "$CFG" --no-progress >c1.out 2>&1
eq "chain: first run exit 1" $? 1
ghosts=$(not_ok_refs "$D/results.csv")
MBXFIX_TEST_KILL=row:3 "$MT" run "$CFG" --rerun-failed --no-progress >c2.out 2>&1
eq "chain: --rerun-failed killed" $? 137
check "chain: the rerun keeps its own input" test -f "$D/input.csv"
"$MBXFIX" run "$CFG" --resume --no-progress >c3.out 2>c3.err
eq "chain: --resume of the rerun exit 1" $? 1
eq "chain: the resumed rerun holds exactly the failed rows" "$(refs "$D/results.csv")" "$ghosts"
MBXFIX_TEST_KILL=row:3 "$MT" run "$CFG" --rerun-failed --no-progress >c4.out 2>&1
eq "chain: second --rerun-failed killed" $? 137
"$MBXFIX" run "$CFG" --rerun-failed --no-progress >c5.out 2>c5.err
eq "chain: --rerun-failed after an interrupted one exit 1" $? 1
eq "chain: it takes the failed rows and those never reached" "$(refs "$D/results.csv")" "$ghosts"
eq "chain: each needed write applied once" "$(stats | jq .writes.total)" "$NEED"
# --resume of a run whose input changed is refused
MBXFIX_TEST_KILL=row:3 "$MT" run "$CFG" --no-progress >c6.out 2>&1
echo "x@contoso.com,outlook,x" >>"$W/in.csv"
"$MBXFIX" run "$CFG" --resume --no-progress >c7.out 2>c7.err
eq "chain: --resume with a changed input: exit 2" $? 2
check "chain: it says the input changed" grep -q "changed since" c7.err

# 5. one run of a job at a time
setup lock --latency-ms 150
"$MBXFIX" run "$CFG" --no-progress >l1.out 2>l1.err &
pid=$!
i=0
while [ ! -s "$W/lock/e2e/.lock" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
"$MBXFIX" run "$CFG" --no-progress >l2.out 2>l2.err
eq "a second run of the job: exit 3" $? 3
check "it names the job and the holder's pid" grep -q "job 'e2e' is already running (pid $pid, started " l2.err
wait "$pid"
eq "the first run: exit 1" $? 1
eq "lock: each needed write applied once" "$(stats | jq .writes.total)" "$NEED"

# 6. a record past 1 MB late in the input: that row is invalid, the rest run
setup big
awk 'NR == 251 { printf "big@contoso.com,outlook,\""; for (i = 0; i < 1200; i++) printf "%01000d", 0; print "\"" } { print }' \
	"$W/in.csv" >"$W/in2.csv" && mv "$W/in2.csv" "$W/in.csv"
"$MBXFIX" run "$CFG" --no-progress >b.out 2>b.err
eq "oversized record: exit 1, not 2" $? 1
eq "oversized record: every row has a line" "$(tail -n +2 "$D/results.csv" | grep -c '^')" "$((N + 1))"
check "oversized record: its row is invalid" grep -q '^big@contoso.com,outlook,.*,invalid,.*record larger than' "$D/results.csv"
eq "oversized record: each needed write applied once" "$(stats | jq .writes.total)" "$NEED"

# 7. the disk fills: exit 3, then --resume once there is room
if mkdir -p "$W/full" && mount -t tmpfs -o size=4m tmpfs "$W/full" 2>/dev/null; then
	setup full
	sed -i "s#output = \"$W/full\";#output = \"$W/full/out\";#" "$CFG"
	D="$W/full/out/e2e/latest"
	# long rows: results.csv and the journal grow fast
	pad=$(head -c 3000 /dev/zero | tr '\0' p)
	sed -i "1!s/\$/$pad/" "$W/in.csv"
	head -c $((1536 * 1024)) /dev/zero >"$W/full/filler"
	"$MBXFIX" run "$CFG" --no-progress >f1.out 2>f1.err
	eq "disk full: exit 3" $? 3
	check "disk full: it says to resume" grep -q "resume" f1.err
	cat f1.err
	rm -f "$W/full/filler"
	"$MBXFIX" run "$CFG" --resume --no-progress >f2.out 2>f2.err
	eq "disk full: --resume exit 1" $? 1
	sed -i "1!s/$pad\$//" "$W/in.csv"
	eq "disk full: results.csv holds every row once, in input order" \
		"$(tail -n +2 "$D/results.csv" | tr -d '\r' | cut -d, -f3 | sed "s/$pad//" | tr '\n' ' ')" "$(refs "$W/in.csv")"
	eq "disk full: failed.csv holds the $G failed rows" "$(tail -n +2 "$D/failed.csv" | grep -c '^ghost')" "$G"
	eq "disk full: each needed write applied once" "$(stats | jq .writes.total)" "$NEED"
	umount "$W/full"
else
	echo "# mount -t tmpfs is not allowed here: the disk-full case is not run"
fi
done_checks
