/*
 * dvsim: a local simulator of the Dataverse Web API and the Entra ID
 * token endpoint, for mbxfix's tests, benchmarks and demo. The command
 * line is docs/design.md's; see server.h for the routes and test scenarios.
 *
 * Clients: --client and --client-cert register application users with
 * System Administrator and Delegated Mailbox Approver, --client-limited
 * with System Administrator only. Without any of them the documented demo
 * pair (DEMO_CLIENT_ID, DEMO_SECRET) is registered. Defaults: --generate
 * 10 when neither --org nor --generate is given, --seed 1.
 */
#include "compat.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <pthread.h>
#include <string.h>

#include <openssl/crypto.h>

#include "dv.h"
#include "dvsim/graph.h"
#include "dvsim/org.h"
#include "log.h"
#include "server.h"
#include "stats.h"
#include "token.h"
#include "variant.h"

#include "banned.h"

/* The documented demo application user (README). */
#define DEMO_CLIENT_ID "51f81489-12ee-4a9e-aaae-a2591f45987d"
#define DEMO_SECRET "dvsim-demo-secret"
#define DEFAULT_GENERATE 10
#define THROTTLE_PENALTY_MS 1000
/* x-ms-dop-hint: real environments send 4 to 48 (docs/fidelity.md) */
#define DEFAULT_DOP_HINT 4
#define VARIANT_DOP_HINT 48

static const char usage_text[] =
    "usage: dvsim [--listen 127.0.0.1:PORT] [--org FILE.json | --generate N]\n"
    "             [--problems MIX] [--seed S] [--client ID:SECRET]...\n"
    "             [--client-limited ID:SECRET]... [--client-cert "
    "ID:CERT.pem]...\n"
    "             [--cert PEM --key PEM] [--latency-ms N] [--op-ms N]\n"
    "             [--window-s N] [--limit-requests N] [--limit-exec-ms N]\n"
    "             [--limit-concurrent N] [--dop-hint N] [--fail-rate P]\n"
    "             [--reset-rate P] [--token-ttl S] [--test-delay-ms N]\n"
    "             [--dump FILE] [--variant NAME[,NAME...]] [--tested]\n"
    "             [--public-client ID] [--device-expires-s N]\n"
    "             [--device-interval-s N]\n"
    "             [--graph-roles LIST] [--graph-limit N]\n"
    "\n"
    "--variant plays a behaviour of the real service that no source settles\n"
    "(docs/fidelity.md): te-flag-stays, te-postponed, te-status-kept,\n"
    "approve-no-effect, batch-echo-ok, no-content-id, dop-48.\n"
    "--dop-hint N is the x-ms-dop-hint sent (default 4; 48 with dop-48).\n"
    "--public-client ID accepts the device code flow for ID and adds the\n"
    "people who sign in with it: global-admin, mailbox-approver, sysadmin\n"
    "(docs/design.md; POST /_sim/device completes a sign-in).\n"
    "--tested: a generated organisation whose mailboxes were each tested\n"
    "once, with their statuses and alerts.\n";

struct client_arg {
	char *id;
	char *secret;
	char *cert;
	enum dv_app_kind kind;
};

struct opts {
	const char *listen;
	const char *org_file;
	long generate;
	bool tested; /* --tested: every mailbox tested once at start */
	const char *problems;
	unsigned long seed;
	struct client_arg *clients;
	size_t nclients;
	const char *cert, *key;
	long latency_ms, op_ms, window_s, limit_requests, limit_exec_ms;
	long limit_concurrent, token_ttl, test_delay_ms, dop_hint;
	double fail_rate, reset_rate;
	const char *dump;
	unsigned variants;
	const char *public_client;
	long device_expires_s, device_interval_s;
	const char *graph_roles; /* Graph tokens' roles claim */
	long graph_limit;	 /* Graph requests a second; 0 none */
};

static int usage_error(const char *fmt, ...) ATTR_PRINTF(1, 2);

static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("dvsim: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fputs(usage_text, stderr);
	return -1;
}

static int parse_long(const char *opt, const char *arg, long min, long max,
		      long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || end == arg || *end || v < min || v > max) {
		fprintf(stderr,
			"dvsim: --%s: '%s' is not a number from %ld to %ld\n",
			opt, arg, min, max);
		fputs(usage_text, stderr);
		return -1;
	}
	*out = v;
	return 0;
}

static int parse_rate(const char *opt, const char *arg, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (errno || end == arg || *end || !(v >= 0.0 && v <= 1.0)) {
		fprintf(stderr,
			"dvsim: --%s: '%s' is not a probability from 0 to 1\n",
			opt, arg);
		fputs(usage_text, stderr);
		return -1;
	}
	*out = v;
	return 0;
}

