/*
 * engine_resolve.c: resolution and lookups.
 *
 * Rows' mailboxes are fetched in groups (want_resolve(), flush_group(),
 * resolved()) with the columns their actions read, and actions' cached
 * GETs (action_lookup(), engine_prefetch()) share one answer per URL.
 */
#include "compat.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "action.h"
#include "batch.h"
#include "engine.h"
#include "engine_int.h"
#include "odata.h"
#include "sched.h"

#include "banned.h"

/*
 * Resolution.
 */
/* The mailbox columns the actions in 'asked' read, each once. */
static void add_select(struct buf *b, unsigned asked)
{
	size_t start = b->len;

	/*
	 * what rows are matched on; who the mailbox belongs to comes with
	 * the actions that read it (fix_owner's columns, and every column
	 * for Test & Enable, grant_privileges and read-only runs)
	 */
	buf_addstr(b, "mailboxid,emailaddress");
	for (int i = 0; i < ACTION_COUNT; i++) {
		const struct action *a = action_get(i);
		const char *p;

		if (!(asked & (1u << i)) || !a || !a->columns)
			continue;
		for (p = a->columns; *p;) {
			size_t len = strcspn(p, ",");
			const char *have = b->ptr + start;
			bool dup = false;

			while (*have && !dup) {
				size_t hl = strcspn(have, ",");

				dup = hl == len && !strncmp(have, p, len);
				have += hl + (have[hl] == ',');
			}
			if (len && !dup) {
				buf_addch(b, ',');
				buf_add(b, p, len);
			}
			p += len + (p[len] == ',');
		}
	}
}

/*
 * Which actions' columns a group's read selects. Actions that only check
 * their own columns (the writes) get just those: a much smaller answer to
 * parse. Test & Enable, grant_privileges and read-only runs (plan,
 * diagnose) explain problems from the whole mailbox: every column.
 */
static unsigned select_mask(const struct engine *en,
			    struct eng_row *const *rows, size_t n)
{
	const unsigned whole =
	    ROWS_ACT(ROWS_TEST_ENABLE) | ROWS_ACT(ROWS_GRANT_PRIVILEGES);
	unsigned asked = 0;

	for (size_t i = 0; i < n; i++)
		asked |= rows[i]->rs.asked;
	return en->readonly || (asked & whole) ? ~0u : asked;
}

void flush_group(struct engine *en, bool ids)
{
	struct eng_row **pend = ids ? en->pend_id : en->pend_addr;
	size_t *n = ids ? &en->npend_id : &en->npend_addr;
	const char *values[ENGINE_RESOLVE_GROUP];
	struct buf expr = BUF_INIT(BUF_MAX_BODY), url = BUF_INIT(BUF_MAX_BODY);
	struct err e = ERR_INIT;
	struct op *op;

	if (!*n)
		return;
	for (size_t i = 0; i < *n; i++)
		values[i] = pend[i]->rs.row->mailbox;
	if (ids) {
		/* GUIDs are bare in OData; In() takes them quoted, too */
		odata_in_filter(&expr, "mailboxid", values, *n, &e);
	} else {
		odata_in_filter(&expr, "emailaddress", values, *n, &e);
	}
	buf_addstr(&url, "mailboxes?$select=");
	add_select(&url, select_mask(en, pend, *n));
	buf_addstr(&url, "&$filter=");
	odata_url_encode(&url, expr.ptr, expr.len);
	op = op_new(OP_RESOLVE, "GET", url.ptr, NULL);
	op->flags = OP_ANNOTATIONS;
	op->group = xmalloc(*n * sizeof(*op->group));
	memcpy(op->group, pend, *n * sizeof(*op->group));
	op->ngroup = *n;
	*n = 0;
	buf_release(&expr);
	buf_release(&url);
	enqueue(en, op);
}

void want_resolve(struct engine *en, struct eng_row *row)
{
	bool ids = row->rs.row->mailbox_is_id;

	if (ids) {
		en->pend_id[en->npend_id++] = row;
		if (en->npend_id == ENGINE_RESOLVE_GROUP)
			flush_group(en, true);
	} else {
		en->pend_addr[en->npend_addr++] = row;
		if (en->npend_addr == ENGINE_RESOLVE_GROUP)
			flush_group(en, false);
	}
}

