#include "compat.h"

#include <setjmp.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "job.h"
#include "log.h"

#include "io_util.h"

#include "banned.h"

static char dir[256];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "%s", io_tmpdir());
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	io_rmrf(dir);
	return 0;
}

static void assert_contains(const char *s, const char *sub)
{
	if (!strstr(s, sub))
		fail_msg("'%s' does not contain '%s'", s, sub);
}

static const char *cfgpath(const char *name)
{
	static char p[512];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return p;
}

static void test_full_job_loads(void **state)
{
	static const char cfg[] =
	    "name = \"wave-3\";\n"
	    "environment = { url = \"https://contoso.crm.dynamics.com/\";"
	    " api_version = \"9.1\"; ca_file = \"\"; };\n"
	    "auth = {\n"
	    "  method = \"secret\";\n"
	    "  tenant = \"contoso.onmicrosoft.com\";\n"
	    "  client_id = \"51f81489-12ee-4a9e-aaae-a2591f45987d\";\n"
	    "  secret_env = \"MBXFIX_CLIENT_SECRET\";\n"
	    "};\n"
	    "input = \"input/wave-3.csv\";\n"
	    "defaults = {\n"
	    "  actions = [\"set_profile\", \"set_delivery\", \"approve\"];\n"
	    "  profile = \"Microsoft Exchange Online\";\n"
	    "  incoming = \"server-side-sync\"; outgoing = \"outlook\";"
	    " act = \"server-side-sync\";\n"
	    "  role = \"Salesperson\";\n"
	    "};\n"
	    "run = { parallel = 8; batch_size = 100; max_attempts = 3;"
	    " request_timeout = 30; };\n";
	struct err e = ERR_INIT;
	struct job j;

	(void)state;
	io_write(dir, "wave.cfg", cfg, (size_t)-1);
	if (job_load(&j, cfgpath("wave.cfg"), &e) < 0)
		fail_msg("%s", e.msg);
	assert_string_equal(j.name, "wave-3");
	assert_string_equal(j.url, "https://contoso.crm.dynamics.com");
	assert_string_equal(j.api_version, "9.1");
	assert_null(j.ca_file);
	assert_int_equal(j.auth, JOB_AUTH_SECRET);
	assert_string_equal(j.tenant, "contoso.onmicrosoft.com");
	assert_string_equal(j.secret_env, "MBXFIX_CLIENT_SECRET");
	assert_null(j.secret_file);
	assert_string_equal(j.authority, "https://login.microsoftonline.com");
	/* relative to the job file's folder */
	assert_non_null(strstr(j.input, dir));
	assert_string_equal(j.input + strlen(dir), "/input/wave-3.csv");
	assert_string_equal(j.output + strlen(dir), "/output");
	assert_int_equal(j.defaults.actions, ROWS_ACT(ROWS_SET_PROFILE) |
						 ROWS_ACT(ROWS_SET_DELIVERY) |
						 ROWS_ACT(ROWS_APPROVE));
	assert_string_equal(j.defaults.profile, "Microsoft Exchange Online");
	assert_int_equal(j.defaults.delivery[ROWS_INCOMING], 2);
	assert_int_equal(j.defaults.delivery[ROWS_OUTGOING], 1);
	assert_int_equal(j.defaults.delivery[ROWS_ACTDELIVERY], 1);
	assert_string_equal(j.defaults.role, "Salesperson");
	assert_string_equal(j.defaults.privileges, "server-side-sync");
	assert_int_equal(j.parallel, 8);
	assert_int_equal(j.batch_size, 100);
	assert_int_equal(j.max_attempts, 3);
	assert_int_equal(j.test_timeout, 900);
	assert_int_equal(j.poll_interval, 15);
	assert_int_equal(j.request_timeout, 30);
	job_release(&j);
	job_release(&j); /* safe twice */
}

static void test_minimal_job_defaults(void **state)
{
	static const char cfg[] =
	    "environment = { url = \"http://127.0.0.1:8580\"; };\n"
	    "auth = { method = \"none\"; };\n";
	struct err e = ERR_INIT;
	struct job j;

	(void)state;
	io_write(dir, "mini.cfg", cfg, (size_t)-1);
	if (job_load(&j, cfgpath("mini.cfg"), &e) < 0)
		fail_msg("%s", e.msg);
	assert_string_equal(j.name, "mini"); /* the file's base name */
	assert_string_equal(j.url, "http://127.0.0.1:8580");
	assert_string_equal(j.api_version, "9.2");
	assert_int_equal(j.auth, JOB_AUTH_NONE);
	assert_null(j.input);
	assert_int_equal(j.defaults.actions, 0);
	for (int i = 0; i < ROWS_NDELIVERY; i++)
		assert_int_equal(j.defaults.delivery[i], ROWS_UNSET);
	assert_int_equal(j.parallel, 0);
	assert_int_equal(j.batch_size, 0);
	assert_int_equal(j.max_attempts, 6);
	assert_int_equal(j.request_timeout, 120);
	assert_int_equal(j.keep, 30);
	assert_int_equal(j.log_level, LOG_INFO);
	job_release(&j);
}

