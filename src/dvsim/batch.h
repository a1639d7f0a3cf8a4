/*
 * batch.h: dvsim's OData $batch (docs/fidelity.md): the multipart/mixed
 * parser and the executor that runs each part through a callback and
 * writes the multipart response. dvsim's own: nothing is shared with
 * mbxfix's batch.c.
 *
 * Parsing accepts RFC 2046 with CRLF and tolerates bare LF; the boundary
 * comes from the Content-Type (quoted or not). Each part is either an
 * application/http request (request line with an absolute or
 * service-relative URL, taken between the line's first and last space,
 * headers, body) or a change set (multipart/mixed nested once).
 * Content-ID is read from the MIME part headers or, failing that, from
 * the embedded request's headers.
 *
 * The answer follows the variants of docs/fidelity.md: without
 * continue-on-error it holds only the failing request's answer (with
 * batch-echo-ok, the answers before it too); answer parts echo the
 * request's Content-ID (never with no-content-id).
 */
#ifndef DVSIM_BATCH_H
#define DVSIM_BATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "dv.h"

#define BATCH_MAX_OPS 1000

struct batch_op {
	char *method;
	char *url;		   /* as in the request line */
	struct dv_header *headers; /* strings owned by the op */
	size_t nheaders;
	char *body;
	size_t body_len;
	char *content_id; /* NULL when none */
	int changeset;	  /* index of its change set, -1 outside one */
};

struct batch {
	struct batch_op *ops;
	size_t nops;
	size_t nchangesets;
};

enum batch_parse_result {
	BATCH_PARSE_OK = 0,
	BATCH_PARSE_MALFORMED = -1,
	BATCH_PARSE_TOO_MANY = -2, /* more than BATCH_MAX_OPS operations */
};

/*
 * Parse a $batch body. On failure 'errmsg' says what was wrong and 'b' is
 * left empty. batch_release() frees what a successful parse allocated.
 */
enum batch_parse_result batch_parse(struct batch *b, const char *content_type,
				    const char *body, size_t len, char *errmsg,
				    size_t errlen);
void batch_release(struct batch *b);

/* The boundary parameter of a multipart Content-Type; caller frees. */
char *batch_boundary(const char *content_type);

/* The resource path after "/api/data/v9.2/", or NULL when 'url' is not one. */
const char *batch_resource_path(const char *url);

struct batch_exec {
	void *ctx;
	/* serve one operation (the caller holds whatever lock it needs) */
	int (*handle)(void *ctx, const struct dv_request *req,
		      struct dv_response *resp);
	void (*txn_begin)(void *ctx);
	void (*txn_commit)(void *ctx);
	void (*txn_rollback)(void *ctx);
};

struct batch_opts {
	bool continue_on_error;
	int fail_changeset; /* this change set fails at its last part; -1 none
			     */
	const char *caller;
	const char *base_url;	  /* ".../api/data/v9.2/" */
	unsigned long long nonce; /* makes the response boundaries */
};

/* What became of each operation, for statistics. */
struct batch_result {
	int status;	/* 0: not run */
	bool committed; /* succeeded and was not rolled back */
};

/*
 * Run 'b' and write the whole $batch response to 'out' (status, headers,
 * body). 'results' has b->nops entries. Returns out->status.
 */
int batch_execute(const struct batch *b, const struct batch_opts *o,
		  const struct batch_exec *x, struct batch_result *results,
		  struct dv_response *out);

/* "OK", "No Content"...: the reason phrase of 'status'. */
const char *batch_reason(int status);

#endif
