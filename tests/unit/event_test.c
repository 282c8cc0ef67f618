/*
 * event_test.c - tests of the single-allocation event (src/core/event.c)
 * against the ownership rules stated in core/event.h: one block holds the
 * struct, header table, header strings and body; duplicate keys keep the
 * last value; set/remove/dup keep every other header and the body intact.
 * Run under ASan to prove there are no overruns, leaks or double frees.
 * Single-threaded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/event.h"
#include "core/err.h"

#include <malloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* True when [p, p+len] lies inside the event's own block. */
static bool inside(const struct flm_event *ev, const void *p, size_t len)
{
    const char *lo = (const char *)ev;
    const char *hi = lo + flm_event_size(ev);
    return (const char *)p >= lo && (const char *)p + len <= hi;
}

/* Every pointer of the event is inside its one allocation, strings are
 * NUL-terminated, and the block really is that big. */
static void assert_one_block(const struct flm_event *ev)
{
    assert_true(malloc_usable_size((void *)ev) >= flm_event_size(ev));
    assert_true(inside(ev, ev->body, (size_t)ev->body_len + 1));
    assert_int_equal(ev->body[ev->body_len], '\0');
    for (uint32_t i = 0; i < ev->nhdr; i++) {
        assert_true(inside(ev, ev->hdr[i].key, ev->hdr[i].klen + 1));
        assert_true(inside(ev, ev->hdr[i].val, ev->hdr[i].vlen + 1));
        assert_int_equal(strlen(ev->hdr[i].key), ev->hdr[i].klen);
        assert_int_equal(strlen(ev->hdr[i].val), ev->hdr[i].vlen);
    }
}

static void event_without_headers_copies_body_into_its_block(void **state)
{
    (void)state;
    char body[] = "hello";
    struct flm_event *ev = flm_event_new(body, 5, NULL, 0);
    assert_non_null(ev);
    assert_int_equal(ev->nhdr, 0);
    assert_int_equal(ev->body_len, 5);
    assert_ptr_not_equal(ev->body, (uint8_t *)body);
    body[0] = 'J';   /* the input was borrowed, not kept */
    assert_memory_equal(ev->body, "hello", 6);
    assert_one_block(ev);
    assert_null(flm_event_header(ev, "x"));
    flm_event_free(ev);
}

static void empty_body_is_allowed_and_nul_terminated(void **state)
{
    (void)state;
    struct flm_event *ev = flm_event_new(NULL, 0, NULL, 0);
    assert_non_null(ev);
    assert_int_equal(ev->body_len, 0);
    assert_int_equal(ev->body[0], '\0');
    assert_one_block(ev);
    flm_event_free(ev);

    struct flm_hdr h = flm_hdr_str("k", "");
    ev = flm_event_new(NULL, 0, &h, 1);
    assert_non_null(ev);
    assert_string_equal(flm_event_header(ev, "k"), "");
    assert_one_block(ev);
    flm_event_free(ev);
}

static void headers_and_body_live_in_one_allocation(void **state)
{
    (void)state;
    struct flm_hdr h[] = {flm_hdr_str("host", "example.org"), flm_hdr_str("timestamp", "17"),
                          flm_hdr_str("", "emptykey")};
    const char body[] = "a\0b\0c";   /* embedded NULs are body bytes */
    struct flm_event *ev = flm_event_new(body, 5, h, 3);
    assert_non_null(ev);
    assert_int_equal(ev->nhdr, 3);
    assert_int_equal(ev->body_len, 5);
    assert_memory_equal(ev->body, body, 5);
    assert_string_equal(flm_event_header(ev, "host"), "example.org");
    assert_string_equal(flm_event_header(ev, "timestamp"), "17");
    assert_string_equal(flm_event_header(ev, ""), "emptykey");
    /* Header strings were copied, not borrowed. */
    assert_ptr_not_equal(ev->hdr[0].key, h[0].key);
    assert_one_block(ev);
    /* Insertion order. */
    assert_string_equal(ev->hdr[0].key, "host");
    assert_string_equal(ev->hdr[1].key, "timestamp");
    flm_event_free(ev);
}