/* A mailbox of a lookup answer, with the keys rows are matched on. */
struct answer_mb {
	cJSON *mb; /* NULL once a row took it */
	const char *addr, *id;
	uint32_t haddr, hid; /* key_hash() of each: most pairs differ there */
};

/* FNV-1a over the lower-cased key, which is compared case-insensitively. */
static uint32_t key_hash(const char *s)
{
	uint32_t h = 2166136261u;

	if (!s)
		return 0;
	for (; *s; s++) {
		h ^= (unsigned char)tolower((unsigned char)*s);
		h *= 16777619u;
	}
	return h;
}

const char *string_item(const cJSON *obj, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* snprintf(dst, size, "%s", id) without the format machinery */
static void copy_id(char *dst, size_t size, const char *id)
{
	size_t len = strlen(id);

	if (len >= size)
		len = size - 1;
	memcpy(dst, id, len);
	dst[len] = '\0';
}

/*
 * The identity gate: two rows naming one mailbox, by address on one and
 * by id on the other, are known only once resolved (rows.c catches the
 * same address or id given twice, whatever the case). A row goes through
 * once its own mailbox is known and every earlier row naming a mailbox
 * the other way is known too, so the second row in input order is the
 * one made invalid, whichever resolved first, and a row does nothing
 * before it is through. Rows that all use one form never wait.
 */
void pass_gate(struct engine *en)
{
	bool wait_addr = false, wait_id = false; /* an earlier row unknown */
	struct eng_row *row = en->order_head, *next;

	for (; row && !(wait_addr && wait_id); row = next) {
		bool is_id = row->rs.row->mailbox_is_id;
		char id[sizeof(row->rs.mailbox_id)];
		void **slot;

		next = row->next_order;
		if (!row->known || (is_id ? wait_addr : wait_id)) {
			if (!row->known)
				*(is_id ? &wait_id : &wait_addr) = true;
			continue;
		}
		order_del(en, row);
		if (row->failed || !row->resolved)
			continue;
		for (size_t i = 0; i < sizeof(id); i++)
			id[i] =
			    (char)tolower((unsigned char)row->rs.mailbox_id[i]);
		slot = table_slot(&en->claimed, id, true);
		if (*slot)
			row->duplicate = (size_t)(uintptr_t)*slot;
		else
			*slot = (void *)(uintptr_t)row->rs.row->num;
		make_ready(en, row);
	}
}

void resolved(struct engine *en, struct op *op, cJSON *json)
{
	cJSON *value = cJSON_GetObjectItemCaseSensitive(json, "value");
	char msg[512];
	struct answer_mb *mbs;
	size_t nmb = 0;
	cJSON *mb;

	/* look each mailbox's keys up once, not once per row of the group */
	cJSON_ArrayForEach(mb, value) nmb++;
	mbs = xcalloc(nmb ? nmb : 1, sizeof(*mbs));
	nmb = 0;
	cJSON_ArrayForEach(mb, value)
	{
		mbs[nmb].mb = mb;
		mbs[nmb].addr = string_item(mb, "emailaddress");
		mbs[nmb].id = string_item(mb, "mailboxid");
		mbs[nmb].haddr = key_hash(mbs[nmb].addr);
		mbs[nmb].hid = key_hash(mbs[nmb].id);
		nmb++;
	}
	for (size_t i = 0; i < op->ngroup; i++) {
		struct eng_row *row = op->group[i];
		const struct row *in = row->rs.row;
		struct answer_mb *found = NULL;
		uint32_t h = key_hash(in->mailbox);
		int n = 0;

		for (size_t k = 0; k < nmb; k++) {
			const char *key =
			    in->mailbox_is_id ? mbs[k].id : mbs[k].addr;

			if (!mbs[k].mb || !key ||
			    (in->mailbox_is_id ? mbs[k].hid : mbs[k].haddr) !=
				h)
				continue;
			if (!strcasecmp(key, in->mailbox)) {
				found = &mbs[k];
				n++;
			}
		}
		if (n != 1) {
			if (n)
				snprintf(msg, sizeof(msg),
					 "%d mailboxes have the address '%s'",
					 n, row->rs.row->mailbox);
			else
				snprintf(msg, sizeof(msg),
					 "mailbox '%s' does not exist",
					 row->rs.row->mailbox);
			fail_row(en, row, n ? "AmbiguousMailbox" : "0x80040217",
				 msg,
				 n ? "name the mailbox by its id (mailboxid)"
				   : "check the address or id; the user or "
				     "queue may not have a mailbox yet");
			continue;
		}
		if (found->id)
			copy_id(row->rs.mailbox_id, sizeof(row->rs.mailbox_id),
				found->id);
		cJSON_Delete(row->rs.mailbox);
		/* the row takes the object out of the answer: no copy */
		row->rs.mailbox = cJSON_DetachItemViaPointer(value, found->mb);
		found->mb = NULL;
		row->resolved = true;
		row->known = true;
	}
	free(mbs);
	pass_gate(en);
}

const cJSON *action_lookup(struct action_ctx *c, const char *url, bool *pending,
			   const char **err)
{
	struct engine *en = c->en;
	void **slot = table_slot(&en->lookups, url, true);
	struct lookup *l = *slot;
	struct op *op;

	*pending = false;
	if (err)
		*err = NULL;
	if (l && l->done) {
		if (!l->json && err)
			*err = l->error;
		return l->json;
	}
	*pending = true;
	c->row->rs.act[c->cur].outstanding++;
	if (l) {
		add_waiter(&l->w, &l->nw, &l->aw, c->row, c->cur, 0);
		return NULL;
	}
	l = xcalloc(1, sizeof(*l));
	l->url = xstrdup(url);
	*slot = l;
	add_waiter(&l->w, &l->nw, &l->aw, c->row, c->cur, 0);
	op = op_new(OP_LOOKUP, "GET", url, NULL);
	op->lookup = l;
	enqueue(en, op);
	return NULL;
}

/*
 * Preflight.
 */
void engine_set_preflight(struct engine *en, const struct preflight *pf)
{
	en->pf = pf;
}

static int prefetch(struct engine *en, char *const *urls, size_t n,
		    unsigned flags, struct err *e)
{
	bool pending;

	en->err = e;
	en->now = clock_ms();
	for (size_t i = 0; i < n; i++) {
		void **slot = table_slot(&en->lookups, urls[i], true);
		struct lookup *l;
		struct op *op;

		if (*slot)
			continue;
		l = xcalloc(1, sizeof(*l));
		l->url = xstrdup(urls[i]);
		*slot = l;
		op = op_new(OP_LOOKUP, "GET", urls[i], NULL);
		op->lookup = l;
		op->flags = flags;
		enqueue(en, op);
	}
	for (;;) {
		pending = false;
		for (size_t i = 0; i < n && !pending; i++) {
			const struct lookup *l =
			    *table_slot(&en->lookups, urls[i], false);

			pending = !l->done;
		}
		if (!pending)
			return 0;
		if (en->stop && *en->stop)
			return err_set(e, ERR_INTERNAL, "interrupted");
		if (loop_once(en, 1000) < 0)
			return -1;
	}
}

int engine_prefetch(struct engine *en, char *const *urls, size_t n,
		    struct err *e)
{
	return prefetch(en, urls, n, 0, e);
}

int engine_prefetch_paging(struct engine *en, const char *url, struct err *e)
{
	char *u[1] = {(char *)url};

	return prefetch(en, u, 1, OP_PAGING, e);
}

const cJSON *engine_cached(struct engine *en, const char *url, const char **err)
{
	void **slot = table_slot(&en->lookups, url, false);
	const struct lookup *l = slot ? *slot : NULL;

	if (err)
		*err = l && l->done && !l->json ? l->error : "not fetched";
	return l && l->done ? l->json : NULL;
}

void engine_seed(struct engine *en, const char *url, cJSON *json)
{
	void **slot = table_slot(&en->lookups, url, true);
	struct lookup *l;

	if (*slot) {
		cJSON_Delete(json);
		return;
	}
	l = xcalloc(1, sizeof(*l));
	l->url = xstrdup(url);
	l->done = true;
	l->json = json;
	*slot = l;
}
