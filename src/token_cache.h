/*
 * token_cache.h: where a person's refresh token is kept between runs
 * (docs/design.md, "Device code sign-in").
 *
 * One file per sign-in, under $XDG_CACHE_HOME/mbxfix/ (default
 * ~/.cache/mbxfix/), named after a SHA-256 of the authority, tenant,
 * client id and environment URL, so two jobs against the same
 * environment with the same app share the sign-in and nothing else
 * does. The file is JSON holding those four and the refresh token; it is
 * written whole to a temporary file of mode 0600 in the same folder and
 * renamed over the old one, and refused when group or others may access
 * it or someone else owns it. The refresh token never appears in any
 * message.
 */
#ifndef MBXFIX_TOKEN_CACHE_H
#define MBXFIX_TOKEN_CACHE_H

#include "buf.h"
#include "err.h"

struct token_cache_key {
	const char *authority, *tenant, *client_id, *environment;
};

/*
 * The cache file's path for 'k' (malloc'd), or NULL with 'e' set when
 * neither XDG_CACHE_HOME nor HOME is set.
 */
char *token_cache_path(const struct token_cache_key *k, struct err *e);

/*
 * Read the refresh token of 'k' from 'path' into 'out'. 1 when found, 0
 * when there is no cache file (or it is for another sign-in), -1 with 'e'
 * set (ERR_CONFIG) when it is accessible by group or others, owned by
 * someone else, not a regular file, or unreadable. Caller wipes 'out'.
 */
int token_cache_load(const char *path, const struct token_cache_key *k,
		     struct buf *out, struct err *e);

/* Store 'refresh' for 'k' atomically. 0, or -1 with 'e' set (ERR_IO). */
int token_cache_store(const char *path, const struct token_cache_key *k,
		      const char *refresh, struct err *e);

/* Remove it: 1 removed, 0 there was none, -1 with 'e' set. */
int token_cache_remove(const char *path, struct err *e);

#endif
