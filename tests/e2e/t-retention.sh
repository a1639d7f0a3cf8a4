#!/bin/sh
# run.keep: after each run the oldest run folders of the job go, down to
# run.keep, never the latest nor one that can still be resumed (an
# interrupted run); each removal is in run.log and counted in
# summary.json. run.keep = 0 keeps everything.
. "$(dirname "$0")/lib.sh"

cd "$W" || exit 1
start_dvsim --generate 8 --seed 4 --latency-ms 300
{
	echo "mailbox"
	addresses
} >in.csv
write_job job.cfg "$BASE" "" "{ parallel = 1; batch_size = 1; keep = 2; }"
runs() { ls out/e2e | grep -v '^latest$'; }

# an interrupted run first: SIGINT once it has started writing results
"$MBXFIX" run --no-progress job.cfg >int.out 2>int.err &
pid=$!
i=0
while [ ! -s out/e2e/latest/results.csv ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
sleep 0.5
kill -INT $pid
wait $pid
eq "the interrupted run: exit 3" $? 3
interrupted=$(readlink out/e2e/latest)
check "its summary says interrupted" jq -e '.interrupted == true' "out/e2e/$interrupted/summary.json"

stop_dvsim
start_dvsim --generate 8 --seed 4
write_job job.cfg "$BASE" "" "{ parallel = 1; batch_size = 1; keep = 2; }"
for n in 1 2 3 4; do
	"$MBXFIX" run -q job.cfg >run.$n.out 2>&1
	eq "run $n: exit 0" $? 0
	sleep 1.1 # run ids are by the second
done
runs
latest=$(readlink out/e2e/latest)
eq "kept: the 2 newest and the interrupted one" "$(runs | wc -l | tr -d ' ')" 3
check "the latest is kept" test -d "out/e2e/$latest"
check "the interrupted (resumable) run is kept" test -d "out/e2e/$interrupted"
check "the output keeps 'latest'" test -L out/e2e/latest
eq "the last run pruned one folder" "$(jq .pruned_runs "out/e2e/$latest/summary.json")" 1
check "run.log names the folder removed" sh -c \
	"jq -r 'select(.event == \"prune\") | .removed' 'out/e2e/$latest/run.log' | grep -q '^20'"
removed=$(jq -r 'select(.event == "prune") | .removed' "out/e2e/$latest/run.log")
check "that folder is gone" test ! -e "out/e2e/$removed"

# keep = 0: nothing goes
write_job job.cfg "$BASE" "" "{ parallel = 1; batch_size = 1; keep = 0; }"
before=$(runs | wc -l | tr -d ' ')
sleep 1.1
"$MBXFIX" run -q job.cfg >/dev/null 2>&1
eq "keep = 0: every run stays" "$(runs | wc -l | tr -d ' ')" $((before + 1))

done_checks
