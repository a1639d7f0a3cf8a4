#!/bin/sh
# A server that echoes what it was sent: no secret reaches stderr,
# results.csv or run.log. dvsim's echo-secret scenario (hostile, simulator
# only) answers with an error quoting the request's Authorization header
# and body: the client secret or the client assertion at the token
# endpoint, the bearer token at the Web API.
. "$(dirname "$0")/lib-actions.sh"

SECRET=dvsim-demo-secret
dvsim_start --generate 4 --seed 4 --problems "ok"
a=$(state | jq -r '[.entities.mailboxes[]][0].emailaddress')
printf 'mailbox,incoming\n%s,outlook\n' "$a" >"$T/in.csv"

# noleak FILE...: neither the secret nor a JWT (token, assertion) in any
noleak() {
	for f in "$@"; do
		[ -f "$f" ] || continue
		if grep -q -F -e "$SECRET" "$f" || grep -q -E 'eyJ[A-Za-z0-9_-]{8,}' "$f"; then
			echo "leak in $f:"
			grep -o -E "$SECRET|eyJ[A-Za-z0-9_-]{8,}" "$f" | head -n 3 | cut -c 1-40
			return 1
		fi
	done
	return 0
}

# 1. the token endpoint echoes the form body: the client secret
write_job tok "$T/in.csv" set_delivery
sed -i "s|authority = .*|authority = \"$URL/_sim/echo-secret\";|" "$T/tok.cfg"
run_job tok
check "token endpoint echoing: sign-in refused (exit 3, got $RC)" [ "$RC" -eq 3 ]
check "the server's message is shown" grep -q "AADSTS7000215.*client_secret=\*\*\*" "$T/tok.stderr"
check "no secret on stderr or stdout" noleak "$T/tok.stderr" "$T/tok.stdout"
E2E_SECRET=$SECRET "$MBXFIX" run -v --no-progress "$T/tok.cfg" >"$T/tokv.out" 2>"$T/tokv.err"
check "no secret with -v either" noleak "$T/tokv.out" "$T/tokv.err"

# 2. the Web API echoes the Authorization header (the probe is spared)
write_job api "$T/in.csv" set_delivery
sed -i "s|url = \"$URL\"|url = \"$URL/_sim/echo-secret@1\"|" "$T/api.cfg"
E2E_SECRET=$SECRET "$MBXFIX" run -v --no-progress "$T/api.cfg" >"$T/api.stdout" 2>"$T/api.stderr"
rc=$?
check "API echoing: the row fails (exit 1, got $rc)" [ "$rc" -eq 1 ]
res="$T/out/api/latest/results.csv"
check "results.csv written" [ -f "$res" ]
check "the echoed message is in results.csv, token masked" grep -q "Authorization: Bearer \*\*\*" "$res"
check "no token in results.csv, run.log, stderr or stdout" noleak "$res" \
	"$T/out/api/latest/run.log" "$T/out/api/latest/failed.csv" \
	"$T/api.stderr" "$T/api.stdout"

# 3. certificate sign-in: the token endpoint echoes the client assertion
APP=7d1c9a52-3f0e-4b8e-9c51-0a4f2e6b8d13
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/app.key" -out "$T/app.pem" \
	-days 2 -subj "/CN=mbxfix app" >/dev/null 2>&1
chmod 600 "$T/app.key"
write_job cert "$T/in.csv" set_delivery
sed -i -e "/secret_env/d" -e "s|client_id = .*|client_id = \"$APP\"; method = \"certificate\"; certificate = \"$T/app.pem\"; private_key = \"$T/app.key\";|" \
	-e "s|authority = .*|authority = \"$URL/_sim/echo-secret\";|" "$T/cert.cfg"
"$MBXFIX" run -v --no-progress "$T/cert.cfg" >"$T/cert.stdout" 2>"$T/cert.stderr"
rc=$?
check "assertion echoed: sign-in refused (exit 3, got $rc)" [ "$rc" -eq 3 ]
check "the server's message is shown, assertion masked" grep -q "client_assertion=\*\*\*" "$T/cert.stderr"
check "no assertion on stderr or stdout" noleak "$T/cert.stderr" "$T/cert.stdout"
finish