#define ENV "environment = { url = \"https://x.crm.dynamics.com\"; };\n"
#define AUTH                                                                   \
	"auth = { tenant = \"t\"; client_id = "                                \
	"\"51f81489-12ee-4a9e-aaae-a2591f45987d\"; secret_env = \"S\"; };\n"

static void test_errors_name_file_line_setting(void **state)
{
	static const struct {
		const char *cfg;
		const char *want; /* after "DIR/bad.cfg" */
	} t[] = {
	    {ENV AUTH "colour = \"blue\";\n",
	     ":3: setting 'colour': unknown setting"},
	    {"environment = {\n  url = \"https://x\";\n  urll = "
	     "\"y\";\n};\n" AUTH,
	     ":3: setting 'environment.urll': unknown setting"},
	    {"environment = {\n  api_version = \"9.2\";\n};\n" AUTH,
	     ":1: setting 'environment.url': required, missing"},
	    {AUTH, ": setting 'environment': required group missing"},
	    {"environment = { url = \"http://contoso.crm.dynamics.com\"; "
	     "};\n" AUTH,
	     ":1: setting 'environment.url': "
	     "'http://contoso.crm.dynamics.com': "
	     "plain http is allowed for 127.0.0.1"},
	    {"environment = { url = \"http://127.0.0.1:1@evil.example.com\"; "
	     "};\n" AUTH,
	     ":1: setting 'environment.url': the URL holds user information"},
	    {"environment = { url = \"http://127.0.0.1.evil.com\"; };\n" AUTH,
	     ":1: setting 'environment.url': 'http://127.0.0.1.evil.com': "
	     "plain http is allowed"},
	    {ENV "auth = { tenant = \"t\"; client_id = "
		 "\"51f81489-12ee-4a9e-aaae-a2591f45987d\"; secret_env = "
		 "\"S\";\n authority = \"http://localhost@login.evil.com\"; "
		 "};\n",
	     ":3: setting 'auth.authority': the URL holds user information"},
	    {"environment = { url = \"ftp://x\"; };\n" AUTH,
	     ":1: setting 'environment.url': 'ftp://x' is not an https:// URL"},
	    {"environment = { url = \"https://x\"; api_version = \"v9\"; "
	     "};\n" AUTH,
	     ":1: setting 'environment.api_version': 'v9' is not a version"},
	    {ENV AUTH "run = {\n  parallel = 300;\n};\n",
	     ":4: setting 'run.parallel': 300 is out of range (0 to 256)"},
	    {ENV AUTH "run = {\n  batch_size = \"10\";\n};\n",
	     ":4: setting 'run.batch_size': must be an integer"},
	    {ENV AUTH "run = { max_attempts = 0; };\n",
	     ":3: setting 'run.max_attempts': 0 is out of range (1 to 100)"},
	    {ENV AUTH "run = {\n  request_timeout = 0;\n};\n",
	     ":4: setting 'run.request_timeout': 0 is out of range (1 to "
	     "3600)"},
	    {ENV AUTH "run = { request_timeout = 1.5; };\n",
	     ":3: setting 'run.request_timeout': must be an integer"},
	    {ENV AUTH "run = { speed = 1; };\n",
	     ":3: setting 'run.speed': unknown setting"},
	    {ENV "auth = {\n method = \"password\";\n};\n",
	     ":3: setting 'auth.method': unknown method 'password'"},
	    {ENV "auth = {\n tenant = \"t\";\n client_id = \"abc\";\n"
		 " secret_env = \"S\";\n};\n",
	     ":4: setting 'auth.client_id': 'abc' is not a GUID"},
	    {ENV "auth = {\n client_id = "
		 "\"51f81489-12ee-4a9e-aaae-a2591f45987d\";\n"
		 " secret_env = \"S\";\n};\n",
	     ":2: setting 'auth.tenant': required, missing"},
	    {ENV "auth = {\n tenant = \"t\";\n"
		 " client_id = \"51f81489-12ee-4a9e-aaae-a2591f45987d\";\n};\n",
	     ":2: setting 'auth': method 'secret' needs exactly one of "
	     "secret_env and secret_file"},
	    {ENV "auth = {\n tenant = \"t\";\n"
		 " client_id = \"51f81489-12ee-4a9e-aaae-a2591f45987d\";\n"
		 " secret_env = \"S\";\n certificate = \"c.pem\";\n};\n",
	     ":6: setting 'auth.certificate': not used with method 'secret'"},
	    {ENV "auth = {\n tenant = \"t\";\n"
		 " client_id = \"51f81489-12ee-4a9e-aaae-a2591f45987d\";\n"
		 " secret_env = \"MY SECRET\";\n};\n",
	     ":5: setting 'auth.secret_env': 'MY SECRET' is not an "
	     "environment variable name"},
	    {ENV "auth = { method = \"none\";\n tenant = \"t\"; };\n",
	     ":3: setting 'auth.tenant': not used with method 'none'"},
	    {ENV AUTH "defaults = {\n incoming = \"email-router\";\n};\n",
	     ":4: setting 'defaults.incoming': unknown value 'email-router'"},
	    {ENV AUTH "defaults = {\n act = \"forward\";\n};\n",
	     ":4: setting 'defaults.act': unknown value 'forward'"},
	    {ENV AUTH
	     "defaults = {\n actions = [\"approve\",\n \"fly\"];\n};\n",
	     ":5: setting 'defaults.actions': unknown action 'fly'"},
	    {ENV AUTH "defaults = { privileges = \"prvReadMailbox:All\"; };\n",
	     ":3: setting 'defaults.privileges': unknown depth 'All'"},
	    {ENV AUTH "name = \"../etc\";\n",
	     ":3: setting 'name': '../etc' must be letters"},
	    {ENV AUTH "input = 42;\n", ":3: setting 'input': must be a string"},
	    {ENV AUTH "environment2 = ;\n", ":3: syntax error"},
	    {ENV AUTH "run = 5;\n", ":3: setting 'run': must be a group"},
	};
	struct err e = ERR_INIT;
	struct job j;
	char want[512];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		io_write(dir, "bad.cfg", t[i].cfg, (size_t)-1);
		err_clear(&e);
		if (job_load(&j, cfgpath("bad.cfg"), &e) == 0)
			fail_msg("case %zu loaded", i);
		assert_int_equal(e.kind, ERR_CONFIG);
		assert_int_equal(err_exit_code(&e), 2);
		snprintf(want, sizeof(want), "%s%s", cfgpath("bad.cfg"),
			 t[i].want);
		if (!strstr(e.msg, want))
			fail_msg("case %zu: '%s' does not contain '%s'", i,
				 e.msg, want);
		job_release(&j);
	}
	err_clear(&e);
	assert_int_equal(job_load(&j, cfgpath("missing.cfg"), &e), -1);
	assert_contains(e.msg, "cannot open '");
	assert_contains(e.msg, "missing.cfg': No such file or directory");
}

