#!/bin/sh
# `make demo`: start dvsim with a generated organisation of 500 mailboxes
# and the default problem mix, run jobs/demo.cfg over input/demo.csv
# against it, print the summary and where the results are, stop dvsim.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 3
work=$(mktemp -d "${TMPDIR:-/tmp}/mbxfix-demo.XXXXXX") || exit 3
pid=
# The test suite runs the demo with its own builds (make asan).
dvsim=${DVSIM:-./dvsim}
mbxfix=${MBXFIX:-./mbxfix}
output=${DEMO_OUTPUT:-output}
# the copy of the job lives in $work: its paths must not be relative
case $output in /*) ;; *) output="$top/$output" ;; esac

cleanup() {
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Seed 42 is the organisation input/demo.csv lists (jobs/demo-input.sh).
"$dvsim" --listen 127.0.0.1:0 --generate 500 --seed 42 --test-delay-ms 500 \
	>"$work/dvsim.out" 2>"$work/dvsim.err" &
pid=$!

url=
for _ in $(seq 100); do
	url=$(sed -n 's/^dvsim listening on //p' "$work/dvsim.out")
	[ -n "$url" ] && break
	if ! kill -0 "$pid" 2>/dev/null; then
		echo "demo: dvsim did not start:" >&2
		cat "$work/dvsim.err" >&2
		pid=
		exit 3
	fi
	sleep 0.1
done
if [ -z "$url" ]; then
	echo "demo: dvsim did not say it was listening within 10 s" >&2
	exit 3
fi
port=${url##*:}
echo "demo: dvsim serves a generated organisation of 500 users at $url"

# The committed job names port 8580; run a copy naming the one dvsim took.
sed -e "s/127\.0\.0\.1:8580/127.0.0.1:$port/g" \
	-e "s|^output = .*|output = \"$output\";|" \
	-e "s|^input = .*|input = \"$top/input/demo.csv\";|" jobs/demo.cfg >"$work/demo.cfg"

# The run's own "next:" lines name this temporary job, gone with dvsim
# when the demo ends: the demo names its own next steps below instead.
MBXFIX_CLIENT_SECRET=dvsim-demo-secret "$mbxfix" run "$work/demo.cfg" >"$work/run.out"
rc=$?
sed '/^next:/,$d' "$work/run.out"

run=$(cd "$output/demo/latest" 2>/dev/null && pwd -P)
if [ "$rc" -ge 2 ] || [ -z "$run" ]; then
	echo "demo: mbxfix run failed (exit $rc)" >&2
	exit "$rc"
fi
echo
echo "Results of this run are in $output/demo/latest/ ($run):"
echo "  results.csv   one line per input row: outcome, per-action status, error_code, hint"
echo "  failed.csv    the rows still failing, ready to run again"
echo "  summary.json  counts and timings; run.log, one JSON line per event"
if command -v jq >/dev/null && [ -f "$run/summary.json" ]; then
	echo
	echo "summary.json:"
	jq -c '{rows, results: (.results // .counts // empty)}' "$run/summary.json" 2>/dev/null ||
		head -c 600 "$run/summary.json"
	echo
fi
stats=$(curl -s "$url/_sim/stats" 2>/dev/null) &&
	echo "dvsim served: $stats" | head -c 400 && echo
if command -v jq >/dev/null && [ -f "$run/run.log" ]; then
	echo
	echo "Rows still failing, by error_code (results.csv has the hint for each):"
	jq -r 'select(.level == "error") | .error_code' "$run/run.log" |
		sort | uniq -c | sort -rn
fi
echo
echo "They are the problems mbxfix can only explain (no licence, an address"
echo "that differs from Exchange, impersonation rights, a disabled or a"
echo "recreated user): their hint says what the administrator must do."
echo
echo "Next:"
echo "  open $output/demo/latest/report.html in a browser, or results.csv"
echo "    in a spreadsheet (the hint column says what to do for each failed row)"
echo "  against your own environment: copy jobs/example.cfg, list your"
echo "    mailboxes (templates/), then mbxfix check, plan and run it"
echo "    (README.md, First use)"
echo "  once the administrator has fixed what the hints name, run only the"
echo "    rows still failing: mbxfix run --rerun-failed JOB.cfg"
exit 0