static int add_client(struct opts *o, const char *opt, const char *arg,
		      enum dv_app_kind kind, bool cert)
{
	const char *colon = strchr(arg, ':');
	struct client_arg c = {0};

	if (!colon || colon == arg || !colon[1]) {
		fprintf(stderr, "dvsim: --%s: '%s' is not ID:%s\n", opt, arg,
			cert ? "CERT.pem" : "SECRET");
		fputs(usage_text, stderr);
		return -1;
	}
	c.id = xstrndup(arg, (size_t)(colon - arg));
	if (cert)
		c.cert = xstrdup(colon + 1);
	else
		c.secret = xstrdup(colon + 1);
	c.kind = kind;
	o->clients =
	    xrealloc(o->clients, (o->nclients + 1) * sizeof(*o->clients));
	o->clients[o->nclients++] = c;
	return 0;
}

static void free_opts(struct opts *o)
{
	for (size_t i = 0; i < o->nclients; i++) {
		free(o->clients[i].id);
		if (o->clients[i].secret) {
			OPENSSL_cleanse(o->clients[i].secret,
					strlen(o->clients[i].secret));
			free(o->clients[i].secret);
		}
		free(o->clients[i].cert);
	}
	free(o->clients);
}

/*
 * The people of the device code flow (docs/fidelity.md, "Device code
 * sign-in and people"): a Global Administrator with System Administrator,
 * a Delegated Mailbox Approver with System Administrator, and a System
 * Administrator with neither.
 */
static const struct person {
	const char *name, *upn, *fullname, *oid;
	bool global_admin, approver;
} people[] = {
    {"global-admin", "admin@contoso.onmicrosoft.com", "Ada Admin",
     "0a1d0000-0000-4000-8000-000000000001", true, false},
    {"mailbox-approver", "approver@contoso.onmicrosoft.com", "Max Approver",
     "0a1d0000-0000-4000-8000-000000000002", false, true},
    {"sysadmin", "sysadmin@contoso.onmicrosoft.com", "Sam Sysadmin",
     "0a1d0000-0000-4000-8000-000000000003", false, false},
};

static int add_people(struct dv_org *org, struct token_store *ts,
		      const struct opts *o, struct err *e)
{
	if (token_add_public_client(ts, o->public_client, e) < 0)
		return -1;
	token_set_device_timing(ts, o->device_expires_s, o->device_interval_s);
	for (size_t i = 0; i < ARRAY_SIZE(people); i++) {
		const struct person *p = &people[i];
		char id[37];

		if (dv_org_add_person(org, p->upn, p->fullname, p->oid,
				      p->approver, id, e) < 0 ||
		    token_add_person(ts, p->name, p->upn, p->oid, id,
				     p->global_admin, e) < 0)
			return -1;
		if (p->global_admin)
			dv_org_set_directory_admin(org, id);
	}
	return 0;
}

enum {
	OPT_LISTEN = 256,
	OPT_ORG,
	OPT_GENERATE,
	OPT_PROBLEMS,
	OPT_SEED,
	OPT_CLIENT,
	OPT_CLIENT_LIMITED,
	OPT_CLIENT_CERT,
	OPT_CERT,
	OPT_KEY,
	OPT_LATENCY,
	OPT_OPMS,
	OPT_WINDOW,
	OPT_LIMREQ,
	OPT_LIMEXEC,
	OPT_LIMCONC,
	OPT_FAIL,
	OPT_RESET,
	OPT_TTL,
	OPT_TESTDELAY,
	OPT_DUMP,
	OPT_VARIANT,
	OPT_DOPHINT,
	OPT_PUBLIC,
	OPT_DEVEXP,
	OPT_DEVINT,
	OPT_TESTED,
	OPT_GRAPH_ROLES,
	OPT_GRAPH_LIMIT,
};