static void test_private_files_refused_when_readable(void **state)
{
	static const char cfg_secret[] =
	    ENV "auth = { tenant = \"t\"; client_id = "
		"\"51f81489-12ee-4a9e-aaae-a2591f45987d\";\n"
		" secret_file = \"%s/secret.txt\"; };\n";
	static const char cfg_cert[] = ENV
	    "auth = { method = \"certificate\"; tenant = \"t\";\n"
	    " client_id = \"51f81489-12ee-4a9e-aaae-a2591f45987d\";\n"
	    " certificate = \"%s/app.pem\";\n"
	    " private_key = \"%s/app.key\"; };\n";
	char cfg[1024], want[512];
	struct err e = ERR_INIT;
	struct job j;
	struct buf secret = BUF_INIT(4096);
	const char *p;

	(void)state;
	p = io_write(dir, "secret.txt", "s3cr3t-value\n", (size_t)-1);
	chmod(p, 0640);
	snprintf(cfg, sizeof(cfg), cfg_secret, dir);
	io_write(dir, "sec.cfg", cfg, (size_t)-1);
	assert_int_equal(job_load(&j, cfgpath("sec.cfg"), &e), -1);
	snprintf(want, sizeof(want),
		 ":3: setting 'auth.secret_file': secret file '%s/secret.txt' "
		 "is accessible by group or others (mode 0640)",
		 dir);
	assert_contains(e.msg, want);
	assert_null(strstr(e.msg, "s3cr3t"));

	/* owner-only: loads, and job_secret() reads it (newline dropped) */
	chmod(cfgpath("secret.txt"), 0600);
	err_clear(&e);
	if (job_load(&j, cfgpath("sec.cfg"), &e) < 0)
		fail_msg("%s", e.msg);
	assert_int_equal(job_secret(&j, &secret, &e), 0);
	assert_string_equal(secret.ptr, "s3cr3t-value");
	job_secret_wipe(&secret);
	assert_string_equal(secret.ptr, "");
	/* made readable after load: refused at the time of reading */
	chmod(cfgpath("secret.txt"), 0604);
	assert_int_equal(job_secret(&j, &secret, &e), -1);
	assert_contains(e.msg, "mode 0604");
	assert_null(strstr(e.msg, "s3cr3t"));
	job_release(&j);

	io_write(dir, "app.pem", "CERT", (size_t)-1);
	p = io_write(dir, "app.key", "KEY", (size_t)-1);
	chmod(p, 0644);
	snprintf(cfg, sizeof(cfg), cfg_cert, dir, dir);
	io_write(dir, "cert.cfg", cfg, (size_t)-1);
	err_clear(&e);
	assert_int_equal(job_load(&j, cfgpath("cert.cfg"), &e), -1);
	snprintf(want, sizeof(want),
		 ":5: setting 'auth.private_key': private key '%s/app.key' is "
		 "accessible by group or others (mode 0644); make it readable "
		 "by its owner only: chmod 600",
		 dir);
	assert_contains(e.msg, want);
	chmod(cfgpath("app.key"), 0400);
	err_clear(&e);
	if (job_load(&j, cfgpath("cert.cfg"), &e) < 0)
		fail_msg("%s", e.msg);
	assert_int_equal(j.auth, JOB_AUTH_CERTIFICATE);
	/* PS256 without assertion_alg: Microsoft's certificate credentials */
	assert_int_equal(j.assertion_alg, JOB_ALG_PS256);
	job_release(&j);

	/* a missing private key is named too */
	unlink(cfgpath("app.key"));
	err_clear(&e);
	assert_int_equal(job_load(&j, cfgpath("cert.cfg"), &e), -1);
	assert_contains(e.msg, "setting 'auth.private_key': cannot use private "
			       "key");
	assert_contains(e.msg, "No such file or directory");
}

