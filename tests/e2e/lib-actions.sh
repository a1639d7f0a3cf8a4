# Sourced by tests/e2e/t-actions-*.sh: start dvsim, write a job, run
# mbxfix, read dvsim's state and stats and mbxfix's results with jq.
# Environment (tests/run-e2e.sh): TOP, MBXFIX, DVSIM.
set -u
: "${TOP:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${MBXFIX:=$TOP/mbxfix}" "${DVSIM:=$TOP/dvsim}"
cd "$TOP" || exit 1

T=$(mktemp -d "${TMPDIR:-/tmp}/mbxfix-actions.XXXXXX") || exit 1
DV_PID=
URL=
pass=0 fail=0

cleanup() {
	if [ -n "$DV_PID" ]; then
		if ! kill "$DV_PID" 2>/dev/null; then
			echo "dvsim had stopped; its stderr:"
			tail -n 20 "$T/dvsim.err"
		fi
		wait "$DV_PID" 2>/dev/null
	fi
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# The CSV-to-JSON helper, built once per test run.
CSV2JSON="$TOP/build/e2e/csv2json"
if [ ! -x "$CSV2JSON" ] || [ "$TOP/tests/e2e/csv2json.c" -nt "$CSV2JSON" ]; then
	mkdir -p "$TOP/build/e2e"
	${CC:-cc} -O1 -o "$CSV2JSON.$$" "$TOP/tests/e2e/csv2json.c" \
		$(pkg-config --cflags --libs libcjson) -lcsv &&
		mv "$CSV2JSON.$$" "$CSV2JSON" || exit 1
fi

# dvsim_start ARGS...: start dvsim on a free port; sets URL and DV_PID.
dvsim_start() {
	: >"$T/dvsim.out"
	"$DVSIM" --listen 127.0.0.1:0 ${DVSIM_VARIANT:+--variant "$DVSIM_VARIANT"} "$@" >"$T/dvsim.out" 2>"$T/dvsim.err" &
	DV_PID=$!
	for _ in $(seq 200); do
		URL=$(sed -n 's/^dvsim listening on //p' "$T/dvsim.out")
		[ -n "$URL" ] && return 0
		kill -0 "$DV_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "dvsim did not start:"
	cat "$T/dvsim.err"
	exit 1
}

# variant NAME: true when this run's dvsim plays --variant NAME.
variant() {
	case ",${DVSIM_VARIANT:-}," in
	*",$1,"*) return 0 ;;
	esac
	return 1
}

state() { curl -sf "$URL/_sim/state"; }
stats() { curl -sf "$URL/_sim/stats"; }

# write_job NAME INPUT [ACTIONS [EXTRA_RUN_SETTINGS]]: a job file for dvsim.
write_job() {
	cat >"$T/$1.cfg" <<CFG
name = "$1";
environment = { url = "$URL"; };
auth = {
  tenant = "contoso.onmicrosoft.com";
  client_id = "${CLIENT_ID:-51f81489-12ee-4a9e-aaae-a2591f45987d}";
  secret_env = "E2E_SECRET";
  authority = "$URL";
};
input = "$2";
output = "$T/out";
defaults = {
  actions = "${3:-fix_owner;set_profile;set_delivery;grant_privileges;approve;test_enable}";
  profile = "Microsoft Exchange Online";
  incoming = "server-side-sync"; outgoing = "server-side-sync"; act = "server-side-sync";
  privileges = "server-side-sync";
};
run = { max_attempts = 4; test_timeout = 30; poll_interval = 1; ${4:-} };
CFG
}

# run_job NAME: run it; RC holds the exit status; R the results as JSON.
run_job() {
	E2E_SECRET=${CLIENT_SECRET:-dvsim-demo-secret} \
		"$MBXFIX" run --no-progress "$T/$1.cfg" >"$T/$1.stdout" 2>"$T/$1.stderr"
	RC=$?
	R="$T/$1.results.json"
	if [ -f "$T/out/$1/latest/results.csv" ]; then
		"$CSV2JSON" <"$T/out/$1/latest/results.csv" >"$R"
	else
		echo '[]' >"$R"
		echo "no results.csv for $1 (exit $RC):"
		tail -n 20 "$T/$1.stderr"
	fi
}

# check NAME COMMAND...: one check, reported on one line.
check() {
	name=$1
	shift
	if "$@"; then
		pass=$((pass + 1))
		echo "ok   $name"
	else
		fail=$((fail + 1))
		echo "FAIL $name"
	fi
}

# jqt FILE FILTER: true when the jq filter yields true on FILE.
jqt() {
	[ "$(jq -r "$2" "$1" 2>&1)" = true ]
}

# jqv FILE FILTER: print a value (for messages).
jqv() { jq -c "$2" "$1" 2>&1 | head -c 2000; echo; }

finish() {
	echo "$pass passed, $fail failed"
	[ "$fail" -eq 0 ]
}

# token: an access token for the demo client (for setting up state).
token() {
	curl -sf -d "client_id=${CLIENT_ID:-51f81489-12ee-4a9e-aaae-a2591f45987d}&client_secret=${CLIENT_SECRET:-dvsim-demo-secret}&grant_type=client_credentials&scope=$URL/.default" \
		"$URL/contoso.onmicrosoft.com/oauth2/v2.0/token" | jq -r .access_token
}

# api_patch PATH JSON: PATCH an entity through the Web API (setup only).
api_patch() {
	curl -sf -o /dev/null -X PATCH -H "Authorization: Bearer $(token)" \
		-H "Content-Type: application/json" -H "If-Match: *" \
		-d "$2" "$URL/api/data/v9.2/$1"
}