static void duplicate_header_keys_keep_the_last_value(void **state)
{
    (void)state;
    struct flm_hdr h[] = {flm_hdr_str("a", "1"), flm_hdr_str("b", "2"), flm_hdr_str("a", "3"),
                          flm_hdr_str("a", "4"), flm_hdr_str("ab", "5")};
    struct flm_event *ev = flm_event_new("x", 1, h, 5);
    assert_non_null(ev);
    assert_int_equal(ev->nhdr, 3);
    assert_string_equal(flm_event_header(ev, "a"), "4");
    assert_string_equal(flm_event_header(ev, "b"), "2");
    assert_string_equal(flm_event_header(ev, "ab"), "5");
    assert_one_block(ev);
    size_t na = 0;
    for (uint32_t i = 0; i < ev->nhdr; i++)
        na += strcmp(ev->hdr[i].key, "a") == 0;
    assert_int_equal(na, 1);
    flm_event_free(ev);
}

static void set_header_adds_and_replaces_keeping_the_rest(void **state)
{
    (void)state;
    struct flm_hdr h[] = {flm_hdr_str("a", "1"), flm_hdr_str("b", "2")};
    struct flm_event *ev = flm_event_new("body!", 5, h, 2);
    assert_non_null(ev);

    assert_int_equal(flm_event_set_header(&ev, "c", "3"), FLM_OK);
    assert_int_equal(ev->nhdr, 3);
    assert_string_equal(flm_event_header(ev, "c"), "3");
    assert_string_equal(flm_event_header(ev, "a"), "1");
    assert_one_block(ev);

    assert_int_equal(flm_event_set_header(&ev, "a", "a much longer value than before"), FLM_OK);
    assert_int_equal(ev->nhdr, 3);
    assert_string_equal(flm_event_header(ev, "a"), "a much longer value than before");
    assert_string_equal(flm_event_header(ev, "b"), "2");
    assert_string_equal(flm_event_header(ev, "c"), "3");
    assert_int_equal(ev->body_len, 5);
    assert_memory_equal(ev->body, "body!", 6);
    assert_one_block(ev);

    /* Setting from the event's own strings (they move with *ev). */
    assert_int_equal(flm_event_set_header(&ev, "b", flm_event_header(ev, "c")), FLM_OK);
    assert_string_equal(flm_event_header(ev, "b"), "3");
    assert_one_block(ev);
    flm_event_free(ev);
}

static void set_header_past_sixteen_headers(void **state)
{
    (void)state;
    char keys[40][8], vals[40][8];
    struct flm_hdr h[40];
    for (int i = 0; i < 40; i++) {
        snprintf(keys[i], sizeof(keys[i]), "k%d", i);
        snprintf(vals[i], sizeof(vals[i]), "v%d", i);
        h[i] = flm_hdr_str(keys[i], vals[i]);
    }
    struct flm_event *ev = flm_event_new("b", 1, h, 40);
    assert_non_null(ev);
    assert_int_equal(flm_event_set_header(&ev, "k39", "new"), FLM_OK);
    assert_int_equal(flm_event_set_header(&ev, "k40", "v40"), FLM_OK);
    assert_int_equal(ev->nhdr, 41);
    for (int i = 0; i < 39; i++)
        assert_string_equal(flm_event_header(ev, keys[i]), vals[i]);
    assert_string_equal(flm_event_header(ev, "k39"), "new");
    assert_string_equal(flm_event_header(ev, "k40"), "v40");
    assert_one_block(ev);
    flm_event_free(ev);
}

