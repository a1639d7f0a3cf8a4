/*
 * jsonmem.c: arenas for parsed cJSON trees; see jsonmem.h.
 *
 * Layout of an allocation: [header][user bytes]. The header holds the
 * owning arena, NULL for memory taken from malloc. In arenas the user
 * bytes start 8-aligned (cJSON needs no more: pointers, doubles, chars);
 * malloc'ed ones keep malloc's 16-byte alignment. Under AddressSanitizer
 * the header also records the size so that freed arena memory can be
 * poisoned: a use after cJSON_Delete() is then reported as it would be
 * with malloc.
 */
#include "compat.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jsonmem.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define JSON_ASAN 1
#else
#define JSON_ASAN 0
#define ASAN_POISON_MEMORY_REGION(p, n) ((void)(p), (void)(n))
#define ASAN_UNPOISON_MEMORY_REGION(p, n) ((void)(p), (void)(n))
#endif

#include "banned.h"

struct chunk {
	struct chunk *next;
	size_t size; /* bytes after this header */
};

struct arena {
	size_t live;  /* allocations not yet freed */
	bool open;    /* json_parse() is still adding to it */
	char *next;   /* bump pointer in the newest chunk */
	char *end;    /* end of the newest chunk */
	size_t chunk; /* size of the next chunk to take */
	struct chunk *chunks;
};

struct hdr {
	struct arena *arena; /* NULL: the block came from malloc */
#if JSON_ASAN
	size_t size;
#endif
};

/* Header size in arenas, a multiple of 8; 16 in front of malloc blocks. */
#define HDR_ARENA ((sizeof(struct hdr) + 7) & ~(size_t)7)
#define HDR_HEAP ((size_t)16)

static struct arena *current; /* the arena json_parse() is filling */
static size_t narenas;

static void *from_heap(size_t size)
{
	char *base = xmalloc(HDR_HEAP + size);
	struct hdr *h = (struct hdr *)(base + HDR_HEAP - sizeof(*h));

	h->arena = NULL;
	return base + HDR_HEAP;
}

static void add_chunk(struct arena *a, size_t need)
{
	size_t size = a->chunk > need ? a->chunk : need;
	struct chunk *c = xmalloc(sizeof(*c) + size);

	c->next = a->chunks;
	c->size = size;
	a->chunks = c;
	a->next = (char *)(c + 1);
	a->end = a->next + size;
	ASAN_POISON_MEMORY_REGION(a->next, size);
}

static void *from_arena(struct arena *a, size_t size)
{
	size_t need = HDR_ARENA + ((size + 7) & ~(size_t)7);
	struct hdr *h;
	char *p;

	if (need > (size_t)(a->end - a->next))
		add_chunk(a, need);
	p = a->next;
	a->next += need;
	a->live++;
	ASAN_UNPOISON_MEMORY_REGION(p, HDR_ARENA + size);
	h = (struct hdr *)(p + HDR_ARENA - sizeof(*h));
	h->arena = a;
#if JSON_ASAN
	h->size = size;
#endif
	return p + HDR_ARENA;
}

static void arena_free(struct arena *a)
{
	struct chunk *c, *next;

	for (c = a->chunks; c; c = next) {
		next = c->next;
		ASAN_UNPOISON_MEMORY_REGION(c + 1, c->size);
		free(c);
	}
	free(a);
	narenas--;
}

static void *json_malloc(size_t size)
{
	return current ? from_arena(current, size) : from_heap(size);
}

static void json_free(void *p)
{
	struct hdr *h;
	struct arena *a;

	if (!p)
		return;
	h = (struct hdr *)((char *)p - sizeof(*h));
	a = h->arena;
	if (!a) {
		free((char *)p - HDR_HEAP);
		return;
	}
#if JSON_ASAN
	ASAN_POISON_MEMORY_REGION((char *)p - HDR_ARENA, HDR_ARENA + h->size);
#endif
	if (!a->live)
		BUG("json_free: more frees than allocations in an arena");
	if (--a->live == 0 && !a->open)
		arena_free(a);
}

void json_mem_init(void)
{
	cJSON_Hooks hooks = {.malloc_fn = json_malloc, .free_fn = json_free};

	cJSON_InitHooks(&hooks);
}

cJSON *json_parse(const char *s, size_t len)
{
	struct arena *a;
	cJSON *root;

	if (current)
		BUG("json_parse: called while parsing");
	a = xcalloc(1, sizeof(*a));
	/*
	 * A tree takes about three times its text (items of 64 bytes for
	 * values of a few bytes); one chunk is enough for most answers and
	 * pages never written to are never touched.
	 */
	a->chunk = len < 1024 ? 4096 : 3 * len;
	a->open = true;
	narenas++;
	current = a;
	root = cJSON_ParseWithLength(s, len);
	current = NULL;
	a->open = false;
	if (!a->live)
		arena_free(a);
	return root;
}

size_t json_mem_arenas(void)
{
	return narenas;
}
