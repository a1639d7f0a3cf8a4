/*
 * engine.h: the loop behind `mbxfix run` and `mbxfix plan`.
 *
 * One thread, one CURLM (http.h). Rows stream in from rows.h; only rows
 * in flight have state (struct row_state, action.h), bounded by a window,
 * so memory does not grow with the number of rows. Each row is resolved
 * with batched lookups (Microsoft.Dynamics.CRM.In over up to
 * ENGINE_RESOLVE_GROUP addresses or ids per GET, GETs inside $batch),
 * then its actions run stage by stage (action.h). Operations are packed
 * into $batch requests of batch_size with Prefer: odata.continue-on-error,
 * up to 'parallel' requests in flight (sched.h), transient failures are
 * retried (retry.h) and only the operations that failed are sent again;
 * a write whose fate is unknown (timeout, reset, cut answer) is never
 * sent blindly again: it is read back (act_util.h, actu_verify_url()),
 * done when its change is in place, otherwise sent again on the version
 * that read saw (If-Match with its ETag; a 412 means read again).
 * Every row ends with exactly one results_add().
 *
 * Use: engine_new(), engine_connect() (token and one probe request: the
 * endpoint and the sign-in work, nothing written yet), then open the
 * results and engine_run().
 */
#ifndef MBXFIX_ENGINE_H
#define MBXFIX_ENGINE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "err.h"
#include "http.h"
#include "job.h"
#include "results.h"
#include "rows.h"

#define ENGINE_RESOLVE_GROUP 50	  /* addresses per In() lookup */
#define ENGINE_WINDOW 2000	  /* rows in flight at most */
#define ENGINE_FLUSH_MS 200	  /* results.csv flushed at most this often */
#define ENGINE_READS_PER_BATCH 10 /* batch_size = 0: GETs per request */
#define ENGINE_REFILL 500	  /* rows taken at once, see sched_refill() */
#define ENGINE_CONNECT_TIMEOUT_MS 10000 /* or the request timeout */

struct progress;
struct runlog;

struct engine_setup {
	const struct job *job;	   /* borrowed for the engine's life */
	bool readonly;		   /* plan: resolve and read, write nothing */
	struct rows *rows;	   /* borrowed */
	struct progress *progress; /* NULL: none */
	size_t total_rows;	   /* for progress; 0 = unknown */
	size_t skip_rows;	   /* --resume: rows 1..skip_rows are done */
	/* set (by a signal handler) to stop the run; may be NULL */
	volatile sig_atomic_t *stop;
	struct runlog *log; /* run.log events (runlog.h); may be NULL */
};

/* What the engine measured, for the summary. */
struct engine_stats {
	uint64_t requests;	  /* HTTP requests, token requests included */
	uint64_t batches;	  /* $batch requests */
	uint64_t operations;	  /* operations sent (each try counts) */
	uint64_t writes;	  /* of them, writes (anything but GET) */
	uint64_t retries;	  /* operations sent again */
	uint64_t throttled;	  /* 429 answers (outer and inside batches) */
	uint64_t throttled_waits; /* waits for Retry-After, the probe's too */
	double throttled_s;	  /* time spent in those waits */
	size_t rows_done, rows_failed, rows_invalid;
};

struct engine;

/* A new engine; -1 with 'e' set when the transport cannot be set up. */
int engine_new(struct engine **out, const struct engine_setup *s,
	       struct err *e);
void engine_free(struct engine *en);

/*
 * Sign in and make one small read so that a refused sign-in or an
 * unreachable endpoint stops the run before anything is written.
 * -1 with 'e' set: ERR_AUTH, ERR_NETWORK, ERR_PROTOCOL (exit 3).
 */
int engine_connect(struct engine *en, struct err *e);

/*
 * Run every row to its result line in 'res'. Returns 0 when every row got
 * its line (some may have failed), -1 with 'e' set when the run could not
 * go on (results not writable, sign-in refused mid-run, stopped by a
 * signal: ERR_INTERNAL "interrupted"). Rows in flight then get no line:
 * results.csv stays a valid prefix for --resume.
 */
int engine_run(struct engine *en, struct results *res, struct err *e);

const struct engine_stats *engine_stats(const struct engine *en);

/*
 * The rows to run, when they were not known at engine_new() (a selection
 * reads mailboxes once signed in, select.h); before engine_run().
 */
void engine_set_rows(struct engine *en, struct rows *rows, size_t total_rows,
		     struct progress *progress);

/*
 * Preflight (preflight.h), between engine_connect() and engine_run():
 * GET each of 'urls' (relative to the API root) through the run's own
 * batching, retries and throttling. The answers stay in the lookup cache
 * (a later action_lookup() of the same URL is answered from it) and are
 * read with engine_cached(): the JSON, or NULL with '*err' (may be NULL)
 * set when the GET failed for good. engine_prefetch() returns -1 with 'e'
 * set only when the run cannot go on (sign-in lost, stopped).
 */
struct cJSON;
int engine_prefetch(struct engine *en, char *const *urls, size_t n,
		    struct err *e);
const struct cJSON *engine_cached(struct engine *en, const char *url,
				  const char **err);
/*
 * engine_prefetch() of one FetchXML query, asking for the paging
 * annotations (@Microsoft.Dynamics.CRM.fetchxmlpagingcookie and
 * morerecords) that say how to read the next page.
 */
int engine_prefetch_paging(struct engine *en, const char *url, struct err *e);
/*
 * Put 'json' (consumed) in the lookup cache as the answer of GET 'url',
 * unless the cache has that URL already: preflight's answer for one name,
 * taken from a batched lookup, where the action asks for it.
 */
void engine_seed(struct engine *en, const char *url, struct cJSON *json);

/*
 * Rows that preflight_row() fails are reported so as they are taken,
 * nothing of them sent. 'pf' is borrowed; NULL for none.
 */
struct preflight;
void engine_set_preflight(struct engine *en, const struct preflight *pf);

#endif
