#include "compat.h"

#include <ctype.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "odata.h"

#include "banned.h"

/* Error bodies are small; a bigger one is not worth parsing in full. */
#define ODATA_ERROR_MAX_BODY ((size_t)1024 * 1024)

/* RFC 3986 unreserved characters: ASCII letters and digits, - . _ ~ */
/* clang-format off */
#define R1(c) [(c)] = 1
#define R10(c) R1(c), R1((c) + 1), R1((c) + 2), R1((c) + 3), R1((c) + 4), \
	R1((c) + 5), R1((c) + 6), R1((c) + 7), R1((c) + 8), R1((c) + 9)
#define R26(c) R10(c), R10((c) + 10), R1((c) + 20), R1((c) + 21), \
	R1((c) + 22), R1((c) + 23), R1((c) + 24), R1((c) + 25)
static const unsigned char unreserved[256] = {
	R10('0'), R26('A'), R26('a'), R1('-'), R1('.'), R1('_'), R1('~'),
};
#undef R26
#undef R10
#undef R1
/* clang-format on */

int odata_url_encode(struct buf *out, const char *s, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t need = 0;
	char *p;

	for (size_t i = 0; i < len; i++)
		need += unreserved[(unsigned char)s[i]] ? 1 : 3;
	if (!need)
		return 0;
	if (buf_grow(out, need) < 0)
		return -1;
	p = out->ptr + out->len;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (unreserved[c]) {
			*p++ = (char)c;
		} else {
			*p++ = '%';
			*p++ = hex[c >> 4];
			*p++ = hex[c & 15];
		}
	}
	out->len += need;
	out->ptr[out->len] = '\0';
	return 0;
}

int odata_quote(struct buf *out, const char *s)
{
	size_t old = out->len;
	const char *q;

	if (buf_addch(out, '\'') < 0)
		goto fail;
	while ((q = strchr(s, '\'')) != NULL) {
		if (buf_add(out, s, (size_t)(q - s) + 1) < 0 ||
		    buf_addch(out, '\'') < 0)
			goto fail;
		s = q + 1;
	}
	if (buf_addstr(out, s) < 0 || buf_addch(out, '\'') < 0)
		goto fail;
	return 0;
fail:
	buf_setlen(out, old);
	return -1;
}

int odata_json_quote(struct buf *out, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t old = out->len;

	if (buf_addch(out, '"') < 0)
		goto fail;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		int rc;

		if (c == '"' || c == '\\') {
			char esc[2] = {'\\', (char)c};

			rc = buf_add(out, esc, 2);
		} else if (c < 0x20) {
			char esc[6] = {'\\', 'u',	  '0',
				       '0',  hex[c >> 4], hex[c & 15]};

			rc = buf_add(out, esc, 6);
		} else {
			rc = buf_addch(out, (char)c);
		}
		if (rc < 0)
			goto fail;
	}
	if (buf_addch(out, '"') < 0)
		goto fail;
	return 0;
fail:
	buf_setlen(out, old);
	return -1;
}

static bool is_name(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_')
			return false;
	return true;
}

