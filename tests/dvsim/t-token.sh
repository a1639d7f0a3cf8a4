#!/bin/sh
# The token endpoint: client secret (form and HTTP Basic), certificate
# assertions (RS256 + x5t, PS256 + x5t#S256) and the AADSTS errors.
. "${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/dvsim/lib.sh"

CERT_ID=7d5b8c1e-0a5f-4c31-9d2a-3b4c5d6e7f80
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TMP/key.pem" -out "$TMP/cert.pem" \
	-subj /CN=dvsim-client -days 1 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TMP/other.pem" -out "$TMP/other-cert.pem" \
	-subj /CN=other -days 1 2>/dev/null

start_dvsim t --generate 2 --client "$DEMO_ID:$DEMO_SECRET" \
	--client-limited "9a8b7c6d-1111-4222-8333-444455556666:s3cr3t-limited" --client-cert "$CERT_ID:$TMP/cert.pem"
TOKEN_URL="$URL/contoso.onmicrosoft.com/oauth2/v2.0/token"
SCOPE="scope=https%3A%2F%2Forg.crm.dynamics.com%2F.default"

b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }

post() { curl -s -o "$TMP/body" -w '%{http_code}' "$@" "$TOKEN_URL"; }

# assertion ALG THUMB_HEADER AUD NBF EXP [KEY]
assertion() {
	if [ "$2" = x5t ]; then
		th=$(openssl x509 -in "$TMP/cert.pem" -outform DER | openssl dgst -sha1 -binary | b64url)
	else
		th=$(openssl x509 -in "$TMP/cert.pem" -outform DER | openssl dgst -sha256 -binary | b64url)
	fi
	h=$(printf '{"alg":"%s","typ":"JWT","%s":"%s"}' "$1" "$2" "$th" | b64url)
	p=$(printf '{"aud":"%s","iss":"%s","sub":"%s","jti":"%s","nbf":%s,"exp":%s}' \
		"$3" "$CERT_ID" "$CERT_ID" "$$-$4" "$4" "$5" | b64url)
	if [ "$1" = PS256 ]; then
		s=$(printf '%s.%s' "$h" "$p" | openssl dgst -sha256 -sign "${6:-$TMP/key.pem}" \
			-sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32 -binary | b64url)
	else
		s=$(printf '%s.%s' "$h" "$p" | openssl dgst -sha256 -sign "${6:-$TMP/key.pem}" -binary | b64url)
	fi
	printf '%s.%s.%s' "$h" "$p" "$s"
}

AT="urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
NOW=$(date +%s)
MS_AUD="https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"

# client secret in the form
check "secret: 200" "$(post -d "grant_type=client_credentials&client_id=$DEMO_ID&client_secret=$DEMO_SECRET&$SCOPE")" 200
check "token_type" "$(jq -r .token_type "$TMP/body")" Bearer
check "expires_in" "$(jq -r .expires_in "$TMP/body")" 3599
check "ext_expires_in" "$(jq -r .ext_expires_in "$TMP/body")" 3599
TOK=$(jq -r .access_token "$TMP/body")
check "token works on the API" "$(req GET "_sim/stats" >/dev/null; curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOK" "$URL/$API/WhoAmI" | grep -v 401 >/dev/null && echo yes)" yes

# HTTP Basic
check "basic auth: 200" "$(post -u "$DEMO_ID:$DEMO_SECRET" -d "grant_type=client_credentials&$SCOPE")" 200
check "limited client signs in" "$(post -d "grant_type=client_credentials&client_id=9a8b7c6d-1111-4222-8333-444455556666&client_secret=s3cr3t-limited&$SCOPE")" 200

# errors
check "bad secret: 400 (invalid_client)" "$(post -d "grant_type=client_credentials&client_id=$DEMO_ID&client_secret=nope&$SCOPE")" 400
check "bad secret: invalid_client" "$(jq -r .error "$TMP/body")" invalid_client
check "bad secret: 7000215" "$(jq -r '.error_codes[0]' "$TMP/body")" 7000215
check_match "error_description" "$(jq -r .error_description "$TMP/body" | tr "\r\n" "  ")" '^AADSTS7000215: Invalid client secret provided\..*Trace ID: [0-9a-f-]{36}'
check_match "trace_id" "$(jq -r .trace_id "$TMP/body")" '^[0-9a-f-]{36}$'
check_match "correlation_id" "$(jq -r .correlation_id "$TMP/body")" '^[0-9a-f-]{36}$'
check_match "timestamp" "$(jq -r .timestamp "$TMP/body")" '^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8}Z$'
check "error_uri" "$(jq -r .error_uri "$TMP/body")" "https://login.microsoftonline.com/error?code=7000215"
check "secret not echoed" "$(grep -c nope "$TMP/body")" 0
check "unknown client: 400" "$(post -d "grant_type=client_credentials&client_id=nobody&client_secret=x&$SCOPE")" 400
check "unknown client: 700016" "$(jq -r '[.error, .error_codes[0]] | join(" ")' "$TMP/body")" "unauthorized_client 700016"
check "no secret: 400" "$(post -d "grant_type=client_credentials&client_id=$DEMO_ID&$SCOPE")" 400
check "no secret: 7000218" "$(jq -r '.error_codes[0]' "$TMP/body")" 7000218
check "no grant_type: 400" "$(post -d "client_id=$DEMO_ID&client_secret=$DEMO_SECRET&$SCOPE")" 400
check "no grant_type: 900144" "$(jq -r '[.error, .error_codes[0]] | join(" ")' "$TMP/body")" "invalid_request 900144"
check "no scope: 900144" "$(post -d "grant_type=client_credentials&client_id=$DEMO_ID&client_secret=$DEMO_SECRET" >/dev/null; jq -r '.error_codes[0]' "$TMP/body")" 900144
check "bad scope: 400" "$(post -d "grant_type=client_credentials&client_id=$DEMO_ID&client_secret=$DEMO_SECRET&scope=https://org.crm.dynamics.com/user_impersonation")" 400
check "bad scope: 70011" "$(jq -r '[.error, .error_codes[0]] | join(" ")' "$TMP/body")" "invalid_scope 70011"
check "password grant refused" "$(post -d "grant_type=password&client_id=$DEMO_ID&client_secret=$DEMO_SECRET&$SCOPE")" 400
check "unsupported_grant_type" "$(jq -r .error "$TMP/body")" unsupported_grant_type
check "GET on the token URL: 405" "$(curl -s -o /dev/null -w '%{http_code}' "$TOKEN_URL")" 405