static void test_secret_from_environment(void **state)
{
	static const char cfg[] = ENV AUTH;
	struct err e = ERR_INIT;
	struct job j;
	struct buf secret = BUF_INIT(4096);

	(void)state;
	io_write(dir, "env.cfg", cfg, (size_t)-1);
	if (job_load(&j, cfgpath("env.cfg"), &e) < 0)
		fail_msg("%s", e.msg);
	unsetenv("S");
	assert_int_equal(job_secret(&j, &secret, &e), -1);
	assert_int_equal(e.kind, ERR_CONFIG);
	assert_contains(e.msg, "environment variable 'S' (auth.secret_env) is "
			       "not set");
	setenv("S", "from-env\r\n", 1);
	err_clear(&e);
	assert_int_equal(job_secret(&j, &secret, &e), 0);
	assert_string_equal(secret.ptr, "from-env");
	job_secret_wipe(&secret);
	unsetenv("S");
	job_release(&j);
}

/* run.keep, log_level, and a secret_file under ${CREDENTIALS_DIRECTORY} */
static void test_keep_log_level_credentials(void **state)
{
	static const char cfg[] =
	    ENV "auth = { tenant = \"t\"; client_id = "
		"\"51f81489-12ee-4a9e-aaae-a2591f45987d\"; secret_file = "
		"\"${CREDENTIALS_DIRECTORY}/client-secret\"; };\n"
		"log_level = \"debug\";\nrun = { keep = 0; };\n";
	struct err e = ERR_INIT;
	struct job j;
	struct buf secret = BUF_INIT(4096);
	char want[600];

	(void)state;
	io_write(dir, "cred.cfg", cfg, (size_t)-1);
	unsetenv("CREDENTIALS_DIRECTORY");
	assert_int_equal(job_load(&j, cfgpath("cred.cfg"), &e), -1);
	assert_contains(e.msg, "setting 'auth.secret_file'");
	assert_contains(e.msg, "'CREDENTIALS_DIRECTORY' is not set");
	assert_contains(e.msg, "LoadCredential=");

	io_write(dir, "client-secret", "s3cret\n", (size_t)-1);
	chmod(cfgpath("client-secret"), 0400);
	setenv("CREDENTIALS_DIRECTORY", dir, 1);
	err_clear(&e);
	if (job_load(&j, cfgpath("cred.cfg"), &e) < 0)
		fail_msg("%s", e.msg);
	snprintf(want, sizeof(want), "%s/client-secret", dir);
	assert_string_equal(j.secret_file, want);
	assert_int_equal(j.keep, 0);
	assert_int_equal(j.log_level, LOG_DEBUG);
	assert_int_equal(job_secret(&j, &secret, &e), 0);
	assert_string_equal(secret.ptr, "s3cret");
	job_secret_wipe(&secret);
	job_release(&j);
	unsetenv("CREDENTIALS_DIRECTORY");

	io_write(dir, "bad.cfg",
		 ENV AUTH "log_level = \"loud\";\nrun = { keep = -1; };\n",
		 (size_t)-1);
	err_clear(&e);
	assert_int_equal(job_load(&j, cfgpath("bad.cfg"), &e), -1);
	assert_contains(e.msg, "setting 'run.keep'");
	io_write(dir, "bad.cfg", ENV AUTH "log_level = \"loud\";\n",
		 (size_t)-1);
	err_clear(&e);
	assert_int_equal(job_load(&j, cfgpath("bad.cfg"), &e), -1);
	assert_contains(e.msg, "bad.cfg:3: setting 'log_level': unknown level "
			       "'loud'");
}

