#include "compat.h"

#include <string.h>

#include "cell.h"

#include "banned.h"

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* The length of a group separator at 's' (0: none). */
static size_t separator(const char *s, size_t len)
{
	if (!len)
		return 0;
	if (*s == ' ' || *s == ',' || *s == '.')
		return 1;
	if (len >= 2 && !memcmp(s, "\xc2\xa0", 2)) /* U+00A0 */
		return 2;
	if (len >= 3 && !memcmp(s, "\xe2\x80\xaf", 3)) /* U+202F */
		return 3;
	return 0;
}

bool cell_is_number(const char *s, size_t len)
{
	size_t i = 0, n;
	bool digits = false;

	if (i < len && (s[i] == '+' || s[i] == '-'))
		i++;
	if (i < len && s[i] == '.')
		i++; /* ".5": a decimal part alone, digits must follow */
	for (;;) {
		size_t start = i;

		while (i < len && is_digit(s[i]))
			i++;
		if (i == start)
			return false; /* a group must hold digits */
		digits = true;
		n = separator(s + i, len - i);
		if (!n || i + n >= len || !is_digit(s[i + n]))
			break;
		i += n;
	}
	if (i < len && (s[i] == 'e' || s[i] == 'E')) {
		size_t start;

		i++;
		if (i < len && (s[i] == '+' || s[i] == '-'))
			i++;
		start = i;
		while (i < len && is_digit(s[i]))
			i++;
		if (i == start)
			return false;
	}
	if (i < len && s[i] == '%')
		i++;
	return digits && i == len;
}

bool cell_dangerous(const char *s, size_t len)
{
	if (!len)
		return false;
	switch (s[0]) {
	case '=':
	case '@':
	case '\t':
	case '\r':
		return true;
	case '+':
	case '-':
		return !cell_is_number(s, len);
	default:
		return false;
	}
}

/* 's' without its leading quotes: what the mark decision looks at. */
static size_t quotes(const char *s, size_t len)
{
	size_t k = 0;

	while (k < len && s[k] == '\'')
		k++;
	return k;
}

bool cell_needs_mark(const char *s, size_t len)
{
	size_t k = quotes(s, len);

	return cell_dangerous(s + k, len - k);
}

bool cell_marked(const char *s, size_t len)
{
	return len && s[0] == '\'' && cell_needs_mark(s, len);
}

size_t cell_utf8_seq(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	unsigned c = s[0];
	size_t n;
	unsigned long cp, min;

	if (c < 0x80)
		return 1;
	if ((c & 0xe0) == 0xc0) {
		n = 1;
		cp = c & 0x1f;
		min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		n = 2;
		cp = c & 0x0f;
		min = 0x800;
	} else if ((c & 0xf8) == 0xf0) {
		n = 3;
		cp = c & 0x07;
		min = 0x10000;
	} else {
		return 0;
	}
	if (len - 1 < n)
		return 0;
	for (size_t k = 1; k <= n; k++) {
		if ((s[k] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[k] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n + 1;
}
