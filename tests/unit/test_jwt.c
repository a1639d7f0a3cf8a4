#include "compat.h"

#include <setjmp.h>
#include <stdarg.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "buf.h"
#include "err.h"
#include "jwt.h"

#include "banned.h"

/* RFC 4648 §10, written in the base64url alphabet without padding. */
static const struct {
	const char *raw;
	size_t len;
	const char *enc;
} vectors[] = {
    {"", 0, ""},
    {"f", 1, "Zg"},
    {"fo", 2, "Zm8"},
    {"foo", 3, "Zm9v"},
    {"foob", 4, "Zm9vYg"},
    {"fooba", 5, "Zm9vYmE"},
    {"foobar", 6, "Zm9vYmFy"},
    /* base64 "+/8=" and "////": the two characters base64url changes */
    {"\xfb\xff", 2, "-_8"},
    {"\xff\xff\xff", 3, "____"},
    {"\xfb\xef\xbe", 3, "----"},
    {"\0\0\0", 3, "AAAA"},
    {"\0", 1, "AA"},
};

static void test_base64url_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(vectors); i++) {
		struct buf enc = BUF_INIT(256), dec = BUF_INIT(256);
		struct err e = ERR_INIT;

		assert_int_equal(
		    jwt_base64url_encode(&enc, vectors[i].raw, vectors[i].len),
		    0);
		assert_string_equal(enc.ptr, vectors[i].enc);
		assert_int_equal(
		    jwt_base64url_decode(&dec, enc.ptr, enc.len, &e), 0);
		assert_int_equal(dec.len, vectors[i].len);
		assert_memory_equal(dec.ptr, vectors[i].raw, vectors[i].len);
		buf_release(&enc);
		buf_release(&dec);
	}
}

static void test_base64url_decode_accepts_padding(void **state)
{
	static const struct {
		const char *in, *want;
	} t[] = {
	    {"Zg==", "f"},
	    {"Zm8=", "fo"},
	    {"Zm9v", "foo"},
	    {"Zm9vYg==", "foob"},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		struct buf dec = BUF_INIT(64);
		struct err e = ERR_INIT;

		assert_int_equal(
		    jwt_base64url_decode(&dec, t[i].in, strlen(t[i].in), &e),
		    0);
		assert_string_equal(dec.ptr, t[i].want);
		buf_release(&dec);
	}
}

static void test_base64url_decode_rejects(void **state)
{
	static const char *const bad[] = {
	    "Z",      /* a lone character is not a byte */
	    "Zm9vY",  /* length 5 */
	    "Zg=",    /* padding to a length that is not a multiple of 4 */
	    "Zm9v=",  /* padding after a full group */
	    "Zg===",  /* too much padding */
	    "Zh",     /* non-zero unused bits (RFC 4648 §3.5) */
	    "Zm9=",   /* same, padded */
	    "Zm9v+w", /* base64, not base64url */
	    "Zm9v/w",
	    "Zm 9v",
	    "Zm9v\n",
	    "Zg==Zg", /* padding in the middle */
	    "Zm9v\xc3\xa9",
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct buf dec = BUF_INIT(64);
		struct err e = ERR_INIT;

		buf_addstr(&dec, "kept");
		if (jwt_base64url_decode(&dec, bad[i], strlen(bad[i]), &e) !=
		    -1)
			fail_msg("accepted '%s'", bad[i]);
		assert_int_equal(e.kind, ERR_PROTOCOL);
		assert_string_equal(dec.ptr, "kept");
		buf_release(&dec);
	}
}

static void test_base64url_round_trip_and_cap(void **state)
{
	unsigned char data[300];
	unsigned long seed = 7;

	(void)state;
	for (size_t len = 0; len <= sizeof(data); len++) {
		struct buf enc = BUF_INIT(1024), dec = BUF_INIT(1024);
		struct err e = ERR_INIT;

		for (size_t i = 0; i < len; i++) {
			seed = seed * 6364136223846793005UL + 1;
			data[i] = (unsigned char)(seed >> 56);
		}
		assert_int_equal(jwt_base64url_encode(&enc, data, len), 0);
		assert_int_equal(enc.len, (len * 4 + 2) / 3);
		assert_null(strpbrk(enc.ptr, "+/="));
		assert_int_equal(
		    jwt_base64url_decode(&dec, enc.ptr, enc.len, &e), 0);
		assert_int_equal(dec.len, len);
		assert_memory_equal(dec.ptr, data, len);
		buf_release(&enc);
		buf_release(&dec);
	}
	{
		struct buf small = BUF_INIT(7);
		struct err e = ERR_INIT;

		assert_int_equal(jwt_base64url_encode(&small, "foobar", 6), -1);
		assert_int_equal(small.len, 0);
		assert_int_equal(jwt_base64url_encode(&small, "fooba", 5), 0);
		assert_int_equal(
		    jwt_base64url_decode(&small, "Zm9vYmFy", 8, &e), -1);
		assert_string_equal(small.ptr, "Zm9vYmE");
		buf_release(&small);
	}
}