static void remove_header_removes_only_that_key(void **state)
{
    (void)state;
    struct flm_hdr h[] = {flm_hdr_str("a", "1"), flm_hdr_str("b", "2"), flm_hdr_str("c", "3")};
    struct flm_event *ev = flm_event_new("xyz", 3, h, 3);
    assert_non_null(ev);
    flm_event_remove_header(ev, "nosuch");
    assert_int_equal(ev->nhdr, 3);
    flm_event_remove_header(ev, "b");
    assert_int_equal(ev->nhdr, 2);
    assert_null(flm_event_header(ev, "b"));
    assert_string_equal(flm_event_header(ev, "a"), "1");
    assert_string_equal(flm_event_header(ev, "c"), "3");
    assert_memory_equal(ev->body, "xyz", 4);
    flm_event_remove_header(ev, "a");
    flm_event_remove_header(ev, "c");
    assert_int_equal(ev->nhdr, 0);
    assert_memory_equal(ev->body, "xyz", 4);

    /* A dup after removals is a clean, smaller event; set still works. */
    struct flm_event *d = flm_event_dup(ev);
    assert_non_null(d);
    assert_int_equal(d->nhdr, 0);
    assert_one_block(d);
    assert_int_equal(flm_event_set_header(&ev, "b", "again"), FLM_OK);
    assert_string_equal(flm_event_header(ev, "b"), "again");
    assert_int_equal(ev->nhdr, 1);
    flm_event_free(d);
    flm_event_free(ev);
}

static void dup_is_a_deep_independent_copy(void **state)
{
    (void)state;
    struct flm_hdr h[] = {flm_hdr_str("k", "v"), flm_hdr_str("k2", "v2")};
    struct flm_event *ev = flm_event_new("payload", 7, h, 2);
    assert_non_null(ev);
    struct flm_event *d = flm_event_dup(ev);
    assert_non_null(d);
    assert_ptr_not_equal(d, ev);
    assert_ptr_not_equal(d->body, ev->body);
    assert_ptr_not_equal(d->hdr[0].key, ev->hdr[0].key);
    assert_int_equal(d->nhdr, 2);
    assert_int_equal(d->body_len, 7);
    assert_int_equal(flm_event_size(d), flm_event_size(ev));
    assert_one_block(d);
    flm_event_free(ev);   /* the copy must not point into the original */
    assert_string_equal(flm_event_header(d, "k"), "v");
    assert_string_equal(flm_event_header(d, "k2"), "v2");
    assert_memory_equal(d->body, "payload", 8);
    d->body[0] = 'P';     /* writable, its own */
    flm_event_free(d);
}

static void large_binary_bodies_round_trip(void **state)
{
    (void)state;
    size_t len = (size_t)16 << 20;
    uint8_t *buf = malloc(len);
    assert_non_null(buf);
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)(i * 131 + (i >> 13));
    struct flm_hdr h = flm_hdr_str("big", "yes");
    struct flm_event *ev = flm_event_new(buf, len, &h, 1);
    assert_non_null(ev);
    assert_int_equal(ev->body_len, len);
    assert_memory_equal(ev->body, buf, len);
    assert_true(flm_event_size(ev) >= len);
    assert_one_block(ev);
    struct flm_event *d = flm_event_dup(ev);
    assert_non_null(d);
    assert_memory_equal(d->body, buf, len);
    assert_int_equal(flm_event_set_header(&d, "more", "x"), FLM_OK);
    assert_memory_equal(d->body, buf, len);
    flm_event_free(d);
    flm_event_free(ev);
    free(buf);
}

static void body_of_four_gib_or_more_is_refused(void **state)
{
    (void)state;
    static const char tiny[1];
    /* The length check comes before any read of the body. */
    assert_null(flm_event_new(tiny, (size_t)UINT32_MAX, NULL, 0));
    struct flm_hdr h = flm_hdr_str("k", "v");
    assert_null(flm_event_new(tiny, (size_t)UINT32_MAX, &h, 1));
}

