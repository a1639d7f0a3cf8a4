#!/bin/sh
# HTTPS with a private CA generated here: verified with ca_file; without it
# the run stops with exit 3 before writing anything.
. "$(dirname "$0")/lib.sh"

cd "$W" || exit 1
make_server_cert
check "certificates generated" test -s srv.pem

start_dvsim --generate 30 --seed 3 --cert srv.pem --key srv.key
CURL_OPTS="--cacert $W/ca.pem"
check "dvsim serves https" sh -c "echo '$BASE' | grep -q '^https://'"
{
	echo "mailbox"
	state | jq -r '.entities.mailboxes[].emailaddress'
} >in.csv
n=$(($(wc -l <in.csv) - 1))

# without the private CA: refused before anything is written
write_job job-noca.cfg "$BASE"
"$MBXFIX" run job-noca.cfg --no-progress >noca.out 2>noca.err
eq "unknown CA: exit 3" $? 3
cat noca.err
check "unknown CA: message names the endpoint" grep -q "cannot reach\|certificate" noca.err
check "unknown CA: no results written" test ! -e out

CA_FILE=$W/ca.pem write_job job.cfg "$BASE"
"$MBXFIX" run job.cfg --no-progress -v >run.out 2>run.err
eq "https run exit status" $? 0
cat run.out
# dvsim (libmicrohttpd) offers no h2 in ALPN: the version negotiated is 1.1
check "-v names the version of each new https connection" \
	grep -qi "new https connection to 127.0.0.1 port $PORT: HTTP/1.1" run.err
eq "-v never reports another version" \
	"$(grep "new .* connection to" run.err | grep -vc ": HTTP/1.1$")" 0
check "-v prints no token" sh -c "! grep -q -e Bearer -e eyJ run.err"
eq "rows ok" "$(col result | grep -c '^ok$')" "$n"
eq "every mailbox on server-side sync" \
	"$(state | jq '[.entities.mailboxes[] | select(.incomingemaildeliverymethod == 2 and .outgoingemaildeliverymethod == 2 and .actdeliverymethod == 1)] | length')" "$n"
done_checks