struct keys {
	EVP_PKEY *key;
	X509 *cert;
	EVP_PKEY *other; /* an RSA key that does not match 'cert' */
	EVP_PKEY *ec;
};

static X509 *self_signed(EVP_PKEY *key)
{
	X509 *x = X509_new();
	X509_NAME *name;

	assert_non_null(x);
	assert_int_equal(X509_set_version(x, 2), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 4242), 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), 0));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 86400L));
	assert_int_equal(X509_set_pubkey(x, key), 1);
	name = X509_get_subject_name(x);
	assert_int_equal(
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
				       (const unsigned char *)"mbxfix test app",
				       -1, -1, 0),
	    1);
	assert_int_equal(X509_set_issuer_name(x, name), 1);
	assert_true(X509_sign(x, key, EVP_sha256()) > 0);
	return x;
}

static int setup_keys(void **state)
{
	struct keys *k = xcalloc(1, sizeof(*k));

	k->key = EVP_RSA_gen(2048);
	k->other = EVP_RSA_gen(2048);
	k->ec = EVP_EC_gen("P-256");
	if (!k->key || !k->other || !k->ec)
		return -1;
	k->cert = self_signed(k->key);
	*state = k;
	return 0;
}

static int teardown_keys(void **state)
{
	struct keys *k = *state;

	EVP_PKEY_free(k->key);
	EVP_PKEY_free(k->other);
	EVP_PKEY_free(k->ec);
	X509_free(k->cert);
	free(k);
	return 0;
}

/* base64url of the SHA-1 or SHA-256 of the certificate's DER, computed here */
static void thumb(struct buf *out, X509 *cert, const EVP_MD *md)
{
	unsigned char *der = NULL, dig[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	int len = i2d_X509(cert, &der);

	assert_true(len > 0);
	assert_int_equal(EVP_Digest(der, (size_t)len, dig, &n, md, NULL), 1);
	OPENSSL_free(der);
	assert_int_equal(jwt_base64url_encode(out, dig, n), 0);
}

static cJSON *decode_json(const char *s, size_t len)
{
	struct buf raw = BUF_INIT(4096);
	struct err e = ERR_INIT;
	cJSON *j;

	assert_int_equal(jwt_base64url_decode(&raw, s, len, &e), 0);
	j = cJSON_Parse(raw.ptr);
	assert_non_null(j);
	buf_release(&raw);
	return j;
}

static const char *jstr(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	if (!cJSON_IsString(v))
		fail_msg("'%s' is not a string", name);
	return v->valuestring;
}

static long long jnum(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	if (!cJSON_IsNumber(v))
		fail_msg("'%s' is not a number", name);
	return (long long)v->valuedouble;
}

/*
 * Verify 'input' against signature 'sig' with the certificate's public
 * key. 'pss_salt' < 0: PKCS#1 v1.5; otherwise RSA-PSS with that salt.
 */
static int verify(X509 *cert, const char *input, size_t len,
		  const struct buf *sig, int pss_salt)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	int rc;

	assert_non_null(ctx);
	assert_int_equal(EVP_DigestVerifyInit(ctx, &pctx, EVP_sha256(), NULL,
					      X509_get0_pubkey(cert)),
			 1);
	if (pss_salt >= 0) {
		assert_true(EVP_PKEY_CTX_set_rsa_padding(
				pctx, RSA_PKCS1_PSS_PADDING) > 0);
		assert_true(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, pss_salt) >
			    0);
		assert_true(EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) >
			    0);
	}
	rc = EVP_DigestVerify(ctx, (const unsigned char *)sig->ptr, sig->len,
			      (const unsigned char *)input, len);
	EVP_MD_CTX_free(ctx);
	return rc;
}

struct split {
	const char *h, *c, *s; /* header, claims, signature */
	size_t hlen, clen, slen;
};