static void size_accounts_for_every_part(void **state)
{
    (void)state;
    struct flm_event *a = flm_event_new("12345", 5, NULL, 0);
    struct flm_hdr h = flm_hdr_str("key", "value");
    struct flm_event *b = flm_event_new("12345", 5, &h, 1);
    assert_non_null(a);
    assert_non_null(b);
    assert_true(flm_event_size(a) >= sizeof(struct flm_event) + 5 + 1);
    assert_int_equal(flm_event_size(b) - flm_event_size(a), sizeof(struct flm_hdr) + 3 + 5 + 2);
    flm_event_free(a);
    flm_event_free(b);
    flm_event_free(NULL);   /* free(NULL)-like */
}

/* A chain of header interceptors: the first set rebuilds the block with
 * room to spare, the next ones write in place (the pointer stays put). */
static void later_header_sets_happen_in_place(void **state)
{
    (void)state;
    struct flm_event *ev = flm_event_new("body", 4, NULL, 0);
    assert_non_null(ev);
    assert_int_equal(flm_event_set_header(&ev, "timestamp", "1700000000000"), FLM_OK);
    struct flm_event *after_first = ev;
    assert_int_equal(flm_event_set_header(&ev, "host", "10.0.0.1"), FLM_OK);
    assert_int_equal(flm_event_set_header(&ev, "datacenter", "east"), FLM_OK);
    assert_ptr_equal(ev, after_first);
    /* Replacing with a shorter value reuses its bytes, a longer one the spare room. */
    assert_int_equal(flm_event_set_header(&ev, "datacenter", "w"), FLM_OK);
    assert_int_equal(flm_event_set_header(&ev, "host", "a-much-longer-host-name"), FLM_OK);
    assert_ptr_equal(ev, after_first);
    assert_string_equal(flm_event_header(ev, "timestamp"), "1700000000000");
    assert_string_equal(flm_event_header(ev, "host"), "a-much-longer-host-name");
    assert_string_equal(flm_event_header(ev, "datacenter"), "w");
    assert_int_equal(ev->nhdr, 3);
    assert_memory_equal(ev->body, "body", 5);
    /* Everything still lives inside the block. */
    for (uint32_t i = 0; i < ev->nhdr; i++) {
        assert_true((const char *)ev->hdr[i].val >= (const char *)ev);
        assert_true((const char *)ev->hdr[i].val + ev->hdr[i].vlen < (const char *)ev + ev->size);
    }
    /* A copy is compact again and equal. */
    struct flm_event *d = flm_event_dup(ev);
    assert_non_null(d);
    assert_int_equal(d->hcap, d->nhdr);
    assert_int_equal(d->used, d->size);
    assert_string_equal(flm_event_header(d, "host"), "a-much-longer-host-name");
    flm_event_free(d);
    flm_event_free(ev);
}

/* Room reserved at creation: the headers an interceptor chain adds go in
 * place (the event never moves); what does not fit still rebuilds once. */
static void event_made_with_room_takes_headers_in_place(void **state)
{
    (void)state;
    struct flm_event *ev = flm_event_new_room("body", 4, NULL, 0, 3, 3 * 48);
    assert_non_null(ev);
    assert_int_equal(ev->nhdr, 0);
    assert_int_equal(ev->hcap, 3);
    assert_int_equal(ev->size - ev->used, 3 * 48);
    assert_int_equal(ev->body_len, 4);
    assert_memory_equal(ev->body, "body", 5);
    assert_one_block(ev);
    struct flm_event *orig = ev;
    assert_int_equal(flm_event_set_header(&ev, "timestamp", "1700000000000"), FLM_OK);
    assert_int_equal(flm_event_set_header(&ev, "host", "10.0.0.1"), FLM_OK);
    assert_int_equal(flm_event_set_header(&ev, "datacenter", "east"), FLM_OK);
    assert_ptr_equal(ev, orig);
    assert_int_equal(ev->nhdr, 3);
    assert_one_block(ev);
    assert_string_equal(flm_event_header(ev, "timestamp"), "1700000000000");
    assert_string_equal(flm_event_header(ev, "host"), "10.0.0.1");
    assert_string_equal(flm_event_header(ev, "datacenter"), "east");
    assert_memory_equal(ev->body, "body", 5);
    /* No slot left: the fourth header rebuilds the block, keeping everything. */
    assert_int_equal(flm_event_set_header(&ev, "extra", "x"), FLM_OK);
    assert_int_equal(ev->nhdr, 4);
    assert_one_block(ev);
    assert_string_equal(flm_event_header(ev, "timestamp"), "1700000000000");
    assert_string_equal(flm_event_header(ev, "extra"), "x");
    assert_memory_equal(ev->body, "body", 5);
    flm_event_free(ev);
}

