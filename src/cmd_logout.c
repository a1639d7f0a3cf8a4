/*
 * mbxfix logout JOB.cfg: forget the device code sign-ins of the job
 * (auth and approve_auth with method "device_code"): their refresh tokens
 * are removed from the sign-in cache (token_cache.h), so the next run
 * asks the person to sign in again. Exit 0 (removed, or nothing was
 * kept), 2 usage or job-file error, 3 a cache file could not be removed.
 */
#include "compat.h"

#include <string.h>

#include "cmds.h"
#include "job.h"
#include "log.h"
#include "token_cache.h"

#include "banned.h"

static const char usage_text[] =
    "usage: mbxfix logout JOB.cfg\n"
    "\n"
    "Forget the device code sign-ins of the job (auth and approve_auth\n"
    "with method \"device_code\"): the next run asks to sign in again.\n";

/* 1 removed, 0 nothing kept, -1 with 'e' set. */
static int forget(const struct job *j, const char *what, struct err *e)
{
	struct token_cache_key k = {j->authority, j->tenant, j->client_id,
				    j->url};
	char *path = token_cache_path(&k, e);
	int rc;

	if (!path)
		return -1;
	rc = token_cache_remove(path, e);
	if (rc > 0)
		printf("%s: signed out (client %s, %s)\n", what, j->client_id,
		       j->url);
	else if (rc == 0)
		printf("%s: no sign-in kept (client %s, %s)\n", what,
		       j->client_id, j->url);
	free(path);
	return rc;
}

int cmd_logout(int argc, char **argv)
{
	struct err e = ERR_INIT;
	struct job job;
	const char *path = NULL;
	int rc = 0, n = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(usage_text, stdout);
			return 0;
		}
		if (argv[i][0] == '-' || path) {
			fprintf(stderr, "mbxfix logout: unexpected '%s'\n",
				argv[i]);
			fputs(usage_text, stderr);
			return 2;
		}
		path = argv[i];
	}
	if (!path) {
		fputs(usage_text, stderr);
		return 2;
	}
	if (job_load(&job, path, &e) < 0) {
		fprintf(stderr, "mbxfix: %s\n", e.msg);
		return err_exit_code(&e);
	}
	if (job.auth == JOB_AUTH_DEVICE_CODE) {
		n++;
		if (forget(&job, "auth", &e) < 0)
			rc = -1;
	}
	if (job.approve && job.approve->auth == JOB_AUTH_DEVICE_CODE) {
		n++;
		if (rc == 0 && forget(job.approve, "approve_auth", &e) < 0)
			rc = -1;
	}
	if (!n)
		printf("%s signs in with no device code: nothing to forget\n",
		       path);
	job_release(&job);
	if (rc < 0) {
		fprintf(stderr, "mbxfix: %s\n", e.msg);
		return 3;
	}
	return 0;
}
