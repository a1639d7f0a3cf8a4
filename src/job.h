/*
 * job.h: the job file (libconfig) -> struct job, defaults applied and
 * every setting validated once, before any request.
 *
 * Settings (docs/design.md "The job file"); all optional unless marked:
 *
 *   name          directory name under 'output': letters, digits, '.', '_',
 *                 '-'; default: the job file's base name without ".cfg"
 *   environment = {
 *     url         required; "https://..." ("http://" only when the host
 *                 is a loopback address: 127.0.0.0/8, ::1, localhost);
 *                 parsed by libcurl's URL parser (job_parse_url()),
 *                 user information refused; a trailing '/' is removed
 *     api_version default "9.2" (digits '.' digits)
 *     ca_file     PEM bundle of a private CA; "" = the system's CAs
 *   }
 *   auth = {
 *     method      "secret" (default), "certificate", "device_code" (a
 *                 person signs in, auth.h) or "none"
 *     tenant      required unless method is "none"
 *     client_id   required unless method is "none"; a GUID
 *     secret_env  secret: the environment variable holding the secret
 *     secret_file secret: a file holding it, readable by its owner only
 *                 (exactly one of secret_env and secret_file)
 *     certificate certificate: PEM certificate (required)
 *     private_key certificate: PEM private key, readable by its owner only
 *                 (required)
 *     assertion_alg  certificate: "PS256" (default, x5t#S256, as
 *                 Microsoft's certificate credentials ask) or "RS256"
 *                 (x5t)
 *     authority   default "https://login.microsoftonline.com" (same URL
 *                 rule as environment.url); trailing '/' removed
 *     pool        ( { client_id; secret_env | secret_file | method =
 *                 "certificate" ... }, ... ): further application users
 *                 (secret or certificate), tenant and authority inherited
 *   }
 *   approve_auth  { method; client_id; ... } as auth, used only for the
 *                 approve action's writes (an administrator's device code
 *                 sign-in); tenant and authority inherited from auth
 *   input         the CSV (--input overrides); may be absent here
 *   input_encoding  the input's character encoding when it is not UTF-8
 *                 and has no byte-order mark: any name iconv knows,
 *                 "windows-1252" (Excel's plain "CSV" on Windows),
 *                 "ISO-8859-15"...; default "" (UTF-8)
 *   output_bom    true or false: results.csv and failed.csv start with a
 *                 UTF-8 byte-order mark (Excel needs it to read accents);
 *                 default: when the input had a byte-order mark or was
 *                 not UTF-8
 *   output        default "output"
 *   templates     a folder of privilege templates, searched first
 *                 (privs_dirs_for_job()); default none
 *   defaults = {  used where a row leaves a column empty
 *     actions     array or list of action names, or one ';'-separated
 *                 string; default none (each row must then name its own)
 *     profile     default ""
 *     incoming, outgoing, act   server-side-sync | outlook | forward
 *                 (incoming only) | none; default "" (unset)
 *     role        default ""
 *     privileges  template name or "prvX[:depth];..."; default
 *                 "server-side-sync"
 *   }
 *   run = {
 *     parallel      0..256, default 0 (choose)
 *     batch_size    0..1000, default 0 (choose)
 *     max_attempts  1..100, default 6
 *     test_timeout  seconds, 1..86400, default 900
 *     poll_interval seconds, 1..3600, default 15
 *     request_timeout  seconds, 1..3600, default 120: a request (token
 *                   requests included) with no complete answer by then
 *                   is abandoned and retried like a reset connection
 *     keep          0..100000, default 30: run folders of the job kept
 *                   after a run (retention.h); 0 keeps every run
 *     retest        "changed" (default): test_enable leaves alone a
 *                   mailbox whose statuses are all Success and that the
 *                   run changed nothing of; "unhealthy": every mailbox
 *                   whose statuses are not all Success; "always"
 *   }
 *   select = {    mailboxes chosen by query (select.h), all must hold:
 *     profile, status, approval, business_unit, type   strings
 *   }
 *   log_level     run.log detail: "error", "warn", "info" (default) or
 *                 "debug"; -v raises it (runlog.h)
 *
 * Any other setting, at any level, is an error naming it. Integers must
 * be integers, strings strings.
 *
 * secret_file, certificate and private_key may start with ${NAME}, an
 * environment variable: "${CREDENTIALS_DIRECTORY}/client-secret" reads a
 * credential systemd passed with LoadCredential= (contrib/). An unset or
 * empty variable is an error naming the setting.
 *
 * Relative paths (input, output, the default "output" too, ca_file,
 * secret_file, certificate, private_key, templates) resolve against the
 * job file's folder, never the current directory, so a job runs the same
 * from cron or any folder: job_load() stores them joined to that folder.
 * Paths given on the command line (--input, --output) are the shell's,
 * relative to the current directory.
 *
 * Secrets never live in the job file and are never kept in struct job:
 * job_secret() reads the secret when it is needed. job_load() refuses a
 * secret_file or private_key that is missing, not a regular file, or
 * accessible by group or others (the message names the file and its mode).
 *
 * Every error is "FILE:LINE: setting 'a.b': why" (kind ERR_CONFIG, exit 2).
 */
#ifndef MBXFIX_JOB_H
#define MBXFIX_JOB_H

#include "buf.h"
#include "err.h"
#include "rows.h"
#include "select.h"