/* Slots without enough bytes (and bytes without a slot) are not enough. */
static void room_needs_both_a_slot_and_the_bytes(void **state)
{
    (void)state;
    struct flm_event *ev = flm_event_new_room("b", 1, NULL, 0, 1, 4);
    assert_non_null(ev);
    struct flm_event *orig = ev;
    assert_int_equal(flm_event_set_header(&ev, "k", "v"), FLM_OK); /* 4 bytes: fits */
    assert_ptr_equal(ev, orig);
    flm_event_free(ev);
    ev = flm_event_new_room("b", 1, NULL, 0, 1, 4);
    assert_non_null(ev);
    assert_int_equal(flm_event_set_header(&ev, "key", "v"), FLM_OK); /* 6 bytes */
    assert_string_equal(flm_event_header(ev, "key"), "v");
    assert_one_block(ev);
    flm_event_free(ev);
    ev = flm_event_new_room("b", 1, NULL, 0, 0, 64);
    assert_non_null(ev);
    assert_int_equal(ev->hcap, 0);
    assert_int_equal(flm_event_set_header(&ev, "k", "v"), FLM_OK);
    assert_string_equal(flm_event_header(ev, "k"), "v");
    assert_one_block(ev);
    flm_event_free(ev);
}

/* With headers of its own the event keeps them (last duplicate wins) and
 * still has the room; no room at all is exactly flm_event_new. */
static void room_with_source_headers_and_zero_room(void **state)
{
    (void)state;
    struct flm_hdr h[] = {flm_hdr_str("a", "1"), flm_hdr_str("b", "2"), flm_hdr_str("a", "3")};
    struct flm_event *ev = flm_event_new_room("xyz", 3, h, 3, 2, 40);
    assert_non_null(ev);
    assert_int_equal(ev->nhdr, 2);
    assert_int_equal(ev->hcap, 4);
    assert_int_equal(ev->size - ev->used, 40);
    assert_string_equal(flm_event_header(ev, "a"), "3");
    struct flm_event *orig = ev;
    assert_int_equal(flm_event_set_header(&ev, "c", "4"), FLM_OK);
    assert_int_equal(flm_event_set_header(&ev, "d", "5"), FLM_OK);
    assert_ptr_equal(ev, orig);
    assert_one_block(ev);
    assert_string_equal(flm_event_header(ev, "b"), "2");
    assert_string_equal(flm_event_header(ev, "d"), "5");
    assert_memory_equal(ev->body, "xyz", 4);
    flm_event_free(ev);

    struct flm_event *a = flm_event_new_room("xyz", 3, NULL, 0, 0, 0);
    struct flm_event *b = flm_event_new("xyz", 3, NULL, 0);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(a->hcap, 0);
    assert_int_equal(a->used, a->size);
    assert_int_equal(a->size, b->size);
    flm_event_free(a);
    flm_event_free(b);
}

