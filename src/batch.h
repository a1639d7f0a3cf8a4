/*
 * batch.h: the OData $batch codec (docs/fidelity.md). Pure: no
 * clock, socket, file or global.
 *
 * Three steps, used by the engine for every $batch request:
 *
 *   1. Describe the operations with batch_add() into a struct batch, then
 *      batch_encode() them into a multipart/mixed body and its
 *      Content-Type header value.
 *   2. batch_parse() the response (its Content-Type and body) into one
 *      struct batch_answer per answered operation, in order, change-set
 *      answers flattened.
 *   3. batch_map() the answers back onto the operations: each operation
 *      was answered (its own status and body), rolled back with its
 *      failed change set, not executed (processing stopped at an earlier
 *      failure), succeeded before that failure without an answer of its
 *      own, or was left unanswered by a server that broke the protocol.
 *      The engine retries only the operations that need it.
 *
 * Change sets: operations added consecutively with the same non-zero
 * 'changeset' number form one change set (all succeed or all are rolled
 * back). GET is never allowed inside a change set.
 *
 * Content-ID: every operation gets "Content-ID: <index + 1>", where index
 * is its 0-based position in the batch. Inside a change set a later
 * operation may refer to an earlier one as "$<index + 1>" (§6.1). Outside
 * change sets it lets batch_map() tell which operation an answer is for
 * when the server leaves answers out (a stop-on-error response holds only
 * the failure, docs/fidelity.md).
 *
 * Memory: struct batch copies everything given to batch_add(); a parsed
 * struct batch_response owns copies of everything it returns. Both are
 * bounded: at most BATCH_MAX_OPS operations and BATCH_MAX_PARTS parts;
 * the encoded body is bounded by the 'max' of the caller's struct buf.
 */
#ifndef MBXFIX_BATCH_H
#define MBXFIX_BATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "err.h"

/* Dataverse accepts at most 1000 requests in one $batch (§6.1). */
#define BATCH_MAX_OPS 1000
/* Most parts and headers per part batch_parse() accepts. */
#define BATCH_MAX_PARTS 2000
#define BATCH_MAX_HEADERS 64
/* Longest header line (part or inner HTTP header) batch_parse() accepts. */
#define BATCH_MAX_LINE 16384
/* Longest boundary: RFC 2046 §5.1.1 allows 70 characters. */
#define BATCH_MAX_BOUNDARY 70

/*
 * One operation as the caller describes it to batch_add(). Every pointer
 * is borrowed for the duration of the call; batch_add() copies them.
 */
struct batch_req {
	/* "GET", "POST", "PATCH", "PUT" or "DELETE". */
	const char *method;
	/*
	 * Relative to the service root, with its query string already
	 * percent-encoded (see odata.h), e.g. "mailboxes(<guid>)" or
	 * "mailboxes?$select=name&$filter=...", or "$1" / "$1/..." to refer
	 * to an earlier operation of the same change set. No leading '/',
	 * no space, CR or LF.
	 */
	const char *url;
	/*
	 * NULL, or a NULL-terminated list of extra header lines, each
	 * "Name: value" without line end, e.g. "If-Match: *" or
	 * "Prefer: return=representation". A line holding CR or LF is
	 * refused.
	 */
	const char *const *headers;
	/*
	 * NULL for no body; otherwise the JSON body, sent with
	 * "Content-Type: application/json" unless 'headers' has a
	 * Content-Type line of its own.
	 */
	const char *body;
	/* 0: an independent operation; otherwise its change set's number. */
	unsigned changeset;
	/* The caller's own pointer (e.g. its row); batch never touches it. */
	void *data;
};

/* One operation as stored in a struct batch: read-only to callers. */
struct batch_op {
	char *method;
	char *url;
	char **headers; /* NULL-terminated; never NULL */
	char *body;	/* NULL when none */
	unsigned changeset;
	void *data;
};

struct batch {
	struct batch_op *ops; /* ops[0 .. n-1] */
	size_t n;
	size_t alloc;
};