static void test_set_str_override(void **state)
{
	static const char cfg[] = ENV AUTH "input = \"a.csv\";\n";
	struct err e = ERR_INIT;
	struct job j;

	(void)state;
	io_write(dir, "o.cfg", cfg, (size_t)-1);
	assert_int_equal(job_load(&j, cfgpath("o.cfg"), &e), 0);
	job_set_str(&j.input, "b.csv");
	assert_string_equal(j.input, "b.csv");
	job_set_str(&j.ca_file, NULL);
	assert_null(j.ca_file);
	job_release(&j);
}

/* URLs go through libcurl's parser: what is checked is what is used. */
static void test_url_parsed_not_prefix_matched(void **state)
{
	static const struct {
		const char *url;
		const char *want; /* the clean URL, or part of the refusal */
		bool ok;
	} t[] = {
	    /* user info: the host is what follows '@' */
	    {"http://127.0.0.1:1@evil.example.com", "user information", false},
	    {"https://user:pw@contoso.crm.dynamics.com", "user information",
	     false},
	    {"http://[::1]@evil.com/", "user information", false},
	    {"http://127.0.0.1\\@evil.com/", "user information", false},
	    {"http://127.0.0.1.evil.com",
	     "here the host is '127.0.0.1.evil.com'", false},
	    {"http://localhost.evil.com:8080/", "plain http", false},
	    {"http://10.0.0.1", "plain http", false},
	    {"http://[::2]:80", "plain http", false},
	    {"http://127.0.0.1%40evil.com/", "not a valid URL", false},
	    {"https://h/a?b=1", "query", false},
	    {"https://h/a#frag", "query or a fragment", false},
	    {"https://h /", "blanks", false},
	    {"https://", "not a valid URL", false},
	    {"ftp://x", "is not an https:// URL", false},
	    {"contoso.crm.dynamics.com", "not an https:// URL", false},
	    /* loopback, however written */
	    {"http://[::1]:8080", "http://[::1]:8080", true},
	    {"HTTP://LOCALHOST", "http://LOCALHOST", true},
	    {"http://127.0.0.1:8580/", "http://127.0.0.1:8580", true},
	    {"http://127.9.8.7:1/p/", "http://127.9.8.7:1/p", true},
	    {"http://%31%32%37.0.0.1:9/", "http://127.0.0.1:9", true},
	    {"http://127.1:80", "http://127.0.0.1:80", true},
	    {"http://[0:0:0:0:0:0:0:1]/x", "http://[::1]/x", true},
	    {"https://contoso.crm.dynamics.com//",
	     "https://contoso.crm.dynamics.com", true},
	    {"https://h:8443/_sim/429", "https://h:8443/_sim/429", true},
	};
	char why[512];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		char *u = job_parse_url(t[i].url, why, sizeof(why));

		if (t[i].ok) {
			if (!u)
				fail_msg("'%s' refused: %s", t[i].url, why);
			assert_string_equal(u, t[i].want);
		} else {
			if (u)
				fail_msg("'%s' accepted as '%s'", t[i].url, u);
			assert_contains(why, t[i].want);
		}
		free(u);
	}
	/* a password in the URL is never repeated in the message */
	assert_null(job_parse_url("https://u:hunter2@h", why, sizeof(why)));
	assert_null(strstr(why, "hunter2"));
}

