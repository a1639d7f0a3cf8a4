#!/bin/sh
# dvsim's command line: bad usage exits 2 with a message; the ready line.
. "${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/dvsim/lib.sh"

usage() {
	"$DVSIM" "$@" >"$TMP/u.out" 2>"$TMP/u.err"
	echo $?
}

check "non-number --latency-ms exits 2" "$(usage --latency-ms 12x)" 2
check_match "message names the option" "$(cat "$TMP/u.err")" "--latency-ms: '12x' is not a number"
check "--fail-rate above 1 exits 2" "$(usage --fail-rate 1.5)" 2
check "--reset-rate not a number exits 2" "$(usage --reset-rate abc)" 2
check "--listen without port exits 2" "$(usage --listen 127.0.0.1)" 2
check "--listen port out of range exits 2" "$(usage --listen 127.0.0.1:70000)" 2
check "--org with --generate exits 2" "$(usage --org x.json --generate 3)" 2
check "--cert without --key exits 2" "$(usage --cert c.pem)" 2
check "--client without secret exits 2" "$(usage --client abc)" 2
check "unknown option exits 2" "$(usage --frobnicate)" 2
check "stray argument exits 2" "$(usage extra)" 2
check_match "usage on stderr" "$(cat "$TMP/u.err")" "^dvsim: unexpected argument 'extra'"
check "--help exits 0" "$(usage --help)" 0
check_match "--help prints usage on stdout" "$(cat "$TMP/u.out")" "^usage: dvsim"
check "missing --org file: config error, exit 2" "$(usage --listen 127.0.0.1:0 --org "$TMP/none.json")" 2

start_dvsim a --generate 3 --seed 7
check_match "ready line" "$(cat "$TMP/a.out")" '^dvsim listening on http://127\.0\.0\.1:[1-9][0-9]*$'
check "exactly one line on stdout" "$(wc -l <"$TMP/a.out" | tr -d ' ')" 1
check "stats answer" "$(req GET _sim/stats)" 200
check "stats is JSON" "$(jq -r '.requests' "$TMP/body")" 1
check "unknown path is 404" "$(req GET nowhere)" 404
check "404 has Dataverse error JSON" "$(jq -r '.error.code' "$TMP/body")" 0x80060888
kill -TERM "$PID"
wait "$PID"
check "SIGTERM: clean exit 0" "$?" 0
finish