static void split3(const struct buf *jwt, struct split *p)
{
	const char *d1 = strchr(jwt->ptr, '.');
	const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;

	assert_non_null(d1);
	assert_non_null(d2);
	assert_null(strchr(d2 + 1, '.'));
	assert_null(strpbrk(jwt->ptr, "+/= \r\n"));
	p->h = jwt->ptr;
	p->hlen = (size_t)(d1 - jwt->ptr);
	p->c = d1 + 1;
	p->clen = (size_t)(d2 - d1 - 1);
	p->s = d2 + 1;
	p->slen = strlen(d2 + 1);
}

static void check_assertion(struct keys *k, enum jwt_alg alg)
{
	struct jwt_assertion a = {
	    .alg = alg,
	    .audience = "https://login.microsoftonline.com/"
			"contoso.onmicrosoft.com/oauth2/v2.0/token",
	    .client_id = "51f81489-12ee-4a9e-aaae-a2591f45987d",
	    .jti = "0d5e7f9a-3b2c-4d1e-8f6a-9b8c7d6e5f4a",
	    .now = 1795000000,
	    .lifetime_s = 600,
	};
	struct buf jwt = BUF_INIT(8192), sig = BUF_INIT(1024);
	struct buf want_thumb = BUF_INIT(128);
	struct err e = ERR_INIT;
	struct split p;
	cJSON *h, *c;
	char *tampered;

	if (jwt_client_assertion(&jwt, &a, k->key, k->cert, &e) < 0)
		fail_msg("jwt_client_assertion: %s", e.msg);
	split3(&jwt, &p);

	h = decode_json(p.h, p.hlen);
	assert_string_equal(jstr(h, "typ"), "JWT");
	if (alg == JWT_RS256) {
		assert_string_equal(jstr(h, "alg"), "RS256");
		thumb(&want_thumb, k->cert, EVP_sha1());
		assert_string_equal(jstr(h, "x5t"), want_thumb.ptr);
		assert_int_equal(want_thumb.len, 27); /* 20 bytes */
		assert_null(cJSON_GetObjectItemCaseSensitive(h, "x5t#S256"));
	} else {
		assert_string_equal(jstr(h, "alg"), "PS256");
		thumb(&want_thumb, k->cert, EVP_sha256());
		assert_string_equal(jstr(h, "x5t#S256"), want_thumb.ptr);
		assert_int_equal(want_thumb.len, 43); /* 32 bytes */
		assert_null(cJSON_GetObjectItemCaseSensitive(h, "x5t"));
	}
	assert_int_equal(cJSON_GetArraySize(h), 3);

	c = decode_json(p.c, p.clen);
	assert_string_equal(jstr(c, "aud"), a.audience);
	assert_string_equal(jstr(c, "iss"), a.client_id);
	assert_string_equal(jstr(c, "sub"), a.client_id);
	assert_string_equal(jstr(c, "jti"), a.jti);
	assert_int_equal(jnum(c, "nbf"), 1795000000);
	assert_int_equal(jnum(c, "iat"), 1795000000);
	assert_int_equal(jnum(c, "exp"), 1795000600);
	assert_int_equal(cJSON_GetArraySize(c), 7);

	/* the signature covers header "." claims, with the right padding */
	assert_int_equal(jwt_base64url_decode(&sig, p.s, p.slen, &e), 0);
	assert_int_equal(sig.len, 256); /* RSA 2048 */
	if (alg == JWT_RS256) {
		assert_int_equal(
		    verify(k->cert, jwt.ptr, p.hlen + 1 + p.clen, &sig, -1), 1);
		assert_int_not_equal(
		    verify(k->cert, jwt.ptr, p.hlen + 1 + p.clen, &sig, 32), 1);
	} else {
		assert_int_equal(
		    verify(k->cert, jwt.ptr, p.hlen + 1 + p.clen, &sig, 32), 1);
		/* salt length is the digest length, not anything else */
		assert_int_not_equal(
		    verify(k->cert, jwt.ptr, p.hlen + 1 + p.clen, &sig, 20), 1);
		assert_int_not_equal(
		    verify(k->cert, jwt.ptr, p.hlen + 1 + p.clen, &sig, -1), 1);
	}
	/* a changed claim no longer verifies */
	tampered = xstrdup(jwt.ptr);
	tampered[p.hlen + 1 + 2] ^= 1;
	assert_int_not_equal(verify(k->cert, tampered, p.hlen + 1 + p.clen,
				    &sig, alg == JWT_RS256 ? -1 : 32),
			     1);
	free(tampered);

	cJSON_Delete(h);
	cJSON_Delete(c);
	buf_release(&jwt);
	buf_release(&sig);
	buf_release(&want_thumb);
}

