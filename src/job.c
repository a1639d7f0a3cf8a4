/*
 * job.c: the job file (job.h): libconfig parsed, every setting checked
 * and refused with its file and line, relative paths anchored at the job
 * file's folder, the sign-ins (auth, approve_auth, auth.pool), URLs
 * parsed by libcurl, the secret read from the environment or a file.
 *
 * About 1,200 lines: each setting is a few lines of checks that share the
 * loader's context (struct ctx) and its messages; split by group, every
 * piece would need that context's insides (docs/design.md lists the
 * settings).
 */
#include "compat.h"

#include <errno.h>
#include <fcntl.h>
#include <iconv.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <curl/curl.h>
#include <libconfig.h>

#include "job.h"
#include "log.h"

#include "banned.h"

/* What is being loaded: for messages. */
struct ctx {
	const char *path;
	struct err *e;
	char *dir; /* the job file's folder, "" for one in the current folder */
	const char *gname; /* the sign-in group being read ("auth") */
};

/*
 * A relative path setting is relative to the job file's folder, not to
 * the current directory: the same job runs the same from cron.
 */
static void anchor(const struct ctx *c, char **p)
{
	struct buf b = BUF_INIT(BUF_MAX_SMALL);

	if (!*p || !**p || **p == '/' || !*c->dir)
		return;
	if (buf_addf(&b, "%s/%s", c->dir, *p) < 0) {
		buf_release(&b);
		return; /* too long: kept as written, refused when used */
	}
	free(*p);
	*p = buf_detach(&b, NULL);
}

ATTR_PRINTF(4, 5)
static int fail(struct ctx *c, const config_setting_t *s, const char *name,
		const char *fmt, ...)
{
	char why[256];
	int line = s ? config_setting_source_line(s) : 0;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (line > 0)
		return err_set(c->e, ERR_CONFIG, "%s:%d: setting '%s': %s",
			       c->path, line, name, why);
	return err_set(c->e, ERR_CONFIG, "%s: setting '%s': %s", c->path, name,
		       why);
}

/* The full name of member 'm' of 'group' (named 'gname', "" at the root). */
static void fullname(char *out, size_t len, const char *gname, const char *m)
{
	if (*gname)
		snprintf(out, len, "%s.%s", gname, m);
	else
		snprintf(out, len, "%s", m);
}

/* Refuse members of 'g' not in 'allowed'. */
static int check_members(struct ctx *c, const config_setting_t *g,
			 const char *gname, const char *const *allowed)
{
	int n = config_setting_length(g);

	for (int i = 0; i < n; i++) {
		const config_setting_t *m = config_setting_get_elem(g, i);
		const char *mname = config_setting_name(m);
		char full[128];
		bool ok = false;

		for (const char *const *a = allowed; *a && !ok; a++)
			ok = mname && !strcmp(mname, *a);
		if (!ok) {
			fullname(full, sizeof(full), gname,
				 mname ? mname : "?");
			return fail(c, m, full, "unknown setting");
		}
	}
	return 0;
}

/* Member 'm' of group 'g' as a group, or NULL when absent. */
static int get_group(struct ctx *c, const config_setting_t *g, const char *m,
		     bool required, config_setting_t **out)
{
	config_setting_t *s = config_setting_get_member(g, m);

	*out = NULL;
	if (!s)
		return required ? fail(c, g, m, "required group missing") : 0;
	if (!config_setting_is_group(s))
		return fail(c, s, m, "must be a group { ... }");
	*out = s;
	return 0;
}

/*
 * String member 'm' of 'g' into '*out' (a copy). Absent: 'def' (copied,
 * NULL stays NULL), or an error when 'def' is NULL and 'required'.
 */
static int get_str(struct ctx *c, const config_setting_t *g, const char *gname,
		   const char *m, bool required, const char *def, char **out)
{
	config_setting_t *s = g ? config_setting_get_member(g, m) : NULL;
	char full[128];

	fullname(full, sizeof(full), gname, m);
	free(*out);
	*out = NULL;
	if (!s) {
		if (required)
			return fail(c, g, full, "required, missing");
		*out = def ? xstrdup(def) : NULL;
		return 0;
	}
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return fail(c, s, full, "must be a string");
	*out = xstrdup(config_setting_get_string(s));
	if (required && !**out)
		return fail(c, s, full, "must not be empty");
	return 0;
}

static int get_int(struct ctx *c, const config_setting_t *g, const char *gname,
		   const char *m, int def, int min, int max, int *out)
{
	config_setting_t *s = g ? config_setting_get_member(g, m) : NULL;
	char full[128];
	long long v;

	fullname(full, sizeof(full), gname, m);
	*out = def;
	if (!s)
		return 0;
	if (config_setting_type(s) == CONFIG_TYPE_INT)
		v = config_setting_get_int(s);
	else if (config_setting_type(s) == CONFIG_TYPE_INT64)
		v = config_setting_get_int64(s);
	else
		return fail(c, s, full, "must be an integer");
	if (v < min || v > max)
		return fail(c, s, full, "%lld is out of range (%d to %d)", v,
			    min, max);
	*out = (int)v;
	return 0;
}

