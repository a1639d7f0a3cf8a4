#!/bin/sh
# Certificate sign-in: a client assertion signed with the application's
# key (RS256 with x5t, and PS256 with x5t#S256, the default). A
# certificate dvsim does not know is refused: exit 3, nothing written.
. "$(dirname "$0")/lib.sh"

cd "$W" || exit 1
APP=7d1c9a52-3f0e-4b8e-9c51-0a4f2e6b8d13
openssl req -x509 -newkey rsa:2048 -nodes -keyout app.key -out app.pem \
	-days 2 -subj "/CN=mbxfix app" >/dev/null 2>&1
openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.pem \
	-days 2 -subj "/CN=someone else" >/dev/null 2>&1
chmod 600 app.key other.key

start_dvsim --generate 20 --seed 5 --client-cert "$APP:$W/app.pem"
{
	echo "mailbox,incoming"
	state | jq -r '.entities.mailboxes[].emailaddress + ",outlook"'
} >in.csv
n=$(($(wc -l <in.csv) - 1))

cert_auth() {
	echo "{ method = \"certificate\"; tenant = \"contoso.onmicrosoft.com\"; client_id = \"$APP\"; certificate = \"$W/$1.pem\"; private_key = \"$W/$1.key\"; assertion_alg = \"$2\"; authority = \"$BASE\"; }"
}

write_job job.cfg "$BASE" "$(cert_auth other RS256)"
"$MBXFIX" run job.cfg --no-progress >bad.out 2>bad.err
eq "unknown certificate: exit 3" $? 3
cat bad.err
check "unknown certificate: sign-in refused" grep -q "sign-in refused" bad.err
check "unknown certificate: nothing written" test ! -e out

write_job job.cfg "$BASE" "$(cert_auth app RS256)"
"$MBXFIX" run job.cfg --no-progress >rs.out 2>rs.err
eq "RS256 run exit status" $? 0
cat rs.err
eq "RS256: incoming set to Outlook everywhere" \
	"$(state | jq '[.entities.mailboxes[] | select(.incomingemaildeliverymethod == 1)] | length')" "$n"

sed -i 's/^defaults = .*/defaults = { actions = ["set_delivery"]; incoming = "none"; };/' job.cfg
sed -i 's/,outlook$/,/' in.csv
sed -i 's/RS256/PS256/' job.cfg
"$MBXFIX" run job.cfg --no-progress >ps.out 2>ps.err
eq "PS256 run exit status" $? 0
cat ps.err
eq "PS256: incoming set to None everywhere" \
	"$(state | jq '[.entities.mailboxes[] | select(.incomingemaildeliverymethod == 0)] | length')" "$n"
check "tokens issued for both algorithms" test "$(stats | jq .tokens_issued)" -ge 2

# without assertion_alg: PS256, the default
sed -i 's/ assertion_alg = "PS256";//' job.cfg
check "setup: no assertion_alg left" sh -c "! grep -q assertion_alg job.cfg"
"$MBXFIX" run job.cfg --no-progress >def.out 2>def.err
eq "default algorithm: run exit status" $? 0
done_checks