enum job_auth {
	JOB_AUTH_SECRET = 0,
	JOB_AUTH_CERTIFICATE,
	JOB_AUTH_NONE,
	JOB_AUTH_DEVICE_CODE
};
enum job_alg { JOB_ALG_RS256 = 0, JOB_ALG_PS256 };
/* run.retest: which mailboxes test_enable tests again */
enum job_retest { JOB_RETEST_CHANGED = 0, JOB_RETEST_UNHEALTHY, JOB_RETEST_ALWAYS };

/*
 * Owned strings are never NULL unless said so; "" where a setting is
 * unset. All belong to the job and are freed by job_release().
 */
struct job {
	char *path; /* the job file as given to job_load() */
	char *name;

	char *url;	   /* "https://contoso.crm.dynamics.com", no '/' */
	char *api_version; /* "9.2" */
	char *ca_file;	   /* NULL: system CAs */

	enum job_auth auth;
	char *tenant;	   /* "" for JOB_AUTH_NONE */
	char *client_id;   /* "" for JOB_AUTH_NONE */
	char *secret_env;  /* NULL unless auth secret from the environment */
	char *secret_file; /* NULL unless auth secret from a file */
	char *certificate; /* NULL unless JOB_AUTH_CERTIFICATE */
	char *private_key; /* NULL unless JOB_AUTH_CERTIFICATE */
	enum job_alg assertion_alg;
	char *authority; /* "https://login.microsoftonline.com", no '/' */
	/*
	 * auth.pool: further application users, each a job of its own
	 * holding only path, name, url, api_version and the sign-in
	 * settings; approve_auth likewise, NULL when absent.
	 */
	struct job **pool;
	size_t npool;
	struct job *approve;

	char *input;	      /* NULL when the job file names none */
	char *input_encoding; /* "" for UTF-8 */
	int output_bom;	      /* -1: as the input (rows.h), else 0 or 1 */
	char *output;
	char *templates; /* NULL when unset */

	struct rows_defaults defaults;

	int parallel;	     /* 0 = choose */
	int batch_size;	     /* 0 = choose */
	int max_attempts;    /* >= 1 */
	int test_timeout;    /* seconds */
	int poll_interval;   /* seconds */
	int request_timeout; /* seconds, per HTTP request */
	int keep;	     /* run folders kept; 0 = all */
	int retest;	     /* enum job_retest */
	struct select_set select; /* the 'select' group; n 0 when none */
	int log_level;	     /* enum log_level (log.h) for run.log */

	/* Microsoft Graph checks of the Exchange side (graph.h) */
	bool exchange_checks;	  /* exchange_checks = true */
	char *graph_url;	  /* "https://graph.microsoft.com", no '/' */
	bool test_when_unfixable; /* run.test_when_unfixable = "test" */
};

/*
 * Read and validate the job file 'path' into 'out' (which need not be
 * initialised). On success returns 0 and 'out' must be released with
 * job_release(). On failure returns -1, 'e' set, and 'out' holds nothing
 * to release (job_release() on it is still safe).
 */
int job_load(struct job *out, const char *path, struct err *e);

/* Free what 'j' owns and zero it; safe on a zeroed or released job. */
void job_release(struct job *j);

/*
 * Replace an owned string setting, e.g. job_set_str(&j->input, "x.csv")
 * for a command-line override; 'value' is copied, NULL stores NULL.
 */
void job_set_str(char **field, const char *value);

/*
 * Append the client secret of a JOB_AUTH_SECRET job to 'out' (trailing
 * CR/LF removed), read now from the environment variable or the file
 * (open, then fstat: the mode check is made on the file actually read).
 * Returns 0, or -1 with 'e' set (ERR_CONFIG: variable unset or empty,
 * file unreadable or readable by others, secret empty). The secret is
 * never part of any message. Caller wipes and releases 'out'
 * (job_secret_wipe()).
 */
int job_secret(const struct job *j, struct buf *out, struct err *e);

/* Overwrite the bytes of 'b' with zeros, then buf_release() it. */
void job_secret_wipe(struct buf *b);

/*
 * Check that 'path' is a regular file that neither group nor others may
 * access (mode & 077 == 0). 'what' names it in the message ("secret
 * file"). Returns 0, or -1 with 'e' set (ERR_CONFIG) naming the file and
 * its mode, e.g. "private key 'k.pem' is accessible by group or others
 * (mode 0644); run: chmod 600 'k.pem'".
 */
int job_check_private_file(const char *path, const char *what, struct err *e);

/*
 * Parse 'url' with libcurl's URL parser (the one that later sends the
 * requests) and check it: scheme https, or http when the parsed host is
 * a loopback address (127.0.0.0/8, ::1, localhost); no user information
 * ("http://127.0.0.1:1@evil.example.com" has host evil.example.com and
 * is refused), no query, no fragment, no blanks. Returns a new string,
 * the URL as libcurl spells it with trailing '/' removed, or NULL with
 * 'why' set (the URL is not repeated when it holds user information).
 */
char *job_parse_url(const char *url, char *why, size_t whylen);

/*
 * The line of setting 'name' ("defaults.role") in the job file, for a
 * message about its value found wrong later; 0 when it is not there.
 */
int job_setting_line(const struct job *j, const char *name);

/* "secret", "certificate", "none", "device_code". */
const char *job_auth_name(enum job_auth a);

#endif
