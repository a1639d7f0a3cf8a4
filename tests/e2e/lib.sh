# Shared helpers of the mbxfix end-to-end scripts (sourced, not run).
# Environment: $TOP, $MBXFIX, $DVSIM (tests/run-e2e.sh sets them).
set -u
: "${TOP:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${MBXFIX:=$TOP/mbxfix}" "${DVSIM:=$TOP/dvsim}"
W=$(mktemp -d "${TMPDIR:-/tmp}/mbxfix-e2e.XXXXXX")
DV_PID=
CLIENT_ID=51f81489-12ee-4a9e-aaae-a2591f45987d
MBXFIX_CLIENT_SECRET=dvsim-demo-secret
export MBXFIX_CLIENT_SECRET
fails=0 checks=0

stop_dvsim() {
	if [ -n "$DV_PID" ]; then
		kill "$DV_PID" 2>/dev/null
		wait "$DV_PID" 2>/dev/null
		DV_PID=
	fi
}
cleanup() {
	stop_dvsim
	if [ "$fails" -eq 0 ]; then rm -rf "$W"; else echo "kept $W"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# check DESCRIPTION COMMAND...: one assertion.
check() {
	desc=$1
	shift
	checks=$((checks + 1))
	if "$@"; then
		echo "ok - $desc"
	else
		echo "not ok - $desc"
		fails=$((fails + 1))
	fi
}

# eq DESCRIPTION GOT WANT
eq() {
	checks=$((checks + 1))
	if [ "$2" = "$3" ]; then
		echo "ok - $1 ($(printf '%.60s' "$2"))"
	else
		echo "not ok - $1: got '$2', want '$3'"
		fails=$((fails + 1))
	fi
}

# start_dvsim ARGS...: start on a free port; sets PORT and BASE.
start_dvsim() {
	rm -f "$W/dv.out"
	"$DVSIM" --listen 127.0.0.1:0 ${DVSIM_VARIANT:+--variant "$DVSIM_VARIANT"} "$@" >"$W/dv.out" 2>"$W/dv.err" &
	DV_PID=$!
	i=0
	while ! grep -q 'listening on' "$W/dv.out" 2>/dev/null; do
		i=$((i + 1))
		if [ $i -gt 100 ] || ! kill -0 "$DV_PID" 2>/dev/null; then
			echo "dvsim did not start:"
			cat "$W/dv.err"
			exit 1
		fi
		sleep 0.1
	done
	BASE=$(sed -n 's/.*listening on \(https*:\/\/[0-9.:]*\).*/\1/p' "$W/dv.out" | head -n 1)
	PORT=${BASE##*:}
}

# make_server_cert: in the current folder, a private CA (ca.pem, ca.key)
# and a certificate for 127.0.0.1 signed by it (srv.pem, srv.key).
make_server_cert() {
	openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem \
		-days 2 -subj "/CN=mbxfix test CA" >/dev/null 2>&1
	openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr \
		-subj "/CN=127.0.0.1" >/dev/null 2>&1
	printf 'subjectAltName=IP:127.0.0.1\n' >san.ext
	openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key \
		-CAcreateserial -out srv.pem -days 2 -extfile san.ext \
		>/dev/null 2>&1
}

state() { curl -s ${CURL_OPTS:-} "$BASE/_sim/state"; }
stats() { curl -s ${CURL_OPTS:-} "$BASE/_sim/stats"; }

# write_job FILE URL [AUTH-BLOCK] [RUN-BLOCK]: a set_delivery job.
write_job() {
	auth=${3:-}
	runb=${4:-}
	[ -n "$auth" ] || auth="{ method = \"secret\"; tenant = \"contoso.onmicrosoft.com\"; client_id = \"$CLIENT_ID\"; secret_env = \"MBXFIX_CLIENT_SECRET\"; authority = \"$BASE\"; }"
	[ -n "$runb" ] || runb="{ parallel = 0; batch_size = 0; max_attempts = 6; }"
	cat >"$1" <<EOT
name = "e2e";
environment = { url = "$2"; ca_file = "${CA_FILE:-}"; };
auth = $auth;
input = "$W/in.csv";
output = "$W/out";
defaults = { actions = ["set_delivery"]; incoming = "server-side-sync"; outgoing = "server-side-sync"; act = "server-side-sync"; };
run = $runb;
EOT
}

# mailbox addresses of the organisation, one per line (user mailboxes and queues)
addresses() { state | jq -r '.entities.mailboxes[].emailaddress'; }

# delivery values of a mailbox: "in,out,act"
delivery_of() {
	state | jq -r --arg a "$1" '.entities.mailboxes[] | select(.emailaddress == $a) |
		"\(.incomingemaildeliverymethod),\(.outgoingemaildeliverymethod),\(.actdeliverymethod)"'
}

results() { echo "$W/out/e2e/latest/results.csv"; }

# the value of column NAME in results.csv, one line per row (no header)
col() {
	f=${2:-$(results)}
	idx=$(head -n 1 "$f" | tr -d '\r\357\273\277' | tr ',' '\n' | grep -n -x "$1" | cut -d: -f1)
	tail -n +2 "$f" | tr -d '\r' | cut -d, -f"$idx"
}

done_checks() {
	echo "$((checks - fails)) passed, $fails failed"
	[ "$fails" -eq 0 ]
}