/* Relative paths in a job file are relative to the job file's folder. */
static void test_relative_paths_from_job_folder(void **state)
{
	static const char cfg[] =
	    "environment = { url = \"https://x.crm.dynamics.com\";"
	    " ca_file = \"ca.pem\"; };\n"
	    "auth = { tenant = \"t\"; client_id = "
	    "\"51f81489-12ee-4a9e-aaae-a2591f45987d\";\n"
	    " secret_file = \"sec/s.txt\"; };\n"
	    "input = \"in/w.csv\";\n"
	    "templates = \"../tpl\";\n";
	char want[512];
	struct err e = ERR_INIT;
	struct job j;
	const char *p;

	(void)state;
	io_write(dir, "ca.pem", "x", (size_t)-1);
	mkdir(cfgpath("sec"), 0700);
	p = io_write(dir, "sec/s.txt", "s3cr3t\n", (size_t)-1);
	chmod(p, 0600);
	io_write(dir, "rel.cfg", cfg, (size_t)-1);
	char cwd[4096];

	/* from another current folder, as under cron */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir("/"), 0);
	if (job_load(&j, cfgpath("rel.cfg"), &e) < 0)
		fail_msg("%s", e.msg);
	snprintf(want, sizeof(want), "%s/in/w.csv", dir);
	assert_string_equal(j.input, want);
	snprintf(want, sizeof(want), "%s/output", dir); /* the default too */
	assert_string_equal(j.output, want);
	snprintf(want, sizeof(want), "%s/ca.pem", dir);
	assert_string_equal(j.ca_file, want);
	snprintf(want, sizeof(want), "%s/sec/s.txt", dir);
	assert_string_equal(j.secret_file, want);
	snprintf(want, sizeof(want), "%s/../tpl", dir);
	assert_string_equal(j.templates, want);
	job_release(&j);
	unlink(p);
	rmdir(cfgpath("sec"));
	assert_int_equal(chdir(cwd), 0);
}

/* input_encoding is checked against iconv; output_bom is a boolean. */
static void test_input_encoding_and_bom(void **state)
{
	static const struct {
		const char *cfg;
		const char *want; /* error after "DIR/enc.cfg", NULL: loads */
	} t[] = {
	    {ENV AUTH "input_encoding = \"windows-1252\";\n", NULL},
	    {ENV AUTH "input_encoding = \"no-such\";\n",
	     ":3: setting 'input_encoding': 'no-such' is not an encoding"},
	    {ENV AUTH "input_encoding = 1252;\n",
	     ":3: setting 'input_encoding': must be a string"},
	    {ENV AUTH "output_bom = \"yes\";\n",
	     ":3: setting 'output_bom': must be true or false"},
	};
	struct err e = ERR_INIT;
	struct job j;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		io_write(dir, "enc.cfg", t[i].cfg, (size_t)-1);
		err_clear(&e);
		if (!t[i].want) {
			if (job_load(&j, cfgpath("enc.cfg"), &e) < 0)
				fail_msg("%s", e.msg);
			assert_string_equal(j.input_encoding, "windows-1252");
			assert_int_equal(j.output_bom, -1);
			job_release(&j);
			continue;
		}
		assert_int_equal(job_load(&j, cfgpath("enc.cfg"), &e), -1);
		assert_contains(e.msg, t[i].want);
	}
	io_write(dir, "enc.cfg", ENV AUTH "output_bom = false;\n", (size_t)-1);
	assert_int_equal(job_load(&j, cfgpath("enc.cfg"), &e), 0);
	assert_string_equal(j.input_encoding, "");
	assert_int_equal(j.output_bom, 0);
	job_release(&j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_full_job_loads),
	    cmocka_unit_test(test_minimal_job_defaults),
	    cmocka_unit_test(test_errors_name_file_line_setting),
	    cmocka_unit_test(test_url_parsed_not_prefix_matched),
	    cmocka_unit_test(test_relative_paths_from_job_folder),
	    cmocka_unit_test(test_private_files_refused_when_readable),
	    cmocka_unit_test(test_secret_from_environment),
	    cmocka_unit_test(test_keep_log_level_credentials),
	    cmocka_unit_test(test_set_str_override),
	    cmocka_unit_test(test_input_encoding_and_bom),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
