#!/bin/sh
# HTTP/2: a whole run through nghttpx, which offers h2 over TLS in front of
# dvsim (HTTP/1.1 behind it). mbxfix must negotiate HTTP/2, carry the
# sign-in, the lookups and the $batch writes over it, and leave every
# mailbox right in dvsim.
. "$(dirname "$0")/lib.sh"

command -v nghttpx >/dev/null || {
	echo "not ok - nghttpx is not installed (Debian package nghttp2-proxy)"
	exit 1
}

cd "$W" || exit 1
make_server_cert
check "certificates generated" test -s srv.pem

start_dvsim --generate 300 --seed 8

# nghttpx cannot report a port it chose: try a few
NGX_PID=
stop_nghttpx() {
	[ -z "$NGX_PID" ] || { kill "$NGX_PID" 2>/dev/null; wait "$NGX_PID" 2>/dev/null; }
	NGX_PID=
}
trap 'stop_nghttpx; cleanup' EXIT
tries=0
while [ $tries -lt 10 ] && [ -z "$NGX_PID" ]; do
	tries=$((tries + 1))
	HPORT=$((20000 + ($$ * 7 + tries * 997) % 40000))
	nghttpx --conf=/dev/null -n1 -f"127.0.0.1,$HPORT" -b"127.0.0.1,$PORT" \
		--no-ocsp --errorlog-file="$W/ngx.err" \
		--accesslog-file="$W/ngx.acc" srv.key srv.pem &
	NGX_PID=$!
	i=0
	# the answer must be dvsim's through our nghttpx, not another server's
	until curl -s -D - -o /dev/null --cacert ca.pem \
		"https://127.0.0.1:$HPORT/_sim/stats" 2>/dev/null |
		grep -qi '^server: nghttpx' && kill -0 "$NGX_PID" 2>/dev/null; do
		i=$((i + 1))
		if [ $i -gt 30 ] || ! kill -0 "$NGX_PID" 2>/dev/null; then
			stop_nghttpx
			break
		fi
		sleep 0.1
	done
done
check "nghttpx in front of dvsim" test -n "$NGX_PID"
H2=https://127.0.0.1:$HPORT
eq "nghttpx offers HTTP/2" \
	"$(curl -s -o /dev/null -w '%{http_version}' --cacert ca.pem "$H2/_sim/stats")" 2

{
	echo "mailbox"
	addresses
} >in.csv
n=$(($(wc -l <in.csv) - 1))
auth="{ method = \"secret\"; tenant = \"contoso.onmicrosoft.com\"; client_id = \"$CLIENT_ID\"; secret_env = \"MBXFIX_CLIENT_SECRET\"; authority = \"$H2\"; }"
CA_FILE=$W/ca.pem write_job job.cfg "$H2" "$auth" "{ parallel = 8; batch_size = 20; }"
"$MBXFIX" run job.cfg --no-progress -v >run.out 2>run.err
eq "run over HTTP/2: exit status" $? 0
grep "connection to" run.err
check "-v reports HTTP/2" grep -q "new HTTPS connection to 127.0.0.1 port $HPORT: HTTP/2$" run.err
eq "no connection fell back to another version" \
	"$(grep "new .* connection to" run.err | grep -vc ": HTTP/2$")" 0
conns=$(grep -c "new .* connection to" run.err)
reqs=$(jq .requests out/e2e/latest/summary.json)
echo "connections: $conns, requests: $reqs"
check "requests share connections (multiplexed: fewer connections than requests)" \
	test "$conns" -lt "$reqs"
eq "every request nghttpx logged came over HTTP/2" \
	"$(grep -c 'HTTP/2"' ngx.acc)" "$(wc -l <ngx.acc)"
check "the sign-in went over HTTP/2 too" grep -q 'POST /contoso.onmicrosoft.com/oauth2/v2.0/token HTTP/2"' ngx.acc
check "\$batch requests went over HTTP/2" grep -q 'POST /api/data/v9.2/$batch HTTP/2"' ngx.acc
eq "rows ok" "$(col result | grep -c '^ok$')" "$n"
eq "every mailbox on server-side sync" \
	"$(state | jq '[.entities.mailboxes[] | select(.incomingemaildeliverymethod == 2 and .outgoingemaildeliverymethod == 2 and .actdeliverymethod == 1)] | length')" "$n"
check "-v prints no token" sh -c "! grep -q -e Bearer -e eyJ run.err"
done_checks
