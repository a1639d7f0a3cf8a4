#include "compat.h"

#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "jwtv.h"

#include "banned.h"

static const char b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int jwtv_b64url_encode(const void *data, size_t len, struct buf *out)
{
	const unsigned char *p = data;
	char q[4];
	size_t i;

	for (i = 0; i + 2 < len; i += 3) {
		unsigned v =
		    (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
		q[0] = b64url[v >> 18 & 63];
		q[1] = b64url[v >> 12 & 63];
		q[2] = b64url[v >> 6 & 63];
		q[3] = b64url[v & 63];
		if (buf_add(out, q, 4) < 0)
			return -1;
	}
	if (len - i == 1) {
		unsigned v = (unsigned)p[i] << 16;
		q[0] = b64url[v >> 18 & 63];
		q[1] = b64url[v >> 12 & 63];
		return buf_add(out, q, 2);
	}
	if (len - i == 2) {
		unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8;
		q[0] = b64url[v >> 18 & 63];
		q[1] = b64url[v >> 12 & 63];
		q[2] = b64url[v >> 6 & 63];
		return buf_add(out, q, 3);
	}
	return 0;
}

static int b64val(char c)
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

int jwtv_b64url_decode(const char *in, size_t len, struct buf *out)
{
	unsigned v = 0;
	int bits = 0;

	/* tolerate trailing '=' padding */
	while (len && in[len - 1] == '=')
		len--;
	if (len % 4 == 1)
		return -1;
	for (size_t i = 0; i < len; i++) {
		int d = b64val(in[i]);

		if (d < 0)
			return -1;
		v = (v << 6 | (unsigned)d) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (buf_addch(out, (char)(v >> bits & 0xff)) < 0)
				return -1;
		}
	}
	return 0;
}

int jwtv_cert_load(struct jwtv_cert *c, const char *path, char *errmsg,
		   size_t errlen)
{
	X509 *x = NULL;
	FILE *f;
	unsigned int n;
	int rc = -1;

	memset(c, 0, sizeof(*c));
	f = fopen(path, "r");
	if (!f) {
		snprintf(errmsg, errlen, "cannot open '%s'", path);
		return -1;
	}
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (!x) {
		snprintf(errmsg, errlen, "'%s' holds no PEM certificate", path);
		goto out;
	}
	c->key = X509_get_pubkey(x);
	if (!c->key || EVP_PKEY_get_base_id(c->key) != EVP_PKEY_RSA) {
		snprintf(errmsg, errlen, "'%s': not an RSA certificate", path);
		goto out;
	}
	n = sizeof(c->sha1);
	if (!X509_digest(x, EVP_sha1(), c->sha1, &n))
		goto out_digest;
	n = sizeof(c->sha256);
	if (!X509_digest(x, EVP_sha256(), c->sha256, &n))
		goto out_digest;
	rc = 0;
	goto out;
out_digest:
	snprintf(errmsg, errlen, "'%s': cannot compute its thumbprint", path);
out:
	X509_free(x);
	if (rc < 0)
		jwtv_cert_release(c);
	ERR_clear_error();
	return rc;
}

void jwtv_cert_release(struct jwtv_cert *c)
{
	EVP_PKEY_free(c->key);
	c->key = NULL;
}

/* Split into the three parts and decode the header and the claims. */
static int split(const char *jwt, cJSON **hdr, cJSON **claims,
		 size_t *signed_len, struct buf *sig)
{
	const char *d1 = strchr(jwt, '.'), *d2;
	struct buf tmp = BUF_INIT(BUF_MAX_SMALL);
	int rc = -1;

	*hdr = *claims = NULL;
	if (!d1)
		return -1;
	d2 = strchr(d1 + 1, '.');
	if (!d2 || strchr(d2 + 1, '.'))
		return -1;
	if (jwtv_b64url_decode(jwt, (size_t)(d1 - jwt), &tmp) < 0)
		goto out;
	*hdr = cJSON_ParseWithLength(tmp.ptr, tmp.len);
	buf_reset(&tmp);
	if (jwtv_b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), &tmp) < 0)
		goto out;
	*claims = cJSON_ParseWithLength(tmp.ptr, tmp.len);
	if (!cJSON_IsObject(*hdr) || !cJSON_IsObject(*claims))
		goto out;
	if (sig && jwtv_b64url_decode(d2 + 1, strlen(d2 + 1), sig) < 0)
		goto out;
	if (signed_len)
		*signed_len = (size_t)(d2 - jwt);
	rc = 0;
out:
	buf_release(&tmp);
	if (rc < 0) {
		cJSON_Delete(*hdr);
		cJSON_Delete(*claims);
		*hdr = *claims = NULL;
	}
	return rc;
}

