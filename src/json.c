#include "compat.h"

#include <math.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "json.h"

#include "banned.h"

/* cJSON's print_string_ptr(): these escapes, other bytes as they are. */
static int add_string(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const char *run;
	int rc = 0;

	rc |= buf_addch(b, '"');
	if (!s)
		s = "";
	for (run = s;; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[7] = {'\\', 0};
		size_t elen = 2;

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		rc |= buf_add(b, run, (size_t)(s - run));
		if (!c)
			break;
		switch (c) {
		case '"':
		case '\\':
			esc[1] = (char)c;
			break;
		case '\b':
			esc[1] = 'b';
			break;
		case '\f':
			esc[1] = 'f';
			break;
		case '\n':
			esc[1] = 'n';
			break;
		case '\r':
			esc[1] = 'r';
			break;
		case '\t':
			esc[1] = 't';
			break;
		default:
			memcpy(esc + 1, "u00", 3);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			elen = 6;
			break;
		}
		rc |= buf_add(b, esc, elen);
		run = s + 1;
	}
	rc |= buf_addch(b, '"');
	return rc ? -1 : 0;
}

static int add_int(struct buf *b, int v)
{
	char tmp[16];
	size_t i = sizeof(tmp);
	unsigned u = v < 0 ? 0u - (unsigned)v : (unsigned)v;

	do {
		tmp[--i] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		tmp[--i] = '-';
	return buf_add(b, tmp + i, sizeof(tmp) - i);
}

static int add_item(struct buf *b, const cJSON *it)
{
	const cJSON *c;
	int rc = 0;

	switch (it->type & 0xff) {
	case cJSON_False:
		return buf_addstr(b, "false");
	case cJSON_True:
		return buf_addstr(b, "true");
	case cJSON_NULL:
		return buf_addstr(b, "null");
	case cJSON_Number:
		/*
		 * cJSON prints "%1.15g": for an int that is its digits, as
		 * "%d" prints them; -0 keeps its sign, so cJSON prints it
		 */
		if (it->valuedouble != (double)it->valueint ||
		    (it->valueint == 0 && signbit(it->valuedouble)))
			return -1;
		return add_int(b, it->valueint);
	case cJSON_String:
		return add_string(b, it->valuestring);
	case cJSON_Array:
		rc |= buf_addch(b, '[');
		for (c = it->child; c && !rc; c = c->next) {
			if (c != it->child)
				rc |= buf_addch(b, ',');
			rc |= add_item(b, c);
		}
		rc |= buf_addch(b, ']');
		return rc ? -1 : 0;
	case cJSON_Object:
		rc |= buf_addch(b, '{');
		for (c = it->child; c && !rc; c = c->next) {
			if (c != it->child)
				rc |= buf_addch(b, ',');
			if (!c->string)
				return -1;
			rc |= add_string(b, c->string);
			rc |= buf_addch(b, ':');
			rc |= add_item(b, c);
		}
		rc |= buf_addch(b, '}');
		return rc ? -1 : 0;
	default:
		return -1; /* raw or invalid: left to cJSON */
	}
}

int json_print(struct buf *b, const cJSON *item)
{
	size_t len = b->len;

	if (item && add_item(b, item) == 0)
		return 0;
	buf_setlen(b, len);
	return -1;
}