static const struct option longopts[] = {
    {"cert", required_argument, NULL, OPT_CERT},
    {"client", required_argument, NULL, OPT_CLIENT},
    {"client-cert", required_argument, NULL, OPT_CLIENT_CERT},
    {"client-limited", required_argument, NULL, OPT_CLIENT_LIMITED},
    {"dop-hint", required_argument, NULL, OPT_DOPHINT},
    {"device-expires-s", required_argument, NULL, OPT_DEVEXP},
    {"device-interval-s", required_argument, NULL, OPT_DEVINT},
    {"dump", required_argument, NULL, OPT_DUMP},
    {"fail-rate", required_argument, NULL, OPT_FAIL},
    {"generate", required_argument, NULL, OPT_GENERATE},
    {"graph-limit", required_argument, NULL, OPT_GRAPH_LIMIT},
    {"graph-roles", required_argument, NULL, OPT_GRAPH_ROLES},
    {"help", no_argument, NULL, 'h'},
    {"key", required_argument, NULL, OPT_KEY},
    {"latency-ms", required_argument, NULL, OPT_LATENCY},
    {"limit-concurrent", required_argument, NULL, OPT_LIMCONC},
    {"limit-exec-ms", required_argument, NULL, OPT_LIMEXEC},
    {"limit-requests", required_argument, NULL, OPT_LIMREQ},
    {"listen", required_argument, NULL, OPT_LISTEN},
    {"op-ms", required_argument, NULL, OPT_OPMS},
    {"org", required_argument, NULL, OPT_ORG},
    {"problems", required_argument, NULL, OPT_PROBLEMS},
    {"public-client", required_argument, NULL, OPT_PUBLIC},
    {"reset-rate", required_argument, NULL, OPT_RESET},
    {"seed", required_argument, NULL, OPT_SEED},
    {"test-delay-ms", required_argument, NULL, OPT_TESTDELAY},
    {"tested", no_argument, NULL, OPT_TESTED},
    {"token-ttl", required_argument, NULL, OPT_TTL},
    {"variant", required_argument, NULL, OPT_VARIANT},
    {"window-s", required_argument, NULL, OPT_WINDOW},
    {NULL, 0, NULL, 0},
};

/* 0 to run, 1 for --help, -1 on a usage error. */
static int parse_args(struct opts *o, int argc, char **argv)
{
	int c;
	long v;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			return 1;
		case OPT_CERT:
			o->cert = optarg;
			break;
		case OPT_GRAPH_ROLES:
			o->graph_roles = optarg;
			break;
		case OPT_GRAPH_LIMIT:
			if (parse_long("graph-limit", optarg, 0, 100000,
				       &o->graph_limit))
				return -1;
			break;
		case OPT_CLIENT:
			if (add_client(o, "client", optarg, DV_APP_APPROVER,
				       false))
				return -1;
			break;
		case OPT_CLIENT_CERT:
			if (add_client(o, "client-cert", optarg,
				       DV_APP_APPROVER, true))
				return -1;
			break;
		case OPT_CLIENT_LIMITED:
			if (add_client(o, "client-limited", optarg,
				       DV_APP_LIMITED, false))
				return -1;
			break;
		case OPT_DOPHINT:
			if (parse_long("dop-hint", optarg, 1, 1000,
				       &o->dop_hint))
				return -1;
			break;
		case OPT_DUMP:
			o->dump = optarg;
			break;
		case OPT_PUBLIC:
			o->public_client = optarg;
			break;
		case OPT_DEVEXP:
			if (parse_long("device-expires-s", optarg, 1, 86400,
				       &o->device_expires_s))
				return -1;
			break;
		case OPT_DEVINT:
			if (parse_long("device-interval-s", optarg, 1, 600,
				       &o->device_interval_s))
				return -1;
			break;
		case OPT_FAIL:
			if (parse_rate("fail-rate", optarg, &o->fail_rate))
				return -1;
			break;
		case OPT_GENERATE:
			if (parse_long("generate", optarg, 0, 1000000,
				       &o->generate))
				return -1;
			break;
		case OPT_KEY:
			o->key = optarg;
			break;
		case OPT_LATENCY:
			if (parse_long("latency-ms", optarg, 0, 600000,
				       &o->latency_ms))
				return -1;
			break;
		case OPT_LIMCONC:
			if (parse_long("limit-concurrent", optarg, 1, 100000,
				       &o->limit_concurrent))
				return -1;
			break;
		case OPT_LIMEXEC:
			if (parse_long("limit-exec-ms", optarg, 1, 1000000000L,
				       &o->limit_exec_ms))
				return -1;
			break;
		case OPT_LIMREQ:
			if (parse_long("limit-requests", optarg, 1, 1000000000L,
				       &o->limit_requests))
				return -1;
			break;
		case OPT_LISTEN:
			o->listen = optarg;
			break;
		case OPT_OPMS:
			if (parse_long("op-ms", optarg, 0, 600000, &o->op_ms))
				return -1;
			break;
		case OPT_ORG:
			o->org_file = optarg;
			break;
		case OPT_PROBLEMS:
			o->problems = optarg;
			break;
		case OPT_RESET:
			if (parse_rate("reset-rate", optarg, &o->reset_rate))
				return -1;
			break;
		case OPT_SEED:
			if (parse_long("seed", optarg, 0, 2147483647L, &v))
				return -1;
			o->seed = (unsigned long)v;
			break;
		case OPT_TESTDELAY:
			if (parse_long("test-delay-ms", optarg, 0, 3600000,
				       &o->test_delay_ms))
				return -1;
			break;
		case OPT_TESTED:
			o->tested = true;
			break;
		case OPT_TTL:
			if (parse_long("token-ttl", optarg, 1, 86400 * 365,
				       &o->token_ttl))
				return -1;
			break;
		case OPT_VARIANT: {
			struct err ve = ERR_INIT;

			if (dv_variant_parse(optarg, &o->variants, &ve) < 0)
				return usage_error("%s", ve.msg);
			break;
		}
		case OPT_WINDOW:
			if (parse_long("window-s", optarg, 1, 86400,
				       &o->window_s))
				return -1;
			break;
		default:
			fputs(usage_text, stderr);
			return -1;
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (o->org_file && o->generate >= 0)
		return usage_error(
		    "%s", "--org and --generate cannot be used together");
	if (o->org_file && o->tested)
		return usage_error("%s", "--tested goes with --generate");
	if (!o->cert != !o->key)
		return usage_error("%s", "--cert and --key go together");
	return 0;
}

