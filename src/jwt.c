#include "compat.h"

#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "jwt.h"

#include "banned.h"

static const char b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int jwt_base64url_encode(struct buf *out, const void *data, size_t len)
{
	const unsigned char *p = data;
	size_t full = len / 3, rest = len % 3;
	size_t need = full * 4 + (rest ? rest + 1 : 0);
	char *o;

	if (len > (SIZE_MAX / 4) || buf_grow(out, need) < 0)
		return -1;
	o = out->ptr + out->len;
	for (size_t i = 0; i < full; i++, p += 3) {
		unsigned long v =
		    (unsigned long)p[0] << 16 | (unsigned long)p[1] << 8 | p[2];

		*o++ = b64url[v >> 18 & 63];
		*o++ = b64url[v >> 12 & 63];
		*o++ = b64url[v >> 6 & 63];
		*o++ = b64url[v & 63];
	}
	if (rest) {
		unsigned long v = (unsigned long)p[0] << 16;

		if (rest == 2)
			v |= (unsigned long)p[1] << 8;
		*o++ = b64url[v >> 18 & 63];
		*o++ = b64url[v >> 12 & 63];
		if (rest == 2)
			*o++ = b64url[v >> 6 & 63];
	}
	out->len += need;
	out->ptr[out->len] = '\0';
	return 0;
}

static int b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

int jwt_base64url_decode(struct buf *out, const char *s, size_t len,
			 struct err *e)
{
	size_t n = len, pad = 0, old = out->len;
	unsigned long acc = 0;
	int bits = 0;

	while (n && s[n - 1] == '=' && pad < 2) {
		n--;
		pad++;
	}
	if (pad && len % 4)
		return err_set(e, ERR_PROTOCOL, "base64url: bad padding");
	if (n % 4 == 1)
		return err_set(e, ERR_PROTOCOL,
			       "base64url: impossible length %zu", len);
	if (buf_grow(out, n / 4 * 3 + 2) < 0)
		return err_set(e, ERR_PROTOCOL, "base64url: %zu bytes too long",
			       len);
	for (size_t i = 0; i < n; i++) {
		int v = b64val((unsigned char)s[i]);

		if (v < 0) {
			buf_setlen(out, old);
			return err_set(e, ERR_PROTOCOL,
				       "base64url: bad character at offset %zu",
				       i);
		}
		acc = (acc << 6 | (unsigned long)v) & 0xFFFFFF;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out->ptr[out->len++] = (char)(acc >> bits & 0xFF);
		}
	}
	/* RFC 4648 §3.5: the unused low bits of the last character are 0 */
	if (bits && (acc & ((1UL << bits) - 1))) {
		buf_setlen(out, old);
		return err_set(e, ERR_PROTOCOL,
			       "base64url: non-zero trailing bits");
	}
	out->ptr[out->len] = '\0';
	return 0;
}

const char *jwt_alg_name(enum jwt_alg alg)
{
	return alg == JWT_PS256 ? "PS256" : "RS256";
}

/* The reason of the last OpenSSL error, for a message; clears the queue. */
static const char *ssl_reason(char *tmp, size_t size)
{
	unsigned long code = ERR_peek_last_error();

	if (!code)
		snprintf(tmp, size, "unknown error");
	else
		ERR_error_string_n(code, tmp, size);
	ERR_clear_error();
	return tmp;
}

int jwt_thumbprint(struct buf *out, const X509 *cert, enum jwt_alg alg,
		   struct err *e)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	char tmp[256];

	if (!cert)
		return err_set(e, ERR_AUTH,
			       "no certificate for the thumbprint");
	if (!X509_digest(cert, alg == JWT_PS256 ? EVP_sha256() : EVP_sha1(), md,
			 &n))
		return err_set(e, ERR_AUTH, "cannot hash the certificate: %s",
			       ssl_reason(tmp, sizeof(tmp)));
	if (jwt_base64url_encode(out, md, n) < 0)
		return err_set(e, ERR_AUTH, "client assertion too long");
	return 0;
}

/* Append base64url of the unformatted JSON of 'obj'. */
static int add_json_part(struct buf *out, const cJSON *obj, struct err *e)
{
	char *s = cJSON_PrintUnformatted(obj);
	int rc;

	/* cJSON fails only when out of memory */
	rc = s ? jwt_base64url_encode(out, s, strlen(s)) : -1;
	cJSON_free(s);
	if (rc < 0)
		return err_set(e, ERR_AUTH, "client assertion too long");
	return 0;
}

/*
 * Sign 'tbs' with 'key'; the signature goes to '*sig' (free()d by the
 * caller) and its length to '*sig_len'.
 */