static void test_assertion_rs256(void **state)
{
	check_assertion(*state, JWT_RS256);
}

static void test_assertion_ps256(void **state)
{
	check_assertion(*state, JWT_PS256);
}

static void test_assertion_appends(void **state)
{
	struct keys *k = *state;
	struct jwt_assertion a = {.alg = JWT_RS256,
				  .audience = "https://x/t/oauth2/v2.0/token",
				  .client_id = "c",
				  .jti = "j",
				  .now = 1,
				  .lifetime_s = 300};
	struct buf out = BUF_INIT(8192);
	struct err e = ERR_INIT;

	(void)state;
	buf_addstr(&out, "client_assertion=");
	assert_int_equal(jwt_client_assertion(&out, &a, k->key, k->cert, &e),
			 0);
	assert_int_equal(strncmp(out.ptr, "client_assertion=eyJ", 20), 0);
	buf_release(&out);
}

static void test_assertion_errors(void **state)
{
	struct keys *k = *state;
	const struct jwt_assertion good = {
	    .alg = JWT_PS256,
	    .audience = "https://login.microsoftonline.com/t/oauth2/v2.0/"
			"token",
	    .client_id = "c",
	    .jti = "j",
	    .now = 1795000000,
	    .lifetime_s = 600};
	struct {
		struct jwt_assertion a;
		EVP_PKEY *key;
		X509 *cert;
		size_t cap;
		const char *msg;
	} t[] = {
	    {good, k->key, k->cert, 8192, NULL},
	    {good, k->other, k->cert, 8192, "does not match"},
	    {good, k->ec, k->cert, 8192, "not an RSA key"},
	    {good, NULL, k->cert, 8192, "key"},
	    {good, k->key, NULL, 8192, "certificate"},
	    {good, k->key, k->cert, 100, "too long"},
	    {good, k->key, k->cert, 8192, "audience"},
	    {good, k->key, k->cert, 8192, "audience"},
	    {good, k->key, k->cert, 8192, "audience"},
	    {good, k->key, k->cert, 8192, "lifetime"},
	};

	(void)state;
	t[6].a.audience = "";
	t[7].a.client_id = NULL;
	t[8].a.jti = "";
	t[9].a.lifetime_s = 0;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		struct buf out = BUF_INIT(t[i].cap);
		struct err e = ERR_INIT;
		int rc;

		buf_addstr(&out, "x");
		rc = jwt_client_assertion(&out, &t[i].a, t[i].key, t[i].cert,
					  &e);
		if (!t[i].msg) {
			assert_int_equal(rc, 0);
		} else {
			if (rc != -1)
				fail_msg("case %zu accepted", i);
			assert_int_equal(e.kind, ERR_AUTH);
			if (!strstr(e.msg, t[i].msg))
				fail_msg("case %zu: '%s'", i, e.msg);
			assert_string_equal(out.ptr, "x");
		}
		buf_release(&out);
	}
}

static void test_thumbprint(void **state)
{
	struct keys *k = *state;
	struct buf got = BUF_INIT(128), want = BUF_INIT(128);
	struct err e = ERR_INIT;

	assert_int_equal(jwt_thumbprint(&got, k->cert, JWT_PS256, &e), 0);
	thumb(&want, k->cert, EVP_sha256());
	assert_string_equal(got.ptr, want.ptr);
	assert_string_equal(jwt_alg_name(JWT_RS256), "RS256");
	assert_string_equal(jwt_alg_name(JWT_PS256), "PS256");
	assert_int_equal(jwt_thumbprint(&got, NULL, JWT_RS256, &e), -1);
	buf_release(&got);
	buf_release(&want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_base64url_vectors),
	    cmocka_unit_test(test_base64url_decode_accepts_padding),
	    cmocka_unit_test(test_base64url_decode_rejects),
	    cmocka_unit_test(test_base64url_round_trip_and_cap),
	    cmocka_unit_test(test_assertion_rs256),
	    cmocka_unit_test(test_assertion_ps256),
	    cmocka_unit_test(test_assertion_appends),
	    cmocka_unit_test(test_assertion_errors),
	    cmocka_unit_test(test_thumbprint),
	};
	return cmocka_run_group_tests_name("jwt", tests, setup_keys,
					   teardown_keys);
}