/* Whether 'host' (as libcurl parsed it: IPv6 in brackets) is loopback. */
static bool loopback_host(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;
	char inner[64];
	size_t len = strlen(host);

	if (!strcasecmp(host, "localhost") || !strcasecmp(host, "localhost."))
		return true;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (len < 3 || host[0] != '[' || host[len - 1] != ']' ||
	    len - 2 >= sizeof(inner))
		return false;
	memcpy(inner, host + 1, len - 2);
	inner[len - 2] = '\0';
	if (inet_pton(AF_INET6, inner, &a6) != 1)
		return false;
	if (IN6_IS_ADDR_LOOPBACK(&a6))
		return true;
	/* ::ffff:127.x.y.z, an IPv4 loopback address written as IPv6 */
	return IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127;
}

char *job_parse_url(const char *url, char *why, size_t whylen)
{
	CURLU *h = curl_url();
	char *scheme = NULL, *host = NULL, *part = NULL, *norm = NULL;
	char *out = NULL;
	size_t len;

	if (!h)
		BUG("curl_url: out of memory");
	for (const char *p = url; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f) {
			snprintf(why, whylen,
				 "'%s' must not hold blanks or "
				 "control characters",
				 url);
			goto out;
		}
	if (curl_url_set(h, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(h, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    (strcmp(scheme, "https") && strcmp(scheme, "http"))) {
		if (scheme || strncasecmp(url, "http", 4))
			snprintf(why, whylen, "'%s' is not an https:// URL",
				 url);
		else
			snprintf(why, whylen, "'%s' is not a valid URL", url);
		goto out;
	}
	/*
	 * user information: curl would send it (and connect to the host
	 * after the '@'); the URL is not echoed, it may hold a password
	 */
	if (curl_url_get(h, CURLUPART_USER, &part, 0) == CURLUE_OK ||
	    curl_url_get(h, CURLUPART_PASSWORD, &part, 0) == CURLUE_OK ||
	    curl_url_get(h, CURLUPART_OPTIONS, &part, 0) == CURLUE_OK) {
		snprintf(why, whylen,
			 "the URL holds user information (a part before "
			 "'@'); credentials never go in a URL");
		goto out;
	}
	if (curl_url_get(h, CURLUPART_HOST, &host, 0) != CURLUE_OK || !*host) {
		snprintf(why, whylen, "'%s' has no host", url);
		goto out;
	}
	if (curl_url_get(h, CURLUPART_QUERY, &part, 0) == CURLUE_OK ||
	    curl_url_get(h, CURLUPART_FRAGMENT, &part, 0) == CURLUE_OK) {
		snprintf(why, whylen,
			 "'%s' must not hold a query or a "
			 "fragment",
			 url);
		goto out;
	}
	if (!strcmp(scheme, "http") && !loopback_host(host)) {
		snprintf(why, whylen,
			 "'%s': plain http is allowed for 127.0.0.1, "
			 "localhost and [::1] only (the loopback host; "
			 "here the host is '%s'); use https://",
			 url, host);
		goto out;
	}
	/* what is used is what was checked: libcurl's own spelling */
	if (curl_url_get(h, CURLUPART_URL, &norm, 0) != CURLUE_OK) {
		snprintf(why, whylen, "'%s' is not a valid URL", url);
		goto out;
	}
	len = strlen(norm);
	while (len && norm[len - 1] == '/')
		len--;
	out = xstrndup(norm, len);
out:
	curl_free(part);
	curl_free(scheme);
	curl_free(host);
	curl_free(norm);
	curl_url_cleanup(h);
	return out;
}

/* An URL setting: job_parse_url(), '*url' replaced by its clean form. */
static int check_url(struct ctx *c, const config_setting_t *g, const char *name,
		     char **url)
{
	config_setting_t *s =
	    config_setting_get_member(g, strrchr(name, '.') + 1);
	char why[512];
	char *clean = job_parse_url(*url, why, sizeof(why));

	if (!clean)
		return fail(c, s, name, "%s", why);
	free(*url);
	*url = clean;
	return 0;
}

int job_check_private_file(const char *path, const char *what, struct err *e)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return err_set_errno(e, ERR_CONFIG, "cannot use %s '%s'", what,
				     path);
	if (!S_ISREG(st.st_mode))
		return err_set(e, ERR_CONFIG, "%s '%s' is not a regular file",
			       what, path);
	if (st.st_mode & 077)
		return err_set(e, ERR_CONFIG,
			       "%s '%s' is accessible by group or others (mode "
			       "%04o); make it readable by its owner only: "
			       "chmod 600 '%s'",
			       what, path, (unsigned)(st.st_mode & 07777),
			       path);
	return 0;
}

/* A file setting that must exist and be readable. */
static int check_readable(struct ctx *c, const config_setting_t *g,
			  const char *gname, const char *m, const char *path)
{
	char full[128];

	fullname(full, sizeof(full), gname, m);
	if (access(path, R_OK) < 0)
		return fail(c, config_setting_get_member(g, m), full,
			    "cannot read '%s': %s", path, strerror(errno));
	return 0;
}

/* Same, for a secret file: the message of job_check_private_file(). */
static int check_private(struct ctx *c, const config_setting_t *g,
			 const char *gname, const char *m, const char *path,
			 const char *what)
{
	struct err e2 = ERR_INIT;
	char full[128];

	fullname(full, sizeof(full), gname, m);
	if (job_check_private_file(path, what, &e2) < 0)
		return fail(c, config_setting_get_member(g, m), full, "%s",
			    e2.msg);
	return 0;
}

static int load_auth(struct ctx *c, struct job *j, config_setting_t *g,
		     const char *gname, const struct job *parent);

/* A sign-in of its own, inheriting from 'parent': a copy of its place. */
static struct job *sub_job(const struct job *parent)
{
	struct job *s = xcalloc(1, sizeof(*s));

	s->path = xstrdup(parent->path);
	s->name = xstrdup(parent->name);
	s->url = xstrdup(parent->url);
	s->api_version = xstrdup(parent->api_version);
	return s;
}

/*
 * auth, its pool of further application users, and approve_auth (the
 * sign-in used for approvals only), docs/design.md.
 */
static int load_signins(struct ctx *c, struct job *j, const config_setting_t *root)
{
	config_setting_t *g, *pool;
	char nm[64];

	if (get_group(c, root, "auth", true, &g) < 0 ||
	    load_auth(c, j, g, "auth", NULL) < 0)
		return -1;
	pool = config_setting_get_member(g, "pool");
	if (pool) {
		int n = config_setting_length(pool);

		if (!config_setting_is_list(pool) || n < 1)
			return fail(c, pool, "auth.pool",
				    "must be a list ( { ... }, ... ) of "
				    "application users");
		if (j->auth != JOB_AUTH_SECRET &&
		    j->auth != JOB_AUTH_CERTIFICATE)
			return fail(c, pool, "auth.pool",
				    "needs method secret or certificate: a "
				    "pool is of application users");
		j->pool = xcalloc((size_t)n, sizeof(*j->pool));
		for (int i = 0; i < n; i++) {
			config_setting_t *e = config_setting_get_elem(pool, i);

			snprintf(nm, sizeof(nm), "auth.pool.[%d]", i);
			if (!config_setting_is_group(e))
				return fail(c, e, nm,
					    "must be a group { ... }");
			j->pool[i] = sub_job(j);
			j->npool++;
			if (load_auth(c, j->pool[i], e, nm, j) < 0)
				return -1;
			if (j->pool[i]->auth == JOB_AUTH_DEVICE_CODE)
				return fail(c, e, nm,
					    "a pool is of application users: "
					    "method secret or certificate");
		}
	}
	if (get_group(c, root, "approve_auth", false, &g) < 0)
		return -1;
	if (g) {
		if (j->auth == JOB_AUTH_NONE)
			return fail(c, g, "approve_auth",
				    "needs auth to sign in too");
		j->approve = sub_job(j);
		if (load_auth(c, j->approve, g, "approve_auth", j) < 0)
			return -1;
	}
	return 0;
}

static int load_environment(struct ctx *c, struct job *j,
			    const config_setting_t *root)
{
	static const char *const allowed[] = {"url", "api_version", "ca_file",
					      NULL};
	config_setting_t *g;
	const char *p;

	if (get_group(c, root, "environment", true, &g) < 0 ||
	    check_members(c, g, "environment", allowed) < 0 ||
	    get_str(c, g, "environment", "url", true, NULL, &j->url) < 0 ||
	    check_url(c, g, "environment.url", &j->url) < 0 ||
	    get_str(c, g, "environment", "api_version", false, "9.2",
		    &j->api_version) < 0 ||
	    get_str(c, g, "environment", "ca_file", false, NULL, &j->ca_file) <
		0)
		return -1;
	p = j->api_version;
	if (!*p || !strchr(p, '.') || strspn(p, "0123456789.") != strlen(p) ||
	    *p == '.' || p[strlen(p) - 1] == '.')
		return fail(c, config_setting_get_member(g, "api_version"),
			    "environment.api_version",
			    "'%s' is not a version like \"9.2\"", p);
	if (j->ca_file && !*j->ca_file) {
		free(j->ca_file);
		j->ca_file = NULL;
	}
	anchor(c, &j->ca_file);
	if (j->ca_file &&
	    check_readable(c, g, "environment", "ca_file", j->ca_file) < 0)
		return -1;
	return 0;
}

/* Refuse settings of group 'g' that 'method' does not use. */
static int refuse_unused(struct ctx *c, const config_setting_t *g,
			 const char *method, const char *const *names)
{
	for (; *names; names++) {
		config_setting_t *s = config_setting_get_member(g, *names);
		char full[128];

		fullname(full, sizeof(full), c->gname, *names);
		if (s)
			return fail(c, s, full, "not used with method '%s'",
				    method);
	}
	return 0;
}

/*
 * A path setting that starts with ${NAME}: the environment variable's
 * value replaces it (systemd's ${CREDENTIALS_DIRECTORY}, see job.h).
 */
static int expand_env(struct ctx *c, const config_setting_t *g, const char *m,
		      char **path)
{
	const char *p = *path, *end, *v;
	char name[128], full[128];
	struct buf b = BUF_INIT(SIZE_MAX / 2);

	if (!p || strncmp(p, "${", 2) || !(end = strchr(p, '}')))
		return 0;
	fullname(full, sizeof(full), c->gname, m);
	if ((size_t)(end - p - 2) >= sizeof(name) || end == p + 2)
		return fail(c, config_setting_get_member(g, m), full,
			    "'%s': bad variable name", p);
	memcpy(name, p + 2, (size_t)(end - p - 2));
	name[end - p - 2] = '\0';
	v = getenv(name);
	if (!v || !*v)
		return fail(c, config_setting_get_member(g, m), full,
			    "'%s': environment variable '%s' is not set%s", p,
			    name,
			    strcmp(name, "CREDENTIALS_DIRECTORY")
				? ""
				: " (systemd sets it for a service with "
				  "LoadCredential=)");
	buf_addf(&b, "%s%s", v, end + 1);
	free(*path);
	*path = buf_detach(&b, NULL);
	return 0;
}

/*
 * One sign-in: the members of group 'g' named 'gname' ("auth",
 * "approve_auth", "auth.pool.[1]") into 'j'. 'parent' is the job whose
 * tenant and authority it inherits when it names none (NULL for auth).
 */
static int load_auth(struct ctx *c, struct job *j, config_setting_t *g,
		     const char *gname, const struct job *parent)
{
	static const char *const allowed[] = {
	    "method",	     "tenant",	    "client_id",   "secret_env",
	    "secret_file",   "certificate", "private_key", "authority",
	    "assertion_alg", "pool",	    NULL};
	static const char *const cert_only[] = {"certificate", "private_key",
						"assertion_alg", NULL};
	static const char *const secret_only[] = {"secret_env", "secret_file",
						  NULL};
	static const char *const none_unused[] = {
	    "tenant",	   "client_id",	  "secret_env",	   "secret_file",
	    "certificate", "private_key", "assertion_alg", NULL};
	static const char *const device_unused[] = {
	    "secret_env",  "secret_file",   "certificate",
	    "private_key", "assertion_alg", NULL};
	char *method = NULL, *alg = NULL, nm[160];
	int rc = -1;

#define NM(m) (fullname(nm, sizeof(nm), gname, m), nm)
	c->gname = gname;
	if (check_members(c, g, gname, allowed) < 0 ||
	    (parent && config_setting_get_member(g, "pool") &&
	     fail(c, config_setting_get_member(g, "pool"), NM("pool"),
		  "only auth has a pool") < 0) ||
	    get_str(c, g, gname, "method", false, "secret", &method) < 0)
		goto out;
	if (!strcmp(method, "secret")) {
		j->auth = JOB_AUTH_SECRET;
	} else if (!strcmp(method, "certificate")) {
		j->auth = JOB_AUTH_CERTIFICATE;
	} else if (!strcmp(method, "device_code")) {
		j->auth = JOB_AUTH_DEVICE_CODE;
	} else if (!strcmp(method, "none") && !parent) {
		j->auth = JOB_AUTH_NONE;
	} else {
		fail(c, config_setting_get_member(g, "method"), NM("method"),
		     "unknown method '%s' (expected secret, certificate, "
		     "device_code%s)",
		     method, parent ? "" : " or none");
		goto out;
	}
	if (get_str(c, g, gname, "authority", false,
		    parent ? parent->authority
			   : "https://login.microsoftonline.com",
		    &j->authority) < 0 ||
	    (config_setting_get_member(g, "authority") &&
	     check_url(c, g, NM("authority"), &j->authority) < 0))
		goto out;

	if (j->auth == JOB_AUTH_NONE) {
		if (refuse_unused(c, g, method, none_unused) < 0)
			goto out;
		j->tenant = xstrdup("");
		j->client_id = xstrdup("");
		rc = 0;
		goto out;
	}
	if (get_str(c, g, gname, "tenant", !parent,
		    parent ? parent->tenant : NULL, &j->tenant) < 0 ||
	    get_str(c, g, gname, "client_id", true, NULL, &j->client_id) < 0)
		goto out;
	if (strspn(j->tenant, "abcdefghijklmnopqrstuvwxyz"
			      "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") !=
	    strlen(j->tenant)) {
		fail(c, config_setting_get_member(g, "tenant"), NM("tenant"),
		     "'%s' is not a tenant name or id", j->tenant);
		goto out;
	}
	if (strlen(j->client_id) != 36 || !rows_is_guid(j->client_id)) {
		fail(c, config_setting_get_member(g, "client_id"),
		     NM("client_id"), "'%s' is not a GUID", j->client_id);
		goto out;
	}
	if (j->auth == JOB_AUTH_DEVICE_CODE) {
		if (refuse_unused(c, g, method, device_unused) < 0)
			goto out;
		rc = 0;
		goto out;
	}

	if (j->auth == JOB_AUTH_SECRET) {
		if (refuse_unused(c, g, method, cert_only) < 0 ||
		    get_str(c, g, gname, "secret_env", false, NULL,
			    &j->secret_env) < 0 ||
		    get_str(c, g, gname, "secret_file", false, NULL,
			    &j->secret_file) < 0 ||
		    expand_env(c, g, "secret_file", &j->secret_file) < 0)
			goto out;
		anchor(c, &j->secret_file);
		if (!!j->secret_env == !!j->secret_file) {
			fail(c, g, gname,
			     "method 'secret' needs exactly one of secret_env "
			     "and secret_file (the secret itself never goes "
			     "in the job file)");
			goto out;
		}
		if (j->secret_env &&
		    (!*j->secret_env ||
		     strspn(
			 j->secret_env,
			 "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			 "0123456789_") != strlen(j->secret_env))) {
			fail(c, config_setting_get_member(g, "secret_env"),
			     NM("secret_env"),
			     "'%s' is not an environment variable name",
			     j->secret_env);
			goto out;
		}
		if (j->secret_file &&
		    check_private(c, g, gname, "secret_file", j->secret_file,
				  "secret file") < 0)
			goto out;
	} else {
		if (refuse_unused(c, g, method, secret_only) < 0 ||
		    get_str(c, g, gname, "certificate", true, NULL,
			    &j->certificate) < 0 ||
		    get_str(c, g, gname, "private_key", true, NULL,
			    &j->private_key) < 0 ||
		    expand_env(c, g, "certificate", &j->certificate) < 0 ||
		    expand_env(c, g, "private_key", &j->private_key) < 0 ||
		    /* Microsoft's certificate credentials: PS256, x5t#S256 */
		    get_str(c, g, gname, "assertion_alg", false, "PS256",
			    &alg) < 0)
			goto out;
		anchor(c, &j->certificate);
		anchor(c, &j->private_key);
		if (check_readable(c, g, gname, "certificate", j->certificate) <
			0 ||
		    check_private(c, g, gname, "private_key", j->private_key,
				  "private key") < 0)
			goto out;
		if (!strcmp(alg, "RS256")) {
			j->assertion_alg = JOB_ALG_RS256;
		} else if (!strcmp(alg, "PS256")) {
			j->assertion_alg = JOB_ALG_PS256;
		} else {
			fail(c, config_setting_get_member(g, "assertion_alg"),
			     NM("assertion_alg"),
			     "unknown algorithm '%s' (expected RS256 or PS256)",
			     alg);
			goto out;
		}
	}
	rc = 0;
out:
#undef NM
	c->gname = "auth";
	free(method);
	free(alg);
	return rc;
}

static int load_actions(struct ctx *c, struct job *j, const config_setting_t *g)
{
	config_setting_t *s = config_setting_get_member(g, "actions");
	char why[256];
	unsigned mask = 0, one;

	if (!s)
		return 0;
	if (config_setting_type(s) == CONFIG_TYPE_STRING) {
		if (rows_parse_actions(config_setting_get_string(s), &mask, why,
				       sizeof(why)) < 0)
			return fail(c, s, "defaults.actions", "%s", why);
	} else if (config_setting_is_aggregate(s) &&
		   !config_setting_is_group(s)) {
		int n = config_setting_length(s);

		for (int i = 0; i < n; i++) {
			config_setting_t *el = config_setting_get_elem(s, i);
			const char *name;

			if (config_setting_type(el) != CONFIG_TYPE_STRING)
				return fail(c, el, "defaults.actions",
					    "element %d is not a string",
					    i + 1);
			name = config_setting_get_string(el);
			if (strchr(name, ';') ||
			    rows_parse_actions(name, &one, why, sizeof(why)) <
				0 ||
			    !one)
				return fail(c, el, "defaults.actions",
					    "unknown action '%s'", name);
			mask |= one;
		}
	} else {
		return fail(c, s, "defaults.actions",
			    "must be an array of action names");
	}
	j->defaults.actions = mask;
	return 0;
}

static void trim_in_place(char *s)
{
	size_t start = strspn(s, " \t"), len = strlen(s + start);

	while (len && (s[start + len - 1] == ' ' || s[start + len - 1] == '\t'))
		len--;
	memmove(s, s + start, len);
	s[len] = '\0';
}

static int load_defaults(struct ctx *c, struct job *j,
			 const config_setting_t *root)
{
	static const char *const allowed[] = {
	    "actions", "profile", "incoming",	"outgoing",
	    "act",     "role",	  "privileges", NULL};
	static const char *const dnames[ROWS_NDELIVERY] = {"incoming",
							   "outgoing", "act"};
	config_setting_t *g;
	char why[256];

	j->defaults.profile = xstrdup("");
	j->defaults.role = xstrdup("");
	j->defaults.privileges = xstrdup("server-side-sync");
	for (int i = 0; i < ROWS_NDELIVERY; i++)
		j->defaults.delivery[i] = ROWS_UNSET;
	if (get_group(c, root, "defaults", false, &g) < 0)
		return -1;
	if (!g)
		return 0;
	if (check_members(c, g, "defaults", allowed) < 0 ||
	    load_actions(c, j, g) < 0 ||
	    get_str(c, g, "defaults", "profile", false, "",
		    &j->defaults.profile) < 0 ||
	    get_str(c, g, "defaults", "role", false, "", &j->defaults.role) <
		0 ||
	    get_str(c, g, "defaults", "privileges", false, "server-side-sync",
		    &j->defaults.privileges) < 0)
		return -1;
	/* names typed by people: surrounding blanks ignored, as in rows */
	trim_in_place(j->defaults.profile);
	trim_in_place(j->defaults.role);
	trim_in_place(j->defaults.privileges);
	for (int i = 0; i < ROWS_NDELIVERY; i++) {
		char *v = NULL;
		char full[64];

		snprintf(full, sizeof(full), "defaults.%s", dnames[i]);
		if (get_str(c, g, "defaults", dnames[i], false, "", &v) < 0) {
			free(v);
			return -1;
		}
		if (*v) {
			j->defaults.delivery[i] =
			    rows_delivery_value((enum rows_delivery)i, v);
			if (j->defaults.delivery[i] == ROWS_UNSET) {
				fail(c, config_setting_get_member(g, dnames[i]),
				     full,
				     "unknown value '%s' (expected "
				     "server-side-sync, outlook, %snone)",
				     v, i == ROWS_INCOMING ? "forward, " : "");
				free(v);
				return -1;
			}
		}
		free(v);
	}
	if (!*j->defaults.privileges) {
		free(j->defaults.privileges);
		j->defaults.privileges = xstrdup("server-side-sync");
	}
	if (!rows_privileges_is_template(j->defaults.privileges)) {
		struct rows_privilege *pv;
		size_t n;

		if (rows_parse_privileges(j->defaults.privileges, &pv, &n, why,
					  sizeof(why)) < 0)
			return fail(c,
				    config_setting_get_member(g, "privileges"),
				    "defaults.privileges", "%s", why);
		rows_privileges_free(pv, n);
	}
	return 0;
}

static int load_run(struct ctx *c, struct job *j, const config_setting_t *root)
{
	static const char *const allowed[] = {
	    "parallel",	     "batch_size",	"max_attempts", "test_timeout",
	    "poll_interval", "request_timeout", "keep",
	    "test_when_unfixable", "retest", NULL};
	static const char *const retests[] = {"changed", "unhealthy", "always"};
	config_setting_t *g;
	char *tw = NULL, *v = NULL;

	if (get_group(c, root, "run", false, &g) < 0 ||
	    (g && check_members(c, g, "run", allowed) < 0) ||
	    get_int(c, g, "run", "parallel", 0, 0, 256, &j->parallel) < 0 ||
	    get_int(c, g, "run", "batch_size", 0, 0, 1000, &j->batch_size) <
		0 ||
	    get_int(c, g, "run", "max_attempts", 6, 1, 100, &j->max_attempts) <
		0 ||
	    get_int(c, g, "run", "test_timeout", 900, 1, 86400,
		    &j->test_timeout) < 0 ||
	    get_int(c, g, "run", "poll_interval", 15, 1, 3600,
		    &j->poll_interval) < 0 ||
	    get_int(c, g, "run", "request_timeout", 120, 1, 3600,
		    &j->request_timeout) < 0 ||
	    get_int(c, g, "run", "keep", 30, 0, 100000, &j->keep) < 0 ||
	    get_str(c, g, "run", "retest", false, "changed", &v) < 0 ||
	    get_str(c, g, "run", "test_when_unfixable", false, "skip", &tw) <
		0) {
		free(v);
		free(tw);
		return -1;
	}
	j->test_when_unfixable = !strcmp(tw, "test");
	if (strcmp(tw, "skip") && strcmp(tw, "test")) {
		fail(c, config_setting_get_member(g, "test_when_unfixable"),
		     "run.test_when_unfixable",
		     "unknown value '%s' (expected skip or test)", tw);
		free(tw);
		free(v);
		return -1;
	}
	free(tw);
	for (size_t i = 0; i < ARRAY_SIZE(retests); i++)
		if (!strcmp(v, retests[i])) {
			j->retest = (int)i;
			free(v);
			return 0;
		}
	fail(c, config_setting_get_member(g, "retest"), "run.retest",
	     "unknown value '%s' (expected changed, unhealthy or always)", v);
	free(v);
	return -1;
}

/* exchange_checks and graph_url: the Microsoft Graph checks (graph.h). */
static int load_graph(struct ctx *c, struct job *j,
		      const config_setting_t *root)
{
	config_setting_t *s = config_setting_get_member(root, "exchange_checks");
	char why[512], *clean;

	if (s && config_setting_type(s) != CONFIG_TYPE_BOOL)
		return fail(c, s, "exchange_checks", "must be true or false");
	j->exchange_checks = s && config_setting_get_bool(s);
	if (get_str(c, root, "", "graph_url", false,
		    "https://graph.microsoft.com", &j->graph_url) < 0)
		return -1;
	clean = job_parse_url(j->graph_url, why, sizeof(why));
	if (!clean)
		return fail(c, config_setting_get_member(root, "graph_url"),
			    "graph_url", "%s", why);
	free(j->graph_url);
	j->graph_url = clean;
	return 0;
}

/* select = { profile = "..."; status = "failure"; ... } (select.h) */
static int load_select(struct ctx *c, struct job *j,
		       const config_setting_t *root)
{
	config_setting_t *g;

	if (get_group(c, root, "select", false, &g) < 0)
		return -1;
	if (!g)
		return 0;
	if (check_members(c, g, "select", select_keys) < 0)
		return -1;
	for (int i = 0; i < config_setting_length(g); i++) {
		config_setting_t *m = config_setting_get_elem(g, i);
		char full[128], origin[512], term[1024], why[256];

		snprintf(full, sizeof(full), "select.%s",
			 config_setting_name(m));
		if (config_setting_type(m) != CONFIG_TYPE_STRING)
			return fail(c, m, full, "must be a string");
		snprintf(origin, sizeof(origin), "%s:%d: setting '%s'", c->path,
			 config_setting_source_line(m), full);
		snprintf(term, sizeof(term), "%s=%s", config_setting_name(m),
			 config_setting_get_string(m));
		if (select_add(&j->select, term, origin, why, sizeof(why)) < 0)
			return fail(c, m, full, "%s", why);
	}
	return 0;
}

/* log_level: how much run.log records (runlog.h). */
static int load_log_level(struct ctx *c, struct job *j,
			  const config_setting_t *root)
{
	static const char *const names[] = {"error", "warn", "info", "debug"};
	static const int levels[] = {LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG};
	char *v = NULL;

	j->log_level = LOG_INFO;
	if (get_str(c, root, "", "log_level", false, "info", &v) < 0) {
		free(v);
		return -1;
	}
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (!strcmp(v, names[i])) {
			j->log_level = levels[i];
			free(v);
			return 0;
		}
	fail(c, config_setting_get_member(root, "log_level"), "log_level",
	     "unknown level '%s' (expected error, warn, info or debug)", v);
	free(v);
	return -1;
}

/* input_encoding (a name iconv knows) and output_bom (a boolean). */
static int load_encoding(struct ctx *c, struct job *j,
			 const config_setting_t *root)
{
	config_setting_t *s = config_setting_get_member(root, "output_bom");

	if (get_str(c, root, "", "input_encoding", false, "",
		    &j->input_encoding) < 0)
		return -1;
	if (*j->input_encoding) {
		iconv_t cd = iconv_open("UTF-8", j->input_encoding);

		if (cd == (iconv_t)-1)
			return fail(
			    c,
			    config_setting_get_member(root, "input_encoding"),
			    "input_encoding",
			    "'%s' is not an encoding this system knows "
			    "(e.g. \"windows-1252\", \"ISO-8859-15\", "
			    "\"UTF-16LE\"; see 'iconv --list')",
			    j->input_encoding);
		iconv_close(cd);
	}
	j->output_bom = -1;
	if (!s)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_BOOL)
		return fail(c, s, "output_bom", "must be true or false");
	j->output_bom = config_setting_get_bool(s);
	return 0;
}

/* The job file's base name without ".cfg". */
static char *default_name(const char *path)
{
	const char *b = strrchr(path, '/');
	size_t len;

	b = b ? b + 1 : path;
	len = strlen(b);
	if (len > 4 && !strcmp(b + len - 4, ".cfg"))
		len -= 4;
	return xstrndup(b, len);
}

static int load_root(struct ctx *c, struct job *j, const config_setting_t *root)
{
	static const char *const allowed[] = {
	    "name",	  "environment",    "auth",	  "input",
	    "output",	  "defaults",	    "run",	  "templates",
	    "log_level",  "input_encoding", "output_bom", "exchange_checks",
	    "graph_url",  "approve_auth",   "select",	  NULL};
	char *def = default_name(c->path);
	int rc = check_members(c, root, "", allowed);

	if (!rc)
		rc = get_str(c, root, "", "name", false, def, &j->name);
	free(def);
	if (rc < 0)
		return -1;
	if (!*j->name || !strcmp(j->name, ".") || !strcmp(j->name, "..") ||
	    strspn(j->name,
		   "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		   "0123456789._-") != strlen(j->name))
		return fail(c, config_setting_get_member(root, "name"), "name",
			    "'%s' must be letters, digits, '.', '_' or '-' "
			    "(it names the output directory)",
			    j->name);
	if (get_str(c, root, "", "input", false, NULL, &j->input) < 0 ||
	    get_str(c, root, "", "output", false, "output", &j->output) < 0)
		return -1;
	if (j->input && !*j->input) {
		free(j->input);
		j->input = NULL;
	}
	if (!*j->output)
		return fail(c, config_setting_get_member(root, "output"),
			    "output", "must not be empty");
	if (get_str(c, root, "", "templates", false, NULL, &j->templates) < 0)
		return -1;
	if (j->templates && !*j->templates) {
		free(j->templates);
		j->templates = NULL;
	}
	anchor(c, &j->input);
	anchor(c, &j->output);
	anchor(c, &j->templates);
	if (load_environment(c, j, root) < 0 || load_signins(c, j, root) < 0 ||
	    load_defaults(c, j, root) < 0 || load_run(c, j, root) < 0 ||
	    load_select(c, j, root) < 0 || load_log_level(c, j, root) < 0 ||
	    load_encoding(c, j, root) < 0 || load_graph(c, j, root) < 0)
		return -1;
	return 0;
}

int job_load(struct job *out, const char *path, struct err *e)
{
	struct ctx c = {.path = path, .e = e, .gname = "auth"};
	config_t cfg;
	FILE *fp;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	fp = fopen(path, "r");
	if (!fp)
		return err_set_errno(e, ERR_CONFIG, "cannot open '%s'", path);
	config_init(&cfg);
	if (config_read(&cfg, fp) != CONFIG_TRUE) {
		err_set(e, ERR_CONFIG, "%s:%d: %s", path,
			config_error_line(&cfg), config_error_text(&cfg));
		goto out;
	}
	out->path = xstrdup(path);
	{
		const char *slash = strrchr(path, '/');

		c.dir = slash == path ? xstrdup("/")
			: slash	      ? xstrndup(path, (size_t)(slash - path))
				      : xstrdup("");
	}
	if (load_root(&c, out, config_root_setting(&cfg)) < 0)
		goto out;
	rc = 0;
out:
	config_destroy(&cfg);
	fclose(fp);
	free(c.dir);
	if (rc < 0)
		job_release(out);
	return rc;
}

void job_release(struct job *j)
{
	for (size_t i = 0; i < j->npool; i++) {
		job_release(j->pool[i]);
		free(j->pool[i]);
	}
	free(j->pool);
	if (j->approve) {
		job_release(j->approve);
		free(j->approve);
	}
	char **strs[] = {&j->path,	    &j->name,
			 &j->url,	    &j->api_version,
			 &j->ca_file,	    &j->tenant,
			 &j->client_id,	    &j->secret_env,
			 &j->secret_file,   &j->certificate,
			 &j->private_key,   &j->authority,
			 &j->input,	    &j->output,
			 &j->templates,	    &j->defaults.profile,
			 &j->defaults.role, &j->defaults.privileges,
			 &j->input_encoding, &j->graph_url};

	for (size_t i = 0; i < ARRAY_SIZE(strs); i++) {
		free(*strs[i]);
		*strs[i] = NULL;
	}
	select_release(&j->select);
	memset(j, 0, sizeof(*j));
}

void job_set_str(char **field, const char *value)
{
	free(*field);
	*field = value ? xstrdup(value) : NULL;
}

static void chomp(struct buf *b)
{
	while (b->len &&
	       (b->ptr[b->len - 1] == '\n' || b->ptr[b->len - 1] == '\r'))
		b->ptr[--b->len] = '\0';
}

int job_secret(const struct job *j, struct buf *out, struct err *e)
{
	struct stat st;
	char tmp[512];
	ssize_t n;
	int fd, rc = -1;

	if (j->auth != JOB_AUTH_SECRET)
		BUG("job_secret() on a job without a client secret");
	if (j->secret_env) {
		const char *v = getenv(j->secret_env);

		if (!v || !*v)
			return err_set(e, ERR_CONFIG,
				       "%s: environment variable '%s' (auth."
				       "secret_env) is not set or empty",
				       j->path, j->secret_env);
		if (buf_addstr(out, v) < 0)
			return err_set(e, ERR_CONFIG,
				       "%s: the secret in '%s' is too long",
				       j->path, j->secret_env);
		chomp(out);
		return 0;
	}
	fd = open(j->secret_file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return err_set_errno(e, ERR_CONFIG,
				     "cannot open secret file '%s'",
				     j->secret_file);
	if (fstat(fd, &st) < 0) {
		err_set_errno(e, ERR_CONFIG, "cannot stat secret file '%s'",
			      j->secret_file);
		goto out;
	}
	if (!S_ISREG(st.st_mode) || (st.st_mode & 077)) {
		err_set(
		    e, ERR_CONFIG,
		    "secret file '%s' is not a regular file readable by its "
		    "owner only (mode %04o); chmod 600 '%s'",
		    j->secret_file, (unsigned)(st.st_mode & 07777),
		    j->secret_file);
		goto out;
	}
	while ((n = read(fd, tmp, sizeof(tmp))) > 0) {
		if (buf_add(out, tmp, (size_t)n) < 0) {
			err_set(e, ERR_CONFIG, "secret file '%s' is too large",
				j->secret_file);
			goto out;
		}
	}
	if (n < 0) {
		err_set_errno(e, ERR_CONFIG, "cannot read secret file '%s'",
			      j->secret_file);
		goto out;
	}
	chomp(out);
	if (!out->len) {
		err_set(e, ERR_CONFIG, "secret file '%s' is empty",
			j->secret_file);
		goto out;
	}
	rc = 0;
out:
	memset(tmp, 0, sizeof(tmp));
	close(fd);
	if (rc < 0)
		job_secret_wipe(out);
	return rc;
}

void job_secret_wipe(struct buf *b)
{
	if (b->cap) {
		volatile char *p = b->ptr;

		for (size_t i = 0; i < b->cap; i++)
			p[i] = 0;
	}
	buf_release(b);
}

int job_setting_line(const struct job *j, const char *name)
{
	config_t cfg;
	int line = 0;

	config_init(&cfg);
	if (j->path && config_read_file(&cfg, j->path) == CONFIG_TRUE) {
		const config_setting_t *s = config_lookup(&cfg, name);

		if (s)
			line = config_setting_source_line(s);
	}
	config_destroy(&cfg);
	return line;
}

const char *job_auth_name(enum job_auth a)
{
	switch (a) {
	case JOB_AUTH_SECRET:
		return "secret";
	case JOB_AUTH_CERTIFICATE:
		return "certificate";
	case JOB_AUTH_NONE:
		return "none";
	case JOB_AUTH_DEVICE_CODE:
		return "device_code";
	}
	return "?";
}