static int sign(enum jwt_alg alg, EVP_PKEY *key, const char *tbs,
		size_t tbs_len, unsigned char **sig_out, size_t *sig_len_out,
		struct err *e)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	unsigned char *sig = NULL;
	size_t sig_len = 0;
	char tmp[256];
	int rc = -1;

	if (!ctx)
		BUG("EVP_MD_CTX_new failed");
	if (EVP_DigestSignInit(ctx, &pctx, EVP_sha256(), NULL, key) != 1)
		goto ssl_fail;
	if (alg == JWT_PS256 &&
	    /* RFC 7518 §3.5: MGF1 with SHA-256, salt as long as the hash */
	    (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
	     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) <=
		 0 ||
	     EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) <= 0))
		goto ssl_fail;
	if (EVP_DigestSign(ctx, NULL, &sig_len, (const unsigned char *)tbs,
			   tbs_len) != 1)
		goto ssl_fail;
	sig = xmalloc(sig_len);
	if (EVP_DigestSign(ctx, sig, &sig_len, (const unsigned char *)tbs,
			   tbs_len) != 1)
		goto ssl_fail;
	*sig_out = sig;
	*sig_len_out = sig_len;
	sig = NULL;
	rc = 0;
	goto out;
ssl_fail:
	err_set(e, ERR_AUTH, "cannot sign the client assertion (%s): %s",
		jwt_alg_name(alg), ssl_reason(tmp, sizeof(tmp)));
out:
	free(sig);
	EVP_MD_CTX_free(ctx);
	return rc;
}

int jwt_client_assertion(struct buf *out, const struct jwt_assertion *a,
			 EVP_PKEY *key, const X509 *cert, struct err *e)
{
	struct buf thumb = BUF_INIT(256);
	cJSON *header = NULL, *claims = NULL;
	unsigned char *sig = NULL;
	size_t sig_len = 0, old = out->len;
	char tmp[256];
	int rc = -1;

	if (!a->audience || !*a->audience || !a->client_id || !*a->client_id ||
	    !a->jti || !*a->jti) {
		err_set(e, ERR_AUTH,
			"client assertion needs an audience, a client id "
			"and a jti");
		goto out;
	}
	if (a->lifetime_s <= 0) {
		err_set(e, ERR_AUTH, "client assertion lifetime must be > 0");
		goto out;
	}
	if (!key || !cert) {
		err_set(e, ERR_AUTH,
			"client assertion needs a key and a "
			"certificate");
		goto out;
	}
	if (!EVP_PKEY_is_a(key, "RSA") &&
	    !(a->alg == JWT_PS256 && EVP_PKEY_is_a(key, "RSA-PSS"))) {
		err_set(e, ERR_AUTH, "the private key is not an RSA key");
		goto out;
	}
	if (X509_check_private_key(cert, key) != 1) {
		err_set(e, ERR_AUTH,
			"the private key does not match the certificate: %s",
			ssl_reason(tmp, sizeof(tmp)));
		goto out;
	}
	if (jwt_thumbprint(&thumb, cert, a->alg, e) < 0)
		goto out;

	header = cJSON_CreateObject();
	claims = cJSON_CreateObject();
	if (!header || !claims ||
	    !cJSON_AddStringToObject(header, "alg", jwt_alg_name(a->alg)) ||
	    !cJSON_AddStringToObject(header, "typ", "JWT") ||
	    !cJSON_AddStringToObject(
		header, a->alg == JWT_PS256 ? "x5t#S256" : "x5t", thumb.ptr) ||
	    !cJSON_AddStringToObject(claims, "aud", a->audience) ||
	    !cJSON_AddStringToObject(claims, "iss", a->client_id) ||
	    !cJSON_AddStringToObject(claims, "sub", a->client_id) ||
	    !cJSON_AddStringToObject(claims, "jti", a->jti) ||
	    !cJSON_AddNumberToObject(claims, "nbf", (double)a->now) ||
	    !cJSON_AddNumberToObject(claims, "exp",
				     (double)(a->now + a->lifetime_s)) ||
	    !cJSON_AddNumberToObject(claims, "iat", (double)a->now))
		BUG("cannot build the client assertion JSON");

	if (add_json_part(out, header, e) < 0 || buf_addch(out, '.') < 0 ||
	    add_json_part(out, claims, e) < 0) {
		err_set(e, ERR_AUTH, "client assertion too long");
		goto out;
	}
	/* RFC 7515 §5.1: the signing input is header "." claims */
	if (sign(a->alg, key, out->ptr + old, out->len - old, &sig, &sig_len,
		 e) < 0)
		goto out;
	if (buf_addch(out, '.') < 0 ||
	    jwt_base64url_encode(out, sig, sig_len) < 0) {
		err_set(e, ERR_AUTH, "client assertion too long");
		goto out;
	}
	rc = 0;
out:
	if (rc < 0 && out->len > old)
		buf_setlen(out, old);
	free(sig);
	cJSON_Delete(header);
	cJSON_Delete(claims);
	buf_release(&thumb);
	return rc;
}
