#!/bin/sh
# HTTPS with --cert/--key: a throwaway CA and server certificate made
# here with openssl; curl verifies the chain (no -k).
. "${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/dvsim/lib.sh"

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TMP/ca.key" -out "$TMP/ca.pem" \
	-subj /CN=dvsim-test-ca -days 1 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout "$TMP/srv.key" -out "$TMP/srv.csr" \
	-subj /CN=127.0.0.1 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' >"$TMP/ext"
openssl x509 -req -in "$TMP/srv.csr" -CA "$TMP/ca.pem" -CAkey "$TMP/ca.key" \
	-CAcreateserial -out "$TMP/srv.pem" -days 1 -extfile "$TMP/ext" 2>/dev/null

start_dvsim h --generate 2 --cert "$TMP/srv.pem" --key "$TMP/srv.key"
check_match "ready line says https" "$URL" '^https://127\.0\.0\.1:[0-9]+$'
check "stats over verified TLS" "$(curl -s --cacert "$TMP/ca.pem" -o /dev/null -w '%{http_code}' "$URL/_sim/stats")" 200
check "unverified peer refused by curl" "$(curl -s -o /dev/null "$URL/_sim/stats"; echo $?)" 60
TOK=$(curl -s --cacert "$TMP/ca.pem" -d "grant_type=client_credentials&client_id=$DEMO_ID&client_secret=$DEMO_SECRET" \
	--data-urlencode "scope=https://org.crm.dynamics.com/.default" "$URL/contoso/oauth2/v2.0/token" | jq -r .access_token)
check "token over TLS" "$(printf '%s' "$TOK" | cut -c1-3)" eyJ
check "API over TLS" "$(curl -s --cacert "$TMP/ca.pem" -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOK" "$URL/$API/mailboxes?\$top=1")" 200
check "plain HTTP to the TLS port fails" "$(curl -s -o /dev/null -m 2 "$(echo "$URL" | sed 's/^https/http/')/_sim/stats"; [ $? -ne 0 ] && echo refused)" refused
check "bad --key exits 3" "$("$DVSIM" --listen 127.0.0.1:0 --cert "$TMP/srv.pem" --key "$TMP/ext" >/dev/null 2>&1; echo $?)" 3
finish