int odata_in_filter(struct buf *out, const char *property,
		    const char *const *values, size_t n, struct err *e)
{
	size_t old = out->len;

	if (n == 0)
		return err_set(e, ERR_INTERNAL,
			       "In() filter on '%s' without any value",
			       property);
	if (!is_name(property))
		return err_set(e, ERR_INTERNAL,
			       "In() filter: bad property name '%s'", property);
	if (buf_addstr(out, "Microsoft.Dynamics.CRM.In(PropertyName=") < 0 ||
	    odata_quote(out, property) < 0 ||
	    buf_addstr(out, ",PropertyValues=[") < 0)
		goto full;
	for (size_t i = 0; i < n; i++) {
		if (i && buf_addch(out, ',') < 0)
			goto full;
		/*
		 * PropertyValues is read as JSON: a value holding ' in single
		 * quotes, even doubled, is refused (docs/fidelity.md).
		 */
		if (odata_json_quote(out, values[i]) < 0)
			goto full;
	}
	if (buf_addstr(out, "])") < 0)
		goto full;
	return 0;
full:
	buf_setlen(out, old);
	return err_set(e, ERR_INTERNAL,
		       "In() filter on '%s' with %zu values is too long",
		       property, n);
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Collect the 32 hex digits of a GUID in 'digits' (lower case). Accepts
 * 8-4-4-4-12 with hyphens, optionally in braces, or 32 bare digits.
 */
static bool guid_digits(const char *s, size_t len, char digits[32])
{
	static const size_t hyphen_at[] = {8, 13, 18, 23};
	size_t n = 0;

	if (len == 38 && s[0] == '{' && s[37] == '}') {
		s++;
		len = 36;
	}
	if (len == 32) {
		for (size_t i = 0; i < 32; i++) {
			if (hexval((unsigned char)s[i]) < 0)
				return false;
			digits[i] = (char)tolower((unsigned char)s[i]);
		}
		return true;
	}
	if (len != 36)
		return false;
	for (size_t i = 0, h = 0; i < 36; i++) {
		if (h < ARRAY_SIZE(hyphen_at) && i == hyphen_at[h]) {
			if (s[i] != '-')
				return false;
			h++;
			continue;
		}
		if (hexval((unsigned char)s[i]) < 0)
			return false;
		digits[n++] = (char)tolower((unsigned char)s[i]);
	}
	return n == 32;
}

static void guid_format(char out[ODATA_GUID_LEN + 1], const char digits[32])
{
	size_t o = 0;

	for (size_t i = 0; i < 32; i++) {
		if (i == 8 || i == 12 || i == 16 || i == 20)
			out[o++] = '-';
		out[o++] = digits[i];
	}
	out[o] = '\0';
}

bool odata_is_guid(const char *s)
{
	char digits[32];

	return guid_digits(s, strlen(s), digits);
}

int odata_guid_normalize(char out[ODATA_GUID_LEN + 1], const char *s)
{
	char digits[32];

	out[0] = '\0';
	if (!guid_digits(s, strlen(s), digits))
		return -1;
	guid_format(out, digits);
	return 0;
}

int odata_id_from_url(char out[ODATA_GUID_LEN + 1], const char *url)
{
	const char *open = strrchr(url, '(');
	const char *close;
	char digits[32];

	out[0] = '\0';
	if (!open)
		return -1;
	close = strchr(open, ')');
	if (!close)
		return -1;
	if (!guid_digits(open + 1, (size_t)(close - open - 1), digits))
		return -1;
	guid_format(out, digits);
	return 0;
}

/*
 * Copy 's' into 'dst' of 'size' bytes, cutting at a UTF-8 character
 * boundary when it does not fit, so a truncated message stays valid text.
 */
static void copy_utf8(char *dst, size_t size, const char *s)
{
	size_t n = strlen(s);

	if (n >= size) {
		n = size - 1;
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	}
	memcpy(dst, s, n);
	dst[n] = '\0';
}

static void copy_json_value(char *dst, size_t size, const cJSON *v)
{
	char num[32];

	if (cJSON_IsString(v) && v->valuestring) {
		copy_utf8(dst, size, v->valuestring);
	} else if (cJSON_IsNumber(v)) {
		snprintf(num, sizeof(num), "%.0f", v->valuedouble);
		copy_utf8(dst, size, num);
	} else {
		dst[0] = '\0';
	}
}

int odata_parse_error(struct odata_error *out, const char *body, size_t len)
{
	cJSON *root = NULL;
	const cJSON *err;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (!body || len == 0 || len > ODATA_ERROR_MAX_BODY)
		return -1;
	root = cJSON_ParseWithLength(body, len);
	if (!cJSON_IsObject(root))
		goto out;
	err = cJSON_GetObjectItemCaseSensitive(root, "error");
	if (cJSON_IsObject(err)) {
		/* Dataverse (docs/fidelity.md) */
		const cJSON *code =
		    cJSON_GetObjectItemCaseSensitive(err, "code");
		const cJSON *msg =
		    cJSON_GetObjectItemCaseSensitive(err, "message");

		if (!code && !msg)
			goto out;
		copy_json_value(out->code, sizeof(out->code), code);
		copy_json_value(out->message, sizeof(out->message), msg);
		rc = 0;
	} else if (cJSON_IsString(err) && err->valuestring) {
		/* Entra ID token endpoint (docs/fidelity.md) */
		copy_utf8(out->code, sizeof(out->code), err->valuestring);
		copy_json_value(out->message, sizeof(out->message),
				cJSON_GetObjectItemCaseSensitive(
				    root, "error_description"));
		rc = 0;
	}
out:
	cJSON_Delete(root);
	return rc;
}