static int split_listen(const char *listen, char *host, size_t hostlen,
			long *port)
{
	const char *colon = strrchr(listen, ':');

	if (!colon || colon == listen || (size_t)(colon - listen) >= hostlen) {
		usage_error("--listen: '%s' is not HOST:PORT", listen);
		return -1;
	}
	memcpy(host, listen, (size_t)(colon - listen));
	host[colon - listen] = '\0';
	return parse_long("listen", colon + 1, 0, 65535, port);
}

static char *read_file(const char *path, struct err *e)
{
	struct buf b = BUF_INIT(BUF_MAX_SMALL);
	char chunk[4096];
	size_t n;
	FILE *f = fopen(path, "r");

	if (!f) {
		err_set_errno(e, ERR_CONFIG, "cannot open '%s'", path);
		return NULL;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (buf_add(&b, chunk, n) < 0) {
			err_set(e, ERR_CONFIG, "'%s' is too large", path);
			fclose(f);
			buf_release(&b);
			return NULL;
		}
	fclose(f);
	return buf_detach(&b, NULL);
}

static int dump_org(struct dv_org *org, const char *path, struct err *e)
{
	struct buf json = BUF_INIT(BUF_MAX_BODY * 4);
	FILE *f;
	int rc = -1;

	dv_org_lock(org);
	if (dv_org_to_json(org, &json) < 0) {
		dv_org_unlock(org);
		err_set(e, ERR_INTERNAL,
			"cannot write the organisation as JSON");
		goto out;
	}
	dv_org_unlock(org);
	f = fopen(path, "w");
	if (!f) {
		err_set_errno(e, ERR_IO, "cannot write '%s'", path);
		goto out;
	}
	if (fwrite(json.ptr, 1, json.len, f) != json.len ||
	    fputc('\n', f) == EOF) {
		fclose(f);
		err_set_errno(e, ERR_IO, "cannot write '%s'", path);
		goto out;
	}
	if (fclose(f)) {
		err_set_errno(e, ERR_IO, "cannot write '%s'", path);
		goto out;
	}
	rc = 0;
out:
	buf_release(&json);
	return rc;
}

int main(int argc, char **argv)
{
	struct opts o = {
	    .listen = "127.0.0.1:8580",
	    .generate = -1,
	    .seed = 1,
	    .window_s = 300,
	    .limit_requests = 6000,
	    .limit_exec_ms = 1200000,
	    .limit_concurrent = 52,
	    .token_ttl = 3599,
	    .test_delay_ms = -1,
	    .dop_hint = -1,
	};
	struct server_cfg cfg = {0};
	struct err e = ERR_INIT;
	struct dv_org *org = NULL;
	struct token_store *ts = NULL;
	struct stats *st = NULL;
	struct server *srv = NULL;
	struct dv_graph *graph = NULL;
	char host[64], *tls_cert = NULL, *tls_key = NULL;
	long port;
	sigset_t sigs;
	int rc, sig;

	log_init("dvsim", getenv("DVSIM_TRACE") ? LOG_INFO : LOG_WARN);
	rc = parse_args(&o, argc, argv);
	if (rc) {
		if (rc > 0)
			fputs(usage_text, stdout);
		free_opts(&o);
		return rc > 0 ? 0 : 2;
	}
	if (split_listen(o.listen, host, sizeof(host), &port) < 0) {
		free_opts(&o);
		return 2;
	}
	if (!o.nclients &&
	    add_client(&o, "client", DEMO_CLIENT_ID ":" DEMO_SECRET,
		       DV_APP_APPROVER, false) < 0)
		BUG("demo client");

	dv_variants = o.variants;

	/* every thread started from here on leaves these to sigwait() */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	org = dv_org_new();
	if (o.org_file) {
		if (dv_org_load(org, o.org_file, &e) < 0)
			goto fail;
	} else if (dv_org_generate(org,
				   (unsigned)(o.generate >= 0
						  ? o.generate
						  : DEFAULT_GENERATE),
				   o.problems, o.seed, &e) < 0) {
		goto fail;
	} else if (o.tested) {
		dv_org_pretest(org);
	}
	if (o.test_delay_ms >= 0)
		dv_org_set_test_delay(org, o.test_delay_ms);
	ts = token_store_new(o.token_ttl);
	{
		/* tokens of the organisation's tenant carry its id as tid */
		const cJSON *d = cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetObjectItemCaseSensitive(org->sim, "tenant"),
		    "domains");
		static const char *const def[] = {"contoso.com",
						  "contoso.onmicrosoft.com"};
		const char *names[16];
		size_t n = 0;
		const cJSON *it;

		cJSON_ArrayForEach(it, d)
		{
			if (cJSON_IsString(it) && n < ARRAY_SIZE(names))
				names[n++] = it->valuestring;
		}
		if (!d)
			for (n = 0; n < ARRAY_SIZE(def); n++)
				names[n] = def[n];
		token_set_tenant(ts, dv_graph_tenant_id(org), names, n);
		if (o.graph_roles)
			token_set_graph_roles(ts, o.graph_roles);
	}
	for (size_t i = 0; i < o.nclients; i++) {
		struct client_arg *c = &o.clients[i];

		if (token_add_client(ts, c->id, c->secret, c->cert, c->kind,
				     &e) < 0 ||
		    dv_org_add_app_user(org, c->id, c->kind, &e) < 0)
			goto fail;
	}
	if (o.public_client && add_people(org, ts, &o, &e) < 0)
		goto fail;
	if (o.cert) {
		tls_cert = read_file(o.cert, &e);
		tls_key = tls_cert ? read_file(o.key, &e) : NULL;
		if (!tls_key)
			goto fail;
	}

	st = stats_new();
	cfg.host = host;
	cfg.port = (unsigned short)port;
	cfg.tls_cert = tls_cert;
	cfg.tls_key = tls_key;
	cfg.latency_ms = o.latency_ms;
	cfg.op_ms = o.op_ms;
	/* an explicit --dop-hint wins over the variant */
	cfg.dop_hint = (int)(o.dop_hint > 0		 ? o.dop_hint
			     : dv_variant(DV_VAR_DOP_48) ? VARIANT_DOP_HINT
							 : DEFAULT_DOP_HINT);
	cfg.limits.window_ms = o.window_s * 1000;
	cfg.limits.max_requests = o.limit_requests;
	cfg.limits.max_exec_ms = o.limit_exec_ms;
	cfg.limits.max_concurrent = o.limit_concurrent;
	cfg.limits.penalty_ms = THROTTLE_PENALTY_MS;
	cfg.fail_rate = o.fail_rate;
	cfg.reset_rate = o.reset_rate;
	cfg.seed = o.seed;
	graph = dv_graph_new(o.graph_limit);
	cfg.graph = graph;
	srv = server_start(&cfg, org, ts, st, &e);
	if (!srv)
		goto fail;
	printf("dvsim listening on %s://%s:%u\n", tls_cert ? "https" : "http",
	       host, server_port(srv));
	fflush(stdout);

	while (sigwait(&sigs, &sig) == 0 && sig != SIGINT && sig != SIGTERM)
		;
	server_stop(srv);
	srv = NULL;
	rc = 0;
	if (o.dump && dump_org(org, o.dump, &e) < 0)
		goto fail;
	goto out;
fail:
	fprintf(stderr, "dvsim: %s\n", e.msg);
	rc = err_exit_code(&e);
	if (rc == 0 || rc == 1)
		rc = 3;
out:
	server_stop(srv);
	stats_free(st);
	dv_graph_free(graph);
	token_store_free(ts);
	dv_org_free(org);
	if (tls_key)
		OPENSSL_cleanse(tls_key, strlen(tls_key));
	free(tls_key);
	free(tls_cert);
	free_opts(&o);
	return rc;
}
