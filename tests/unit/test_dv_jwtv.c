/*
 * Client assertion verification (jwtv.c). The keys and certificates are
 * made here with OpenSSL; nothing is read from the repository.
 */
#include "compat.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "dvsim/jwtv.h"

#include "banned.h"

#define CLIENT "0c3f5f65-6a3c-4a5b-9f5e-2e8f1a2b3c4d"
#define AUD "https://login.microsoftonline.com/contoso/oauth2/v2.0/token"
#define NOW 1800000000L

struct keys {
	EVP_PKEY *key, *other;
	X509 *cert;
	struct jwtv_cert jc;
	char path[64];
};

static X509 *self_signed(EVP_PKEY *key)
{
	X509 *x = X509_new();
	X509_NAME *n;

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, key);
	n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
				   (const unsigned char *)"dvsim test", -1, -1,
				   0);
	X509_set_issuer_name(x, n);
	X509_sign(x, key, EVP_sha256());
	return x;
}

static int setup(void **state)
{
	struct keys *k = xcalloc(1, sizeof(*k));
	char msg[256];
	FILE *f;
	int fd;

	k->key = EVP_RSA_gen(2048);
	k->other = EVP_RSA_gen(2048);
	k->cert = self_signed(k->key);
	snprintf(k->path, sizeof(k->path), "/tmp/test_dv_jwtv.XXXXXX");
	fd = mkstemp(k->path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	PEM_write_X509(f, k->cert);
	fclose(f);
	assert_int_equal(jwtv_cert_load(&k->jc, k->path, msg, sizeof(msg)), 0);
	*state = k;
	return 0;
}

static int teardown(void **state)
{
	struct keys *k = *state;

	unlink(k->path);
	jwtv_cert_release(&k->jc);
	X509_free(k->cert);
	EVP_PKEY_free(k->key);
	EVP_PKEY_free(k->other);
	free(k);
	return 0;
}

static void b64(struct buf *out, const void *p, size_t n)
{
	jwtv_b64url_encode(p, n, out);
}

/* A signed JWT; 'thumb' is "x5t", "x5t#S256" or NULL. */
static char *make_jwt(struct keys *k, EVP_PKEY *signer, const char *alg,
		      const char *thumb, const char *claims)
{
	struct buf jwt = BUF_INIT(BUF_MAX_SMALL), hdr = BUF_INIT(1024);
	unsigned char d[32], sig[512];
	unsigned int dlen = sizeof(d);
	size_t siglen = sizeof(sig);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx;

	buf_addf(&hdr, "{\"alg\":\"%s\",\"typ\":\"JWT\"", alg);
	if (thumb) {
		struct buf t = BUF_INIT(256);

		X509_digest(k->cert,
			    strchr(thumb, '#') ? EVP_sha256() : EVP_sha1(), d,
			    &dlen);
		b64(&t, d, dlen);
		buf_addf(&hdr, ",\"%s\":\"%s\"", thumb, t.ptr);
		buf_release(&t);
	}
	buf_addch(&hdr, '}');
	b64(&jwt, hdr.ptr, hdr.len);
	buf_addch(&jwt, '.');
	b64(&jwt, claims, strlen(claims));
	assert_int_equal(
	    EVP_DigestSignInit(md, &pctx, EVP_sha256(), NULL, signer), 1);
	if (!strcmp(alg, "PS256")) {
		EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
		EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST);
	}
	assert_int_equal(EVP_DigestSign(md, sig, &siglen,
					(const unsigned char *)jwt.ptr,
					jwt.len),
			 1);
	EVP_MD_CTX_free(md);
	buf_addch(&jwt, '.');
	b64(&jwt, sig, siglen);
	buf_release(&hdr);
	return buf_detach(&jwt, NULL);
}

static char *claims(const char *aud, const char *iss, const char *sub, long nbf,
		    long exp)
{
	struct buf c = BUF_INIT(2048);

	buf_addf(&c,
		 "{\"aud\":\"%s\",\"iss\":\"%s\",\"sub\":\"%s\",\"jti\":\"1\","
		 "\"nbf\":%ld,\"exp\":%ld}",
		 aud, iss, sub, nbf, exp);
	return buf_detach(&c, NULL);
}

static enum jwtv_result check(struct keys *k, const char *jwt)
{
	static const char *const auds[] = {
	    "http://127.0.0.1:1/contoso/oauth2/v2.0/token", AUD};

	return jwtv_verify(jwt, &k->jc, CLIENT, auds, ARRAY_SIZE(auds), NOW,
			   60);
}

static void test_valid_rs256_and_ps256(void **state)
{
	struct keys *k = *state;
	char *c = claims(AUD, CLIENT, CLIENT, NOW - 10, NOW + 600);
	char *rs = make_jwt(k, k->key, "RS256", "x5t", c);
	char *ps = make_jwt(k, k->key, "PS256", "x5t#S256", c);
	char *iss = NULL;

	assert_int_equal(check(k, rs), JWTV_OK);
	assert_int_equal(check(k, ps), JWTV_OK);
	assert_int_equal(jwtv_peek_issuer(rs, &iss), 0);
	assert_string_equal(iss, CLIENT);
	free(iss);
	free(rs);
	free(ps);
	free(c);
}

