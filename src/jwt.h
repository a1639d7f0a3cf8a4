/*
 * jwt.h: base64url and the client assertion JWT for Entra ID certificate
 * sign-in (docs/fidelity.md, RFC 7515/7519/7523). Pure: the
 * key, the certificate and the time are passed in; loading them from
 * files is the auth module's job.
 */
#ifndef MBXFIX_JWT_H
#define MBXFIX_JWT_H

#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "buf.h"
#include "err.h"

/*
 * Append the base64url encoding (RFC 4648 §5, no '=' padding) of
 * 'data'/'len' to 'out'. Returns 0, or -1 (nothing appended) when 'out'
 * would pass its cap.
 */
int jwt_base64url_encode(struct buf *out, const void *data, size_t len);

/*
 * Append the bytes that base64url 's'/'len' encodes to 'out'. Padding
 * '=' is accepted but not required. Returns 0, or -1 with 'e' set
 * (ERR_PROTOCOL; nothing appended) on a character outside the base64url
 * alphabet, an impossible length, non-zero unused bits in the last
 * character, or when 'out' would pass its cap.
 */
int jwt_base64url_decode(struct buf *out, const char *s, size_t len,
			 struct err *e);

enum jwt_alg {
	/* RSASSA-PKCS1-v1_5 SHA-256; header carries x5t (SHA-1). */
	JWT_RS256 = 0,
	/* RSASSA-PSS SHA-256, salt 32; header carries x5t#S256 (SHA-256). */
	JWT_PS256,
};

/* "RS256" or "PS256". */
const char *jwt_alg_name(enum jwt_alg alg);

/*
 * Append the certificate thumbprint the header of 'alg' carries: the
 * base64url SHA-1 (RS256: x5t) or SHA-256 (PS256: x5t#S256) of the DER
 * encoding of 'cert'. Returns 0, or -1 with 'e' set.
 */
int jwt_thumbprint(struct buf *out, const X509 *cert, enum jwt_alg alg,
		   struct err *e);

/* What goes into a client assertion. Strings are borrowed for the call. */
struct jwt_assertion {
	enum jwt_alg alg;
	/* aud: https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token */
	const char *audience;
	const char *client_id; /* iss and sub */
	const char *jti;       /* a fresh GUID per assertion */
	long long now;	       /* epoch seconds: iat and nbf */
	long lifetime_s;       /* exp = now + lifetime_s; > 0 */
};

/*
 * Build and sign a client assertion: base64url(header) "."
 * base64url(claims) "." base64url(signature), appended to 'out'.
 *
 * Header: {"alg":"RS256","typ":"JWT","x5t":...} or
 * {"alg":"PS256","typ":"JWT","x5t#S256":...}. Claims: aud, iss, sub,
 * jti, nbf, exp, iat. Signed with 'key', which must be an RSA key (the
 * private key of 'cert'); neither is modified or kept.
 *
 * Returns 0, or -1 with 'e' set (ERR_AUTH) when an input is missing or
 * empty, the key is not RSA, signing fails (OpenSSL's reason included),
 * or 'out' would pass its cap. The assertion is a credential: callers
 * must never log it.
 */
int jwt_client_assertion(struct buf *out, const struct jwt_assertion *a,
			 EVP_PKEY *key, const X509 *cert, struct err *e);

#endif
