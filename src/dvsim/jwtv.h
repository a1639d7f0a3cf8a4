/*
 * jwtv.h: verification of client assertion JWTs (docs/fidelity.md) with
 * OpenSSL, and the base64url coding the token endpoint needs. dvsim's own
 * code: nothing here is shared with mbxfix's jwt.c.
 */
#ifndef DVSIM_JWTV_H
#define DVSIM_JWTV_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/evp.h>

#include "buf.h"

/* base64url without padding. decode: -1 on a character outside the alphabet. */
int jwtv_b64url_encode(const void *data, size_t len, struct buf *out);
int jwtv_b64url_decode(const char *in, size_t len, struct buf *out);

/* The certificate a client signs in with: key and both thumbprints. */
struct jwtv_cert {
	EVP_PKEY *key;
	unsigned char sha1[20];
	unsigned char sha256[32];
};

/* Load a PEM certificate; -1 with 'errmsg' filled on failure. */
int jwtv_cert_load(struct jwtv_cert *c, const char *path, char *errmsg,
		   size_t errlen);
void jwtv_cert_release(struct jwtv_cert *c);

enum jwtv_result {
	JWTV_OK = 0,
	JWTV_MALFORMED, /* not three base64url parts of JSON objects */
	JWTV_BAD_ALG,	/* alg is not RS256 or PS256 */
	JWTV_NO_KEY,	/* no x5t / x5t#S256 matching the certificate */
	JWTV_BAD_SIGNATURE,
	JWTV_BAD_AUDIENCE,
	JWTV_BAD_ISSUER, /* iss or sub is not the client id */
	JWTV_BAD_TIME,	 /* missing nbf/exp, or now outside [nbf, exp] */
};

/*
 * The claims of an assertion without any verification, to learn its
 * issuer when the request carries no client_id. 'iss' gets a copy the
 * caller frees, NULL when absent. -1 when malformed.
 */
int jwtv_peek_issuer(const char *jwt, char **iss);

/*
 * Verify 'jwt' as a client assertion of 'client_id' signed with 'cert':
 * RS256 requires x5t (SHA-1 thumbprint), PS256 x5t#S256 (SHA-256), each
 * matching 'cert'; aud must equal one of 'auds'; iss = sub = client_id;
 * nbf <= now <= exp (epoch seconds, 'skew_s' allowed each side).
 */
enum jwtv_result jwtv_verify(const char *jwt, const struct jwtv_cert *cert,
			     const char *client_id, const char *const *auds,
			     size_t nauds, long now, long skew_s);

const char *jwtv_strerror(enum jwtv_result r);

#endif
