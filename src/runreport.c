#include "compat.h"

#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "buf.h"
#include "log.h"
#include "retention.h"
#include "runreport.h"
#include "version.h"

#include "banned.h"

int runreport_sha256(const char *path, char hex[65])
{
	unsigned char md[EVP_MAX_MD_SIZE], chunk[65536];
	unsigned mdlen = 0;
	EVP_MD_CTX *ctx;
	FILE *fp;
	size_t n;
	int rc = -1;

	hex[0] = '\0';
	fp = fopen(path, "rb");
	if (!fp)
		return -1;
	ctx = EVP_MD_CTX_new();
	if (ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1) {
		while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
			if (EVP_DigestUpdate(ctx, chunk, n) != 1)
				break;
		if (!ferror(fp) && feof(fp) &&
		    EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen == 32) {
			for (unsigned i = 0; i < mdlen; i++)
				snprintf(hex + 2 * i, 3, "%02x", md[i]);
			rc = 0;
		}
	}
	EVP_MD_CTX_free(ctx);
	fclose(fp);
	return rc;
}

void runreport_start(struct runlog *rl, const char *cmd, const char *job_path,
		     const struct job *j, const char *sha256,
		     const char *resume_dir, const char *rerun_of)
{
	struct runlog_line l;

	if (!runlog_begin(rl, &l, LOG_INFO, "start"))
		return;
	runlog_str(&l, "version", MBXFIX_VERSION);
	runlog_str(&l, "command", cmd);
	runlog_str(&l, "job", job_path);
	runlog_str(&l, "name", j->name);
	runlog_int(&l, "pid", (long long)getpid());
	runlog_str(&l, "input", j->input);
	runlog_str(&l, "input_sha256", sha256 && *sha256 ? sha256 : NULL);
	runlog_bool(&l, "resume", resume_dir != NULL);
	runlog_str(&l, "resumed_run", resume_dir);
	runlog_str(&l, "rerun_of", rerun_of);
	runlog_object(&l, "settings");
	runlog_str(&l, "url", j->url);
	runlog_str(&l, "api_version", j->api_version);
	runlog_str(&l, "auth_method", job_auth_name(j->auth));
	runlog_str(&l, "tenant", *j->tenant ? j->tenant : NULL);
	runlog_str(&l, "client_id", *j->client_id ? j->client_id : NULL);
	runlog_int(&l, "parallel", j->parallel);
	runlog_int(&l, "batch_size", j->batch_size);
	runlog_int(&l, "max_attempts", j->max_attempts);
	runlog_int(&l, "request_timeout", j->request_timeout);
	runlog_int(&l, "test_timeout", j->test_timeout);
	runlog_int(&l, "poll_interval", j->poll_interval);
	runlog_int(&l, "keep", j->keep);
	runlog_str(&l, "log_level",
		   runlog_level_name((enum log_level)j->log_level));
	runlog_object_end(&l);
	runlog_end_first(&l);
}

void runreport_end(struct runlog *rl, const struct results_counts *c,
		   const struct results_summary *s)
{
	struct runlog_line l;

	if (!runlog_begin(rl, &l, LOG_INFO, "end"))
		return;
	runlog_int(&l, "exit_status", s->exit_status);
	runlog_int(&l, "rows", (long long)c->rows);
	runlog_int(&l, "ok", (long long)c->by_outcome[RESULTS_OK]);
	runlog_int(&l, "failed", (long long)c->by_outcome[RESULTS_FAILED]);
	runlog_int(&l, "invalid", (long long)c->by_outcome[RESULTS_INVALID]);
	runlog_bool(&l, "interrupted", s->interrupted);
	runlog_num(&l, "wall_s", s->wall_s);
	runlog_int(&l, "requests", (long long)s->requests);
	runlog_int(&l, "retries", (long long)s->retries);
	runlog_int(&l, "throttled", (long long)s->throttled);
	runlog_int(&l, "throttled_waits", (long long)s->throttled_waits);
	runlog_num(&l, "throttled_wait_s", s->throttled_s);
	runlog_end(&l);
}

struct prune_ctx {
	struct runlog *rl;
};

static void pruned(void *ctx, const char *run_id, const char *why)
{
	struct prune_ctx *p = ctx;
	struct runlog_line l;

	if (why)
		log_warn("cannot remove the old run folder '%s': %s", run_id,
			 why);
	if (!runlog_begin(p->rl, &l, why ? LOG_WARN : LOG_INFO, "prune"))
		return;
	runlog_str(&l, "removed", why ? NULL : run_id);
	runlog_str(&l, "kept", why ? run_id : NULL);
	runlog_str(&l, "message", why);
	runlog_end(&l);
}

size_t runreport_prune(struct runlog *rl, const char *run_dir, int keep)
{
	struct err e = ERR_INIT;
	struct prune_ctx ctx = {rl};
	const char *slash = strrchr(run_dir, '/');
	char *jobdir;
	size_t n = 0;

	if (keep <= 0 || !slash)
		return 0;
	jobdir = xstrndup(run_dir, (size_t)(slash - run_dir));
	if (retention_prune(jobdir, keep, pruned, &ctx, &n, &e) < 0)
		log_warn("run.keep: %s", e.msg);
	free(jobdir);
	return n;
}

void runreport_quiet(FILE *fp, const struct results_counts *c, int exit_status,
		     const char *run_dir)
{
	fprintf(fp, "ok %zu, failed %zu, invalid %zu, exit %d, results in %s\n",
		c->by_outcome[RESULTS_OK], c->by_outcome[RESULTS_FAILED],
		c->by_outcome[RESULTS_INVALID], exit_status, run_dir);
}

int runreport_json(FILE *fp, const char *run_dir, struct err *e)
{
	struct buf p = BUF_INIT(SIZE_MAX / 2);
	char chunk[8192];
	size_t n;
	FILE *in;

	buf_addf(&p, "%s/summary.json", run_dir);
	in = fopen(p.ptr, "rb");
	if (!in) {
		err_set_errno(e, ERR_IO, "cannot read '%s'", p.ptr);
		buf_release(&p);
		return -1;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), in)) > 0)
		fwrite(chunk, 1, n, fp);
	fclose(in);
	buf_release(&p);
	fflush(fp);
	return 0;
}