static void room_beyond_four_gib_is_refused(void **state)
{
    (void)state;
    assert_null(flm_event_new_room("b", 1, NULL, 0, 0, (size_t)UINT32_MAX + 1));
    assert_null(flm_event_new_room("b", 1, NULL, 0, (size_t)UINT32_MAX, 0));
    assert_null(flm_event_new_room("b", 1, NULL, 0, 0, (size_t)UINT32_MAX - 8));
    struct flm_hdr h = flm_hdr_str("k", "v");
    assert_null(flm_event_new_room("b", 1, &h, 1, 0, (size_t)UINT32_MAX - 8));
}

/* Many headers with duplicates: last wins, and it does not take O(n^2). */
static void many_duplicate_headers_keep_the_last_of_each(void **state)
{
    (void)state;
    enum { N = 200000, KEYS = 1000 };
    struct flm_hdr *h = malloc(N * sizeof(*h));
    char (*keys)[16] = malloc(KEYS * sizeof(*keys));
    char (*vals)[16] = malloc(N * sizeof(*vals));
    assert_non_null(h);
    for (int k = 0; k < KEYS; k++)
        snprintf(keys[k], sizeof(keys[k]), "k%d", k);
    for (int i = 0; i < N; i++) {
        snprintf(vals[i], sizeof(vals[i]), "%d", i);
        h[i] = flm_hdr_str(keys[i % KEYS], vals[i]);
    }
    struct flm_event *ev = flm_event_new("x", 1, h, N);
    assert_non_null(ev);
    assert_int_equal(ev->nhdr, KEYS);
    char want[16];
    snprintf(want, sizeof(want), "%d", N - KEYS + 7);
    assert_string_equal(flm_event_header(ev, "k7"), want);
    flm_event_free(ev);
    free(h);
    free(keys);
    free(vals);
}

/* A template goes into an event whole, after its own headers, in place;
 * not at all when the event already has one of its keys or lacks a slot
 * or the bytes.  Templates refuse duplicate keys and overflow. */
static void header_template_goes_in_whole_or_not_at_all(void **state)
{
    (void)state;
    struct flm_hdr_tmpl t;
    flm_hdr_tmpl_reset(&t);
    assert_true(flm_hdr_tmpl_add(&t, "timestamp", 9, "1700000000000", 13));
    assert_true(flm_hdr_tmpl_add(&t, "host", 4, "10.0.0.1", 8));
    assert_false(flm_hdr_tmpl_add(&t, "host", 4, "other", 5)); /* duplicate key */
    assert_true(flm_hdr_tmpl_add(&t, "dc", 2, "", 0));
    assert_int_equal(t.n, 3);
    assert_int_equal(t.nbytes, 10 + 14 + 5 + 9 + 3 + 1);

    struct flm_hdr own = flm_hdr_str("a", "1");
    struct flm_event *ev = flm_event_new_room("body", 4, &own, 1, 3, t.nbytes);
    struct flm_event *orig = ev;
    assert_true(flm_event_add_tmpl(ev, &t));
    assert_ptr_equal(ev, orig);
    assert_int_equal(ev->nhdr, 4);
    assert_string_equal(ev->hdr[0].key, "a");
    assert_string_equal(ev->hdr[1].key, "timestamp");
    assert_string_equal(ev->hdr[1].val, "1700000000000");
    assert_int_equal(ev->hdr[1].vlen, 13);
    assert_string_equal(ev->hdr[2].val, "10.0.0.1");
    assert_string_equal(ev->hdr[3].key, "dc");
    assert_string_equal(ev->hdr[3].val, "");
    assert_memory_equal(ev->body, "body", 5);
    assert_int_equal(ev->used, ev->size);
    assert_false(flm_event_add_tmpl(ev, &t)); /* now it has the keys (and no room) */
    assert_int_equal(ev->nhdr, 4);
    flm_event_free(ev);

    struct flm_hdr has = flm_hdr_str("host", "mine");
    ev = flm_event_new_room("b", 1, &has, 1, 8, 256);
    assert_false(flm_event_add_tmpl(ev, &t));
    assert_int_equal(ev->nhdr, 1);
    flm_event_free(ev);
    ev = flm_event_new_room("b", 1, NULL, 0, 2, 256); /* one slot short */
    assert_false(flm_event_add_tmpl(ev, &t));
    assert_int_equal(ev->nhdr, 0);
    flm_event_free(ev);
    ev = flm_event_new_room("b", 1, NULL, 0, 3, t.nbytes - 1); /* one byte short */
    assert_false(flm_event_add_tmpl(ev, &t));
    flm_event_free(ev);

    char big[FLM_TMPL_MAX_BYTES];
    memset(big, 'x', sizeof(big));
    assert_false(flm_hdr_tmpl_add(&t, "big", 3, big, sizeof(big) - 40));
    flm_hdr_tmpl_reset(&t);
    for (int i = 0; i < FLM_TMPL_MAX_HDRS; i++) {
        char k[8];
        snprintf(k, sizeof(k), "k%d", i);
        assert_true(flm_hdr_tmpl_add(&t, k, strlen(k), "v", 1));
    }
    assert_false(flm_hdr_tmpl_add(&t, "one-more", 8, "v", 1));
}

