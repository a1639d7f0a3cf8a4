#include "compat.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>

#include "job.h"
#include "log.h"
#include "token_cache.h"

#include "banned.h"

/* The cache folder: $XDG_CACHE_HOME/mbxfix or $HOME/.cache/mbxfix. */
static int cache_dir(struct buf *b, struct err *e)
{
	const char *x = getenv("XDG_CACHE_HOME"), *h = getenv("HOME");

	/* the XDG spec: a relative XDG_CACHE_HOME is ignored */
	if (x && *x == '/')
		return buf_addf(b, "%s/mbxfix", x);
	if (h && *h)
		return buf_addf(b, "%s/.cache/mbxfix", h);
	return err_set(e, ERR_CONFIG,
		       "neither XDG_CACHE_HOME nor HOME is set: no place for "
		       "the sign-in cache");
}

char *token_cache_path(const struct token_cache_key *k, struct err *e)
{
	struct buf b = BUF_INIT(BUF_MAX_SMALL), id = BUF_INIT(BUF_MAX_SMALL);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (cache_dir(&b, e) < 0) {
		buf_release(&b);
		return NULL;
	}
	buf_addf(&id, "%s\n%s\n%s\n%s", k->authority, k->tenant, k->client_id,
		 k->environment);
	if (!EVP_Digest(id.ptr, id.len, md, &n, EVP_sha256(), NULL))
		BUG("SHA-256 failed");
	buf_release(&id);
	buf_addstr(&b, "/signin-");
	for (unsigned int i = 0; i < 16 && i < n; i++)
		buf_addf(&b, "%02x", md[i]);
	buf_addstr(&b, ".json");
	return buf_detach(&b, NULL);
}

static bool same(const cJSON *o, const char *name, const char *want)
{
	const char *v =
	    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, name));

	return v && !strcmp(v, want);
}

int token_cache_load(const char *path, const struct token_cache_key *k,
		     struct buf *out, struct err *e)
{
	struct buf raw = BUF_INIT(64 * 1024);
	struct stat st;
	char tmp[1024];
	cJSON *o = NULL;
	const char *rt;
	ssize_t n;
	int fd, rc = -1;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0)
		return err_set_errno(
		    e, ERR_CONFIG, "cannot open the sign-in cache '%s'", path);
	if (fstat(fd, &st) < 0) {
		err_set_errno(e, ERR_CONFIG, "cannot stat '%s'", path);
		goto out;
	}
	if (!S_ISREG(st.st_mode) || (st.st_mode & 077) ||
	    st.st_uid != geteuid()) {
		err_set(e, ERR_CONFIG,
			"the sign-in cache '%s' is not a regular file of "
			"yours readable by you only (mode %04o); remove it "
			"(mbxfix logout JOB) or chmod 600 '%s'",
			path, (unsigned)(st.st_mode & 07777), path);
		goto out;
	}
	while ((n = read(fd, tmp, sizeof(tmp))) > 0)
		if (buf_add(&raw, tmp, (size_t)n) < 0) {
			err_set(e, ERR_CONFIG,
				"the sign-in cache '%s' is too "
				"large",
				path);
			goto out;
		}
	if (n < 0) {
		err_set_errno(e, ERR_CONFIG, "cannot read '%s'", path);
		goto out;
	}
	o = cJSON_ParseWithLength(raw.ptr ? raw.ptr : "", raw.len);
	rt = cJSON_GetStringValue(
	    cJSON_GetObjectItemCaseSensitive(o, "refresh_token"));
	/* unreadable or for another sign-in: as if there were none */
	if (!rt || !*rt || !same(o, "authority", k->authority) ||
	    !same(o, "tenant", k->tenant) ||
	    !same(o, "client_id", k->client_id) ||
	    !same(o, "environment", k->environment)) {
		rc = 0;
		goto out;
	}
	log_secret_add(rt, strlen(rt));
	buf_addstr(out, rt);
	rc = 1;
out:
	if (o) {
		cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "refresh_token");

		if (cJSON_IsString(t))
			memset(t->valuestring, 0, strlen(t->valuestring));
		cJSON_Delete(o);
	}
	memset(tmp, 0, sizeof(tmp));
	job_secret_wipe(&raw);
	close(fd);
	return rc;
}

static int mkdirs(char *dir, struct err *e)
{
	char *p = dir;

	while ((p = strchr(p + 1, '/'))) {
		*p = '\0';
		if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
			err_set_errno(e, ERR_IO, "cannot create '%s'", dir);
			*p = '/';
			return -1;
		}
		*p = '/';
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return err_set_errno(e, ERR_IO, "cannot create '%s'", dir);
	return 0;
}

int token_cache_store(const char *path, const struct token_cache_key *k,
		      const char *refresh, struct err *e)
{
	struct buf tmp = BUF_INIT(BUF_MAX_SMALL);
	cJSON *o = cJSON_CreateObject();
	char *dir = xstrdup(path), *slash = strrchr(dir, '/'), *text;
	size_t len, off = 0;
	int fd = -1, rc = -1;

	if (slash)
		*slash = '\0';
	if (slash && mkdirs(dir, e) < 0)
		goto out;
	cJSON_AddStringToObject(o, "authority", k->authority);
	cJSON_AddStringToObject(o, "tenant", k->tenant);
	cJSON_AddStringToObject(o, "client_id", k->client_id);
	cJSON_AddStringToObject(o, "environment", k->environment);
	cJSON_AddStringToObject(o, "refresh_token", refresh);
	text = cJSON_Print(o);
	buf_addf(&tmp, "%s.XXXXXX", path);
	/* mkstemp creates the file with mode 0600 */
	fd = mkstemp(tmp.ptr);
	if (fd < 0) {
		err_set_errno(e, ERR_IO, "cannot create '%s'", tmp.ptr);
		goto wipe;
	}
	len = strlen(text);
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err_set_errno(e, ERR_IO, "cannot write '%s'", tmp.ptr);
			goto wipe;
		}
		off += (size_t)n;
	}
	if (fchmod(fd, 0600) < 0 || fsync(fd) < 0 || close(fd) < 0) {
		fd = -1;
		err_set_errno(e, ERR_IO, "cannot write '%s'", tmp.ptr);
		goto wipe;
	}
	fd = -1;
	if (rename(tmp.ptr, path) < 0) {
		err_set_errno(e, ERR_IO, "cannot rename '%s' to '%s'", tmp.ptr,
			      path);
		goto wipe;
	}
	rc = 0;
wipe:
	if (rc < 0 && tmp.ptr)
		unlink(tmp.ptr);
	if (fd >= 0)
		close(fd);
	memset(text, 0, strlen(text));
	cJSON_free(text);
out : {
	cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "refresh_token");

	if (cJSON_IsString(t))
		memset(t->valuestring, 0, strlen(t->valuestring));
}
	cJSON_Delete(o);
	buf_release(&tmp);
	free(dir);
	return rc;
}

int token_cache_remove(const char *path, struct err *e)
{
	if (unlink(path) == 0)
		return 1;
	if (errno == ENOENT)
		return 0;
	return err_set_errno(e, ERR_IO, "cannot remove '%s'", path);
}