#define BATCH_INIT                                                             \
	{                                                                      \
		.ops = NULL, .n = 0, .alloc = 0                                \
	}

void batch_init(struct batch *b);

/* Free every operation; 'b' is empty and reusable afterwards. */
void batch_release(struct batch *b);

/*
 * Append a copy of 'req'. Returns 0, or -1 with 'e' set (nothing added)
 * when the batch already holds BATCH_MAX_OPS operations, the method is
 * unknown, the URL or a header line is malformed, a GET is put in a
 * change set, or 'req->changeset' names a change set that is not the
 * last one added (its operations must be consecutive).
 */
int batch_add(struct batch *b, const struct batch_req *req, struct err *e);

/*
 * Encode 'b' as a multipart/mixed $batch body (RFC 2046, CRLF line ends)
 * appended to 'body', and the value of its Content-Type header, e.g.
 * 'multipart/mixed; boundary="batch_<id>"', appended to 'content_type'.
 *
 * 'id' makes the boundaries: "batch_<id>" for the batch and
 * "changeset_<id>_<n>" for its n-th change set (n from 1), so tests get
 * a deterministic body; it is 1 to 40 characters of [A-Za-z0-9_-].
 * 'prefix' is the service path prepended to each URL, e.g.
 * "/api/data/v9.2/" (a missing final '/' is added).
 *
 * Returns 0, or -1 with 'e' set when 'b' is empty, 'id' or 'prefix' is
 * malformed, a body contains a boundary delimiter, or 'body' would pass
 * its cap. On failure 'body' and 'content_type' may hold a partial
 * result; the caller resets or releases them.
 */
int batch_encode(const struct batch *b, const char *id, const char *prefix,
		 struct buf *body, struct buf *content_type, struct err *e);

/* The Content-ID batch_encode() gives operation 'index'. */
static inline unsigned long batch_content_id(size_t index)
{
	return (unsigned long)index + 1;
}

struct batch_header {
	char *name;
	char *value; /* leading and trailing blanks removed */
};

/* The answer to one operation, as found in a $batch response. */
struct batch_answer {
	int status; /* from the inner status line, 100..599 */
	/*
	 * The Content-ID (from the part headers, or failing that the inner
	 * HTTP headers), or NULL when the part had none.
	 */
	char *content_id;
	/*
	 * 0 for a part at the top level of the response; n for a part of the
	 * n-th change-set response (n from 1, counting change-set responses
	 * in the order they appear).
	 */
	unsigned changeset;
	struct batch_header *headers; /* the inner HTTP headers, in order */
	size_t nheaders;
	char *body; /* never NULL; "" when the part had no body */
	size_t body_len;
};

struct batch_response {
	struct batch_answer *answers; /* answers[0 .. n-1], in order */
	size_t n;
};

#define BATCH_RESPONSE_INIT                                                    \
	{                                                                      \
		.answers = NULL, .n = 0                                        \
	}

/*
 * Parse a $batch response: 'content_type' is the value of its
 * Content-Type header ("multipart/mixed; boundary=..." with the boundary
 * quoted or not), 'body'/'len' its body (need not be NUL-terminated).
 * Nested change-set responses are flattened into 'out' with
 * 'changeset' set. CRLF and bare LF line ends are both accepted.
 *
 * 'out' must be empty (BATCH_RESPONSE_INIT or released). Returns 0, or
 * -1 with 'e' set (ERR_PROTOCOL) and 'out' left empty when the response
 * is not multipart/mixed, has no boundary, is truncated (no closing
 * delimiter), holds a part that is not application/http or a change set,
 * a malformed status line, a nested change set inside a change set, or
 * more than BATCH_MAX_PARTS parts, BATCH_MAX_HEADERS headers in a part
 * or a line longer than BATCH_MAX_LINE.
 */
int batch_parse(struct batch_response *out, const char *content_type,
		const char *body, size_t len, struct err *e);

/* Free everything 'r' holds; it is empty afterwards. */
void batch_response_release(struct batch_response *r);