/* flm_bytes_eq finds a difference at every position of every length it
 * handles by word loads (0..16) and beyond; flm_event_header_n gives the
 * value's length. */
static void bytes_eq_and_header_lookup_by_length(void **state)
{
    (void)state;
    char a[40], b[40];
    for (size_t n = 0; n <= 24; n++) {
        for (size_t i = 0; i < n; i++)
            a[i] = b[i] = (char)('a' + i);
        assert_true(flm_bytes_eq(a, b, n));
        for (size_t i = 0; i < n; i++) {
            b[i] = '#';
            assert_false(flm_bytes_eq(a, b, n));
            b[i] = a[i];
        }
    }
    struct flm_hdr h[] = {flm_hdr_str("datacenter", "east"), flm_hdr_str("datacentre", "x")};
    struct flm_event *ev = flm_event_new("b", 1, h, 2);
    size_t vlen = 0;
    assert_string_equal(flm_event_header_n(ev, "datacenter", 10, &vlen), "east");
    assert_int_equal(vlen, 4);
    assert_string_equal(flm_event_header_n(ev, "datacentre", 10, NULL), "x");
    assert_null(flm_event_header_n(ev, "datacent", 8, &vlen));
    flm_event_free(ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(event_without_headers_copies_body_into_its_block),
        cmocka_unit_test(empty_body_is_allowed_and_nul_terminated),
        cmocka_unit_test(headers_and_body_live_in_one_allocation),
        cmocka_unit_test(duplicate_header_keys_keep_the_last_value),
        cmocka_unit_test(set_header_adds_and_replaces_keeping_the_rest),
        cmocka_unit_test(set_header_past_sixteen_headers),
        cmocka_unit_test(remove_header_removes_only_that_key),
        cmocka_unit_test(dup_is_a_deep_independent_copy),
        cmocka_unit_test(large_binary_bodies_round_trip),
        cmocka_unit_test(body_of_four_gib_or_more_is_refused),
        cmocka_unit_test(size_accounts_for_every_part),
        cmocka_unit_test(later_header_sets_happen_in_place),
        cmocka_unit_test(many_duplicate_headers_keep_the_last_of_each),
        cmocka_unit_test(event_made_with_room_takes_headers_in_place),
        cmocka_unit_test(room_needs_both_a_slot_and_the_bytes),
        cmocka_unit_test(room_with_source_headers_and_zero_room),
        cmocka_unit_test(room_beyond_four_gib_is_refused),
        cmocka_unit_test(header_template_goes_in_whole_or_not_at_all),
        cmocka_unit_test(bytes_eq_and_header_lookup_by_length),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