int jwtv_peek_issuer(const char *jwt, char **iss)
{
	cJSON *hdr, *claims;
	const char *v;

	*iss = NULL;
	if (split(jwt, &hdr, &claims, NULL, NULL) < 0)
		return -1;
	v = cJSON_GetStringValue(
	    cJSON_GetObjectItemCaseSensitive(claims, "iss"));
	if (v)
		*iss = xstrdup(v);
	cJSON_Delete(hdr);
	cJSON_Delete(claims);
	return 0;
}

static bool thumb_matches(cJSON *hdr, const char *name,
			  const unsigned char *want, size_t wantlen)
{
	const char *v =
	    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(hdr, name));
	struct buf raw = BUF_INIT(256);
	bool ok;

	if (!v)
		return false;
	ok = !jwtv_b64url_decode(v, strlen(v), &raw) && raw.len == wantlen &&
	     !memcmp(raw.ptr, want, wantlen);
	buf_release(&raw);
	return ok;
}

static bool sig_ok(const struct jwtv_cert *cert, bool pss, const char *data,
		   size_t len, const struct buf *sig)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	bool ok = false;

	if (!md)
		return false;
	if (EVP_DigestVerifyInit(md, &pctx, EVP_sha256(), NULL, cert->key) != 1)
		goto out;
	if (pss &&
	    (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
	     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_AUTO) != 1))
		goto out;
	ok = EVP_DigestVerify(md, (const unsigned char *)sig->ptr, sig->len,
			      (const unsigned char *)data, len) == 1;
out:
	EVP_MD_CTX_free(md);
	ERR_clear_error();
	return ok;
}

static bool num_claim(cJSON *claims, const char *name, double *v)
{
	cJSON *n = cJSON_GetObjectItemCaseSensitive(claims, name);

	if (!cJSON_IsNumber(n))
		return false;
	*v = n->valuedouble;
	return true;
}

enum jwtv_result jwtv_verify(const char *jwt, const struct jwtv_cert *cert,
			     const char *client_id, const char *const *auds,
			     size_t nauds, long now, long skew_s)
{
	struct buf sig = BUF_INIT(BUF_MAX_SMALL);
	cJSON *hdr, *claims;
	enum jwtv_result r;
	const char *alg, *aud, *iss, *sub;
	size_t signed_len, i;
	double nbf, exp;
	bool pss;

	if (split(jwt, &hdr, &claims, &signed_len, &sig) < 0) {
		buf_release(&sig);
		return JWTV_MALFORMED;
	}
	alg =
	    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(hdr, "alg"));
	if (!alg || (strcmp(alg, "RS256") && strcmp(alg, "PS256"))) {
		r = JWTV_BAD_ALG;
		goto out;
	}
	pss = !strcmp(alg, "PS256");
	if (pss ? !thumb_matches(hdr, "x5t#S256", cert->sha256, 32)
		: !thumb_matches(hdr, "x5t", cert->sha1, 20)) {
		r = JWTV_NO_KEY;
		goto out;
	}
	if (!sig_ok(cert, pss, jwt, signed_len, &sig)) {
		r = JWTV_BAD_SIGNATURE;
		goto out;
	}
	aud = cJSON_GetStringValue(
	    cJSON_GetObjectItemCaseSensitive(claims, "aud"));
	for (i = 0; aud && i < nauds; i++)
		if (!strcmp(aud, auds[i]))
			break;
	if (!aud || i == nauds) {
		r = JWTV_BAD_AUDIENCE;
		goto out;
	}
	iss = cJSON_GetStringValue(
	    cJSON_GetObjectItemCaseSensitive(claims, "iss"));
	sub = cJSON_GetStringValue(
	    cJSON_GetObjectItemCaseSensitive(claims, "sub"));
	if (!iss || !sub || strcmp(iss, client_id) || strcmp(sub, client_id)) {
		r = JWTV_BAD_ISSUER;
		goto out;
	}
	if (!num_claim(claims, "nbf", &nbf) ||
	    !num_claim(claims, "exp", &exp) ||
	    (double)now + (double)skew_s < nbf ||
	    (double)now - (double)skew_s > exp) {
		r = JWTV_BAD_TIME;
		goto out;
	}
	r = JWTV_OK;
out:
	cJSON_Delete(hdr);
	cJSON_Delete(claims);
	buf_release(&sig);
	return r;
}

const char *jwtv_strerror(enum jwtv_result r)
{
	switch (r) {
	case JWTV_OK:
		return "valid";
	case JWTV_MALFORMED:
		return "malformed JWT";
	case JWTV_BAD_ALG:
		return "unsupported signing algorithm";
	case JWTV_NO_KEY:
		return "no matching certificate thumbprint";
	case JWTV_BAD_SIGNATURE:
		return "invalid signature";
	case JWTV_BAD_AUDIENCE:
		return "invalid audience";
	case JWTV_BAD_ISSUER:
		return "issuer or subject is not the client id";
	case JWTV_BAD_TIME:
		return "not within its valid time range";
	}
	return "unknown";
}