/*
 * The value of the inner HTTP header 'name' of 'a' (case-insensitive;
 * the first one when repeated), or NULL. Borrowed from 'a'.
 */
const char *batch_answer_header(const struct batch_answer *a, const char *name);

/* What happened to one operation of a batch. */
enum batch_fate {
	/* 'answer' is its own answer; 'status' its status (2xx or not). */
	BATCH_ANSWERED = 1,
	/*
	 * Its change set failed because of another operation and was rolled
	 * back: nothing of it was applied. 'answer' is the change set's
	 * error answer, 'status' its status. Safe to send again.
	 */
	BATCH_ROLLED_BACK,
	/*
	 * Not executed: the server stopped at an earlier failure (no
	 * "Prefer: odata.continue-on-error", docs/fidelity.md). 'answer' is
	 * NULL, 'status' 0. Safe to send again.
	 */
	BATCH_NOT_EXECUTED,
	/*
	 * No answer although nothing failed before it: the response was
	 * cut short. Whether it was applied is unknown. 'answer' is NULL,
	 * 'status' 0.
	 */
	BATCH_UNANSWERED,
	/*
	 * Succeeded without an answer: it came before the operation whose
	 * failure stopped the batch, and the server returned only that
	 * failure (§6.2: processing stops at the first failure, so
	 * everything before it succeeded). 'answer' is NULL, 'status' 0. A
	 * write needs no resend; a read has to be sent again for its data.
	 */
	BATCH_UNREPORTED_OK,
	/*
	 * The batch stopped at a failure whose answer names no operation:
	 * a lone failure without Content-ID for a batch of more than one
	 * change set or independent operation. Which one failed cannot be
	 * told, so every operation of the batch gets this fate: each may
	 * have been applied (before the failure), failed, or not run.
	 * 'answer' is NULL, 'status' 0. Sending the operations one per
	 * batch makes each answer exact.
	 */
	BATCH_UNATTRIBUTED,
};

struct batch_result {
	enum batch_fate fate;
	int status;
	const struct batch_answer *answer; /* borrowed from the response */
};

/*
 * Map the answers 'r' (from batch_parse() of the response to
 * batch_encode() of 'b') back onto the operations of 'b': 'out' must
 * have room for b->n results; out[i] tells what happened to b->ops[i].
 *
 * An answer is for the operation its Content-ID names; an answer without
 * one is for the next operation in order. Independent operations take
 * top-level answers. A change set takes either its change-set response
 * (answers matched to its operations the same way) or, when it failed, a
 * single error answer, at the top level or alone in a change-set
 * response. In a failed change set, the operation the error answer names
 * is BATCH_ANSWERED with that error; the others are BATCH_ROLLED_BACK
 * (all of them when the error names no operation).
 *
 * Operations skipped before the last answer, when that answer is a
 * failure, are BATCH_UNREPORTED_OK. Operations after the last answer are
 * BATCH_NOT_EXECUTED if that answer was a failure (status >= 400), else
 * BATCH_UNANSWERED. Answers without Content-ID are taken in order, as the
 * first ones of the batch (a stop-on-error answer that also holds the
 * successes before the failure); but a lone failure without Content-ID
 * for more than one unit (change set or independent operation) may be
 * for any of them (a stop-on-error answer holding only the failure): it
 * is never guessed, every operation is then BATCH_UNATTRIBUTED.
 *
 * Returns 0, or -1 with 'e' set (ERR_PROTOCOL) when the answers cannot
 * belong to 'b': more answers than operations, answers out of order or
 * repeated, a change-set answer where an independent operation was sent,
 * a successful change-set response with a different number of answers
 * than the change set had operations, a Content-ID naming no operation,
 * or operations skipped before an answer that is not the last failure.
 * 'out' is then unspecified.
 */
int batch_map(const struct batch *b, const struct batch_response *r,
	      struct batch_result *out, struct err *e);

/*
 * "answered", "rolled back", "not executed", "unanswered",
 * "succeeded unreported", "unattributed".
 */
const char *batch_fate_name(enum batch_fate fate);

#endif