# certificate assertions
A=$(assertion RS256 x5t "$URL/contoso.onmicrosoft.com/oauth2/v2.0/token" $((NOW - 5)) $((NOW + 300)))
check "RS256 + x5t: 200" "$(post -d "grant_type=client_credentials&client_id=$CERT_ID&client_assertion_type=$AT&client_assertion=$A&$SCOPE")" 200
check "RS256 token issued" "$(jq -r '.access_token | length > 20' "$TMP/body")" true
A=$(assertion PS256 'x5t#S256' "$MS_AUD" $((NOW - 5)) $((NOW + 300)))
check "PS256 + x5t#S256 (login.microsoftonline.com aud): 200" "$(post -d "grant_type=client_credentials&client_id=$CERT_ID&client_assertion_type=$AT&client_assertion=$A&$SCOPE")" 200
check "assertion without client_id: 200" "$(post -d "grant_type=client_credentials&client_assertion_type=$AT&client_assertion=$A&$SCOPE")" 200
A=$(assertion RS256 x5t "$MS_AUD" $((NOW - 900)) $((NOW - 600)))
check "expired assertion: 400" "$(post -d "grant_type=client_credentials&client_id=$CERT_ID&client_assertion_type=$AT&client_assertion=$A&$SCOPE")" 400
check "expired assertion: 500133" "$(jq -r '.error_codes[0]' "$TMP/body")" 500133
A=$(assertion RS256 x5t "$MS_AUD" $((NOW + 600)) $((NOW + 900)))
check "not-yet-valid assertion: 500133" "$(post -d "grant_type=client_credentials&client_id=$CERT_ID&client_assertion_type=$AT&client_assertion=$A&$SCOPE" >/dev/null; jq -r '.error_codes[0]' "$TMP/body")" 500133
A=$(assertion RS256 x5t "$MS_AUD" $((NOW - 5)) $((NOW + 300)) "$TMP/other.pem")
check "wrong key: 400" "$(post -d "grant_type=client_credentials&client_id=$CERT_ID&client_assertion_type=$AT&client_assertion=$A&$SCOPE")" 400
check "wrong key: 700027" "$(jq -r '.error_codes[0]' "$TMP/body")" 700027
A=$(assertion RS256 x5t "https://login.microsoftonline.com/fabrikam/oauth2/v2.0/token" $((NOW - 5)) $((NOW + 300)))
check "wrong aud: 50027" "$(post -d "grant_type=client_credentials&client_id=$CERT_ID&client_assertion_type=$AT&client_assertion=$A&$SCOPE" >/dev/null; jq -r '.error_codes[0]' "$TMP/body")" 50027
A=$(assertion RS256 x5t "$MS_AUD" $((NOW - 5)) $((NOW + 300)))
check "assertion sent for a secret client: 700027" "$(post -d "grant_type=client_credentials&client_id=$DEMO_ID&client_assertion_type=$AT&client_assertion=$A&$SCOPE" >/dev/null; jq -r '.error_codes[0]' "$TMP/body")" 700027
check "garbage assertion: 50027" "$(post -d "grant_type=client_credentials&client_id=$CERT_ID&client_assertion_type=$AT&client_assertion=abc.def&$SCOPE" >/dev/null; jq -r '.error_codes[0]' "$TMP/body")" 50027
check "cert client with a secret: 7000215" "$(post -d "grant_type=client_credentials&client_id=$CERT_ID&client_secret=x&$SCOPE" >/dev/null; jq -r '.error_codes[0]' "$TMP/body")" 7000215

check "stats: tokens issued" "$(stat_of .tokens_issued)" 6
check "secrets never logged" "$(cat "$TMP/t.err" | grep -c -e "$DEMO_SECRET" -e s3cr3t -e nope)" 0
finish