static void test_signature_and_key(void **state)
{
	struct keys *k = *state;
	char *c = claims(AUD, CLIENT, CLIENT, NOW - 10, NOW + 600);
	char *other = make_jwt(k, k->other, "RS256", "x5t", c);
	char *nothumb = make_jwt(k, k->key, "RS256", NULL, c);
	char *wrongthumb = make_jwt(k, k->key, "RS256", "x5t#S256", c);
	char *pswrong = make_jwt(k, k->key, "PS256", "x5t", c);
	char *none = make_jwt(k, k->key, "HS256", "x5t", c);
	char *good = make_jwt(k, k->key, "RS256", "x5t", c), *tampered;
	char *dot;

	assert_int_equal(check(k, other), JWTV_BAD_SIGNATURE);
	assert_int_equal(check(k, nothumb), JWTV_NO_KEY);
	assert_int_equal(check(k, wrongthumb), JWTV_NO_KEY);
	assert_int_equal(check(k, pswrong), JWTV_NO_KEY);
	assert_int_equal(check(k, none), JWTV_BAD_ALG);

	/* a changed claim breaks the signature */
	tampered = xstrdup(good);
	dot = strchr(tampered, '.');
	dot[3] = dot[3] == 'A' ? 'B' : 'A';
	assert_int_not_equal(check(k, tampered), JWTV_OK);
	free(tampered);
	/* a changed signature too */
	tampered = xstrdup(good);
	dot = strrchr(tampered, '.');
	dot[5] = dot[5] == 'A' ? 'B' : 'A';
	assert_int_equal(check(k, tampered), JWTV_BAD_SIGNATURE);
	free(tampered);

	free(other);
	free(nothumb);
	free(wrongthumb);
	free(pswrong);
	free(none);
	free(good);
	free(c);
}

static void test_claims(void **state)
{
	static const struct {
		const char *aud, *iss, *sub;
		long nbf, exp;
		enum jwtv_result want;
	} t[] = {
	    {AUD, CLIENT, CLIENT, NOW - 10, NOW + 600, JWTV_OK},
	    {"http://127.0.0.1:1/contoso/oauth2/v2.0/token", CLIENT, CLIENT,
	     NOW - 10, NOW + 600, JWTV_OK},
	    {"https://login.microsoftonline.com/other/oauth2/v2.0/token",
	     CLIENT, CLIENT, NOW - 10, NOW + 600, JWTV_BAD_AUDIENCE},
	    {AUD, "someone", CLIENT, NOW - 10, NOW + 600, JWTV_BAD_ISSUER},
	    {AUD, CLIENT, "someone", NOW - 10, NOW + 600, JWTV_BAD_ISSUER},
	    {AUD, CLIENT, CLIENT, NOW - 1200, NOW - 600, JWTV_BAD_TIME},
	    {AUD, CLIENT, CLIENT, NOW + 600, NOW + 1200, JWTV_BAD_TIME},
	    {AUD, CLIENT, CLIENT, NOW + 30, NOW + 600, JWTV_OK}, /* skew */
	};
	struct keys *k = *state;

	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		char *c =
		    claims(t[i].aud, t[i].iss, t[i].sub, t[i].nbf, t[i].exp);
		char *j = make_jwt(k, k->key, "PS256", "x5t#S256", c);

		assert_int_equal(check(k, j), t[i].want);
		free(j);
		free(c);
	}
}

static void test_malformed(void **state)
{
	static const char *const bad[] = {
	    "",
	    "abc",
	    "a.b",
	    "a.b.c.d",
	    "!!.e30.",
	    "e30.!!.",
	    "bm90IGpzb24.e30.",
	    "e30.bm90IGpzb24.",
	};
	struct keys *k = *state;
	char *iss;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_int_equal(check(k, bad[i]), JWTV_MALFORMED);
		assert_int_equal(jwtv_peek_issuer(bad[i], &iss), -1);
	}
}

static void test_b64url(void **state)
{
	static const char *const t[] = {"",	"f",	 "fo",	  "foo",
					"foob", "fooba", "foobar"};
	static const char *const enc[] = {
	    "", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		struct buf e = BUF_INIT(64), d = BUF_INIT(64);

		assert_int_equal(jwtv_b64url_encode(t[i], strlen(t[i]), &e), 0);
		assert_string_equal(e.ptr, enc[i]);
		assert_int_equal(jwtv_b64url_decode(e.ptr, e.len, &d), 0);
		assert_string_equal(d.ptr, t[i]);
		buf_release(&e);
		buf_release(&d);
	}
	{
		struct buf d = BUF_INIT(64);
		const unsigned char want[] = {0xfb, 0xff};

		assert_int_equal(jwtv_b64url_decode("-_8", 3, &d), 0);
		assert_memory_equal(d.ptr, want, 2);
		assert_int_equal(jwtv_b64url_decode("a+b", 3, &d), -1);
		assert_int_equal(jwtv_b64url_decode("abcde", 5, &d), -1);
		buf_release(&d);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid_rs256_and_ps256),
	    cmocka_unit_test(test_signature_and_key),
	    cmocka_unit_test(test_claims),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_b64url),
	};

	return cmocka_run_group_tests_name("dv_jwtv", tests, setup, teardown);
}
