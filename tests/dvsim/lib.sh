# Sourced by tests/dvsim/t-*.sh: start dvsim on a free port, make checks,
# print "N passed, N failed" and exit 0 only when every check held.
# Every dvsim started here is killed when the script exits.
: "${TOP:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${DVSIM:=$TOP/dvsim}"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/dvsim-t.XXXXXX")
PIDS=""
pass=0 fail=0
DEMO_ID=51f81489-12ee-4a9e-aaae-a2591f45987d
DEMO_SECRET=dvsim-demo-secret
API=api/data/v9.2

cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	for p in $PIDS; do wait "$p" 2>/dev/null; done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# start_dvsim NAME [ARGS...]: sets URL (http(s)://127.0.0.1:PORT) and PID
start_dvsim() {
	name=$1
	shift
	: >"$TMP/$name.out"
	"$DVSIM" --listen 127.0.0.1:0 "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
	PID=$!
	PIDS="$PIDS $PID"
	i=0
	while [ $i -lt 100 ]; do
		URL=$(sed -n 's/^dvsim listening on \(https*:\/\/127\.0\.0\.1:[0-9]*\)$/\1/p' "$TMP/$name.out")
		[ -n "$URL" ] && return 0
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.05
		i=$((i + 1))
	done
	echo "dvsim did not start:" >&2
	cat "$TMP/$name.err" >&2
	exit 1
}

ok() {
	pass=$((pass + 1))
	echo "ok   $1"
}

bad() {
	fail=$((fail + 1))
	echo "FAIL $1"
}

# check NAME GOT WANT
check() {
	if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: got '$2', want '$3'"; fi
}

# check_match NAME GOT REGEX (grep -E)
check_match() {
	if printf '%s' "$2" | grep -Eq -- "$3"; then ok "$1"; else bad "$1: '$2' does not match '$3'"; fi
}

finish() {
	echo "$pass passed, $fail failed"
	[ "$fail" -eq 0 ]
	exit $?
}

# token [ID] [SECRET] [BASE]: prints an access token (empty on failure)
token() {
	curl -s -d "grant_type=client_credentials&client_id=${1:-$DEMO_ID}" \
		--data-urlencode "client_secret=${2:-$DEMO_SECRET}" \
		--data-urlencode "scope=https://org.crm.dynamics.com/.default" \
		"${3:-$URL}/contoso/oauth2/v2.0/token" | jq -r '.access_token // empty'
}

# req METHOD PATH [CURL ARGS...]: body in $TMP/body, headers in $TMP/hdr,
# prints the status
req() {
	m=$1 p=$2
	shift 2
	curl -s -X "$m" -o "$TMP/body" -D "$TMP/hdr" -w '%{http_code}' "$@" "$URL/$p"
}

# hdr NAME: a header of the last req, without CR
hdr() {
	grep -i "^$1:" "$TMP/hdr" | head -n 1 | sed 's/^[^:]*: *//' | tr -d '\r'
}

stat_of() {
	curl -s "$URL/_sim/stats" | jq -r "$1"
}
