/*
 * memory_channel_test.c - unit tests for the memory channel
 * (src/channels/memory.c) driven through the core transaction wrappers
 * (flm_txn_*), so counters and transaction state are exercised as the
 * agent exercises them.  Some tests use real threads: a blocked taker, a
 * committer waiting for room, and a 4-producer/2-consumer stress run.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/component.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern const struct flm_type flm_channel_memory;

static const struct flm_channel_ops *OPS(void)
{
    return flm_channel_memory.ops;
}

/* ------------------------------------------------------------- fixtures */

/* Loads kv pairs (NULL-terminated key, value list) through the channel's
 * property table and validate hook into a fresh conf.  Returns the conf, or
 * NULL when the channel would be rejected; d collects the messages. */
static void *load_conf(const char *const *kv, struct flm_diag *d)
{
    struct flm_kvs kvs;
    flm_kvs_init(&kvs);
    for (size_t i = 0; kv && kv[i]; i += 2)
        assert_int_equal(flm_kvs_set(&kvs, kv[i], kv[i + 1], "test.conf", (int)i + 1), FLM_OK);
    void *conf = calloc(1, flm_channel_memory.conf_size);
    assert_non_null(conf);
    int rc = flm_props_load(flm_channel_memory.props, &kvs, conf, "a1.channels.c1", d);
    if (rc == FLM_OK && flm_channel_memory.validate)
        rc = flm_channel_memory.validate(conf, "a1.channels.c1", d);
    flm_kvs_free(&kvs);
    if (rc != FLM_OK) {
        flm_props_free(flm_channel_memory.props, conf);
        free(conf);
        return NULL;
    }
    return conf;
}

static void free_conf(void *conf)
{
    flm_props_free(flm_channel_memory.props, conf);
    free(conf);
}

static struct flm_channel *chan_new(const char *const *kv)
{
    struct flm_diag d;
    flm_diag_init(&d);
    void *conf = load_conf(kv, &d);
    assert_non_null(conf);
    flm_diag_free(&d);
    struct flm_channel *ch = calloc(1, sizeof(*ch));
    assert_non_null(ch);
    snprintf(ch->c.name, sizeof(ch->c.name), "c1");
    snprintf(ch->c.path, sizeof(ch->c.path), "a1.channels.c1");
    ch->c.type = &flm_channel_memory;
    ch->c.conf = conf;
    flm_logctx_init(&ch->c.log, ch->c.path, "memory");
    ch->c.ctr.group = "CHANNEL";
    flm_counters_start(&ch->c.ctr);
    struct flm_err err = {0};
    assert_int_equal(OPS()->init(ch, &err), FLM_OK);
    return ch;
}

static void chan_free(struct flm_channel *ch)
{
    OPS()->destroy(ch);
    OPS()->destroy(ch); /* must be idempotent */
    free_conf(ch->c.conf);
    free(ch);
}

static struct flm_event *ev_num(uint64_t n)
{
    struct flm_event *ev = flm_event_new(&n, sizeof(n), NULL, 0);
    assert_non_null(ev);
    return ev;
}

static uint64_t ev_numof(const struct flm_event *ev)
{
    uint64_t n;
    assert_int_equal(ev->body_len, sizeof(n));
    memcpy(&n, ev->body, sizeof(n));
    return n;
}

static struct flm_event *ev_bytes(size_t len)
{
    char *b = malloc(len + 1);
    assert_non_null(b);
    memset(b, 'x', len);
    struct flm_event *ev = flm_event_new(b, len, NULL, 0);
    free(b);
    assert_non_null(ev);
    return ev;
}

/* Puts events first..first+n-1 in one transaction; returns the commit code
 * (the transaction is rolled back and ended on failure). */
static int put_range(struct flm_channel *ch, uint64_t first, size_t n, char *msg, size_t mcap)
{
    struct flm_txn *tx;
    assert_int_equal(flm_txn_begin(ch, &tx), FLM_OK);
    struct flm_event *evs[256];
    assert_true(n <= 256);
    for (size_t i = 0; i < n; i++)
        evs[i] = ev_num(first + i);
    int rc = flm_txn_put(tx, evs, n);
    if (rc != FLM_OK) {
        for (size_t i = 0; i < n; i++)
            flm_event_free(evs[i]);
    } else {
        rc = flm_txn_commit(tx);
    }
    if (msg)
        snprintf(msg, mcap, "%s", tx->errmsg);
    flm_txn_end(tx);
    return rc;
}

/* Takes up to max events in one transaction, checks they are
 * first, first+1, ..., commits, frees them; returns how many. */
static size_t take_expect(struct flm_channel *ch, uint64_t first, size_t max)
{
    struct flm_txn *tx;
    struct flm_event *evs[256];
    size_t n;
    assert_int_equal(flm_txn_begin(ch, &tx), FLM_OK);
    assert_int_equal(flm_txn_take(tx, evs, max, &n), FLM_OK);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(ev_numof(evs[i]), first + i);
    assert_int_equal(flm_txn_commit(tx), FLM_OK);
    flm_txn_end(tx);
    for (size_t i = 0; i < n; i++)
        flm_event_free(evs[i]);
    return n;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define KV(...) ((const char *const[]){__VA_ARGS__, NULL})

static const char MSG_FULL[] =
    "Space for commit to queue couldn't be acquired. Sinks are likely not keeping up with "
    "sources, or the buffer size is too tight";

/* ------------------------------------------------------- capacity rules */

static void commit_into_full_channel_returns_efull_with_flume_text(void **state)
{
    (void)state;
    struct flm_channel *ch =
        chan_new(KV("capacity", "3", "transactionCapacity", "3", "keep-alive", "0"));
    char msg[256];
    assert_int_equal(put_range(ch, 0, 2, msg, sizeof msg), FLM_OK);
    assert_int_equal(put_range(ch, 2, 2, msg, sizeof msg), FLM_EFULL);
    assert_string_equal(msg, MSG_FULL);
    /* The failed transaction left nothing behind; one more still fits. */
    assert_int_equal(flm_channel_size(ch), 2);
    assert_int_equal(put_range(ch, 2, 1, msg, sizeof msg), FLM_OK);
    assert_int_equal(flm_channel_size(ch), 3);
    assert_int_equal(take_expect(ch, 0, 10), 3);
    chan_free(ch);
}

static void taken_but_uncommitted_events_still_occupy_capacity(void **state)
{
    (void)state;
    struct flm_channel *ch =
        chan_new(KV("capacity", "2", "transactionCapacity", "2", "keep-alive", "0"));
    assert_int_equal(put_range(ch, 0, 2, NULL, 0), FLM_OK);
    struct flm_txn *tk;
    struct flm_event *evs[2];
    size_t n;
    assert_int_equal(flm_txn_begin(ch, &tk), FLM_OK);
    assert_int_equal(flm_txn_take(tk, evs, 1, &n), FLM_OK);
    assert_int_equal(n, 1);
    assert_int_equal(put_range(ch, 2, 1, NULL, 0), FLM_EFULL);
    assert_int_equal(flm_txn_commit(tk), FLM_OK);
    flm_txn_end(tk);
    flm_event_free(evs[0]);
    assert_int_equal(put_range(ch, 2, 1, NULL, 0), FLM_OK);
    assert_int_equal(take_expect(ch, 1, 2), 2);
    chan_free(ch);
}

struct drain_arg {
    struct flm_channel *ch;
    unsigned delay_ms;
    size_t got;
};

static void *drain_later(void *p)
{
    struct drain_arg *a = p;
    struct timespec ts = {0, (long)a->delay_ms * 1000000L};
    nanosleep(&ts, NULL);
    a->got = take_expect(a->ch, 0, 1);
    return NULL;
}

static void commit_waits_keep_alive_for_room(void **state)
{
    (void)state;
    struct flm_channel *ch =
        chan_new(KV("capacity", "2", "transactionCapacity", "2", "keep-alive", "2"));
    assert_int_equal(put_range(ch, 0, 2, NULL, 0), FLM_OK);
    struct drain_arg a = {ch, 200, 0};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, drain_later, &a), 0);
    double t0 = now_s();
    assert_int_equal(put_range(ch, 2, 1, NULL, 0), FLM_OK);
    double dt = now_s() - t0;
    pthread_join(th, NULL);
    assert_int_equal(a.got, 1);
    assert_true(dt >= 0.15 && dt < 1.9);
    assert_int_equal(take_expect(ch, 1, 2), 2);
    chan_free(ch);
}

static void put_past_transaction_capacity_fails_with_put_queue_text(void **state)
{
    (void)state;
    struct flm_channel *ch = chan_new(KV("capacity", "10", "transactionCapacity", "3"));
    struct flm_txn *tx;
    struct flm_event *evs[4] = {ev_num(0), ev_num(1), ev_num(2), ev_num(3)};
    assert_int_equal(flm_txn_begin(ch, &tx), FLM_OK);
    assert_int_equal(flm_txn_put(tx, evs, 2), FLM_OK);
    assert_int_equal(flm_txn_put(tx, evs + 2, 2), FLM_EFULL); /* 2 + 2 > 3: none staged */
    assert_string_equal(tx->errmsg,
                        "Put queue for MemoryTransaction of capacity 3 full, consider committing "
                        "more frequently, increasing capacity or increasing thread count");
    assert_int_equal(flm_txn_put(tx, evs + 2, 1), FLM_OK);
    assert_int_equal(flm_txn_commit(tx), FLM_OK);
    flm_txn_end(tx);
    flm_event_free(evs[3]);
    assert_int_equal(take_expect(ch, 0, 10), 3);
    chan_free(ch);
}

static void take_past_transaction_capacity_fails_with_take_list_text(void **state)
{
    (void)state;
    struct flm_channel *ch = chan_new(KV("capacity", "10", "transactionCapacity", "3"));
    assert_int_equal(put_range(ch, 0, 3, NULL, 0), FLM_OK);
    assert_int_equal(put_range(ch, 3, 3, NULL, 0), FLM_OK);
    struct flm_txn *tx;
    struct flm_event *evs[10];
    size_t n;
    assert_int_equal(flm_txn_begin(ch, &tx), FLM_OK);
    assert_int_equal(flm_txn_take(tx, evs, 10, &n), FLM_OK);
    assert_int_equal(n, 3); /* bounded by the take list */
    size_t m = 99;
    assert_int_equal(flm_txn_take(tx, evs + 3, 1, &m), FLM_EFULL);
    assert_int_equal(m, 0);
    assert_string_equal(tx->errmsg,
                        "Take list for MemoryTransaction, capacity 3 full, consider committing "
                        "more frequently, increasing capacity, or increasing thread count");
    flm_txn_rollback(tx);
    flm_txn_end(tx);
    assert_int_equal(take_expect(ch, 0, 3), 3);
    assert_int_equal(take_expect(ch, 3, 3), 3);
    chan_free(ch);
}

static void byte_capacity_rejects_commit_past_budget_with_flume_text(void **state)
{
    (void)state;
    /* behaviours.md 2, verified in Flume: 1000 bytes, no buffer = 10 slots. */
    struct flm_channel *ch = chan_new(KV("byteCapacity", "1000", "byteCapacityBufferPercentage",
                                         "0", "keep-alive", "0"));
    struct flm_txn *tx;
    struct flm_event *big = ev_bytes(901), *one = ev_bytes(1);
    assert_int_equal(flm_txn_begin(ch, &tx), FLM_OK);
    assert_int_equal(flm_txn_put(tx, &big, 1), FLM_OK);
    assert_int_equal(flm_txn_commit(tx), FLM_OK);
    flm_txn_end(tx);

    assert_int_equal(flm_txn_begin(ch, &tx), FLM_OK);
    assert_int_equal(flm_txn_put(tx, &one, 1), FLM_OK);
    assert_int_equal(flm_txn_commit(tx), FLM_EFULL);
    assert_string_equal(tx->errmsg,
                        "Cannot commit transaction. Byte capacity allocated to store event body "
                        "1000.0reached. Please increase heap space/byte capacity allocated to the "
                        "channel as the sinks may not be keeping up with the sources");
    flm_txn_rollback(tx); /* frees `one` */
    flm_txn_end(tx);
    assert_int_equal(flm_channel_size(ch), 1);

    /* Taking the big event releases its 10 slots at commit. */
    struct flm_event *got;
    size_t n;
    assert_int_equal(flm_txn_begin(ch, &tx), FLM_OK);
    assert_int_equal(flm_txn_take(tx, &got, 1, &n), FLM_OK);
    assert_int_equal(n, 1);
    assert_int_equal(got->body_len, 901);
    assert_int_equal(flm_txn_commit(tx), FLM_OK);
    flm_txn_end(tx);
    flm_event_free(got);
    one = ev_bytes(1);
    assert_int_equal(flm_txn_begin(ch, &tx), FLM_OK);
    assert_int_equal(flm_txn_put(tx, &one, 1), FLM_OK);
    assert_int_equal(flm_txn_commit(tx), FLM_OK);
    flm_txn_end(tx);
    chan_free(ch);
}

static void byte_capacity_message_applies_buffer_percentage(void **state)
{
    (void)state;
    /* 1000 bytes minus 20% = 8 slots: "800.0"; nine 100-byte bodies fail. */
    struct flm_channel *ch = chan_new(KV("byteCapacity", "1000", "keep-alive", "0"));
    struct flm_txn *tx;
    struct flm_event *evs[9];
    for (int i = 0; i < 9; i++)
        evs[i] = ev_bytes(100);
    assert_int_equal(flm_txn_begin(ch, &tx), FLM_OK);
    assert_int_equal(flm_txn_put(tx, evs, 9), FLM_OK);
    assert_int_equal(flm_txn_commit(tx), FLM_EFULL);
    assert_non_null(strstr(tx->errmsg, "event body 800.0reached."));
    flm_txn_end(tx); /* rolls back and frees the puts */
    chan_free(ch);
}

/* Stores n bodies of len bytes in one committed transaction. */
static void put_bytes(struct flm_channel *ch, size_t n, size_t len)
{
    struct flm_txn *tx;
    assert_int_equal(flm_txn_begin(ch, &tx), FLM_OK);
    for (size_t i = 0; i < n; i++) {
        struct flm_event *e = ev_bytes(len);
        assert_int_equal(flm_txn_put(tx, &e, 1), FLM_OK);
    }
    assert_int_equal(flm_txn_commit(tx), FLM_OK);
    flm_txn_end(tx);
}

/* One transaction taking `take` events and putting `put` bodies of len
 * bytes; returns the commit code (rolled back and ended on failure). */
static int take_and_put(struct flm_channel *ch, size_t take, size_t put, size_t len)
{
    struct flm_txn *tx;
    struct flm_event *got[16];
    size_t n;
    assert_true(take <= 16);
    assert_int_equal(flm_txn_begin(ch, &tx), FLM_OK);
    assert_int_equal(flm_txn_take(tx, got, take, &n), FLM_OK);
    assert_int_equal(n, take);
    for (size_t i = 0; i < put; i++) {
        struct flm_event *e = ev_bytes(len);
        assert_int_equal(flm_txn_put(tx, &e, 1), FLM_OK);
    }
    int rc = flm_txn_commit(tx);
    flm_txn_end(tx);
    if (rc == FLM_OK)
        for (size_t i = 0; i < n; i++)
            flm_event_free(got[i]);
    return rc;
}

static void commit_that_grows_needs_byte_slots_for_all_its_puts(void **state)
{
    (void)state;
    /* 10 slots, 5 used.  Taking 5 and putting 6 grows the queue by one, so
     * Flume asks for the slots of all 6 puts while only 5 are free (the
     * taken events' slots are released only after). */
    struct flm_channel *ch = chan_new(KV("byteCapacity", "1000", "byteCapacityBufferPercentage",
                                         "0", "keep-alive", "0"));
    put_bytes(ch, 5, 100);
    assert_int_equal(take_and_put(ch, 5, 6, 100), FLM_EFULL);
    assert_int_equal(flm_channel_size(ch), 5);
    assert_int_equal(take_and_put(ch, 5, 5, 100), FLM_OK); /* no growth: no slots asked */
    assert_int_equal(flm_channel_size(ch), 5);
    chan_free(ch);
}

static void commit_without_growth_acquires_no_byte_slots(void **state)
{
    (void)state;
    /* Flume's quirk, kept: when takes >= puts nothing is acquired, so a
     * swap of one small body for a big one passes a full byte budget. */
    struct flm_channel *ch = chan_new(KV("byteCapacity", "1000", "byteCapacityBufferPercentage",
                                         "0", "keep-alive", "0"));
    put_bytes(ch, 10, 1);
    assert_int_equal(take_and_put(ch, 1, 1, 500), FLM_OK);
    assert_int_equal(flm_channel_size(ch), 10);
    chan_free(ch);
}

static void byte_capacity_zero_is_unlimited(void **state)
{
    (void)state;
    struct flm_channel *ch = chan_new(
        KV("byteCapacity", "0", "capacity", "200", "transactionCapacity", "200", "keep-alive", "0"));
    struct flm_txn *tx;
    struct flm_event *evs[200];
    for (int i = 0; i < 200; i++)
        evs[i] = ev_bytes(100000);
    assert_int_equal(flm_txn_begin(ch, &tx), FLM_OK);
    assert_int_equal(flm_txn_put(tx, evs, 200), FLM_OK);
    assert_int_equal(flm_txn_commit(tx), FLM_OK);
    flm_txn_end(tx);
    assert_int_equal(flm_channel_size(ch), 200);
    chan_free(ch); /* destroy frees the stored events */
}

/* ------------------------------------------------ transactions, ordering */

static void rollback_returns_takes_to_head_in_order(void **state)
{
    (void)state;
    struct flm_channel *ch = chan_new(KV("capacity", "8", "transactionCapacity", "8"));
    /* Wrap the ring first so the head is not at index 0. */
    assert_int_equal(put_range(ch, 100, 6, NULL, 0), FLM_OK);
    assert_int_equal(take_expect(ch, 100, 5), 5);
    assert_int_equal(put_range(ch, 106, 6, NULL, 0), FLM_OK);
    /* queue: 105..111 */
    struct flm_txn *tx;
    struct flm_event *evs[8];
    size_t n, m;
    assert_int_equal(flm_txn_begin(ch, &tx), FLM_OK);
    assert_int_equal(flm_txn_take(tx, evs, 2, &n), FLM_OK);
    assert_int_equal(flm_txn_take(tx, evs + 2, 2, &m), FLM_OK);
    assert_int_equal(n + m, 4);
    struct flm_event *p = ev_num(999);
    assert_int_equal(flm_txn_put(tx, &p, 1), FLM_OK);
    flm_txn_rollback(tx); /* frees the put, restores 105..108 */
    flm_txn_end(tx);
    assert_int_equal(flm_channel_size(ch), 7);
    assert_int_equal(take_expect(ch, 105, 8), 7);
    assert_int_equal(flm_channel_size(ch), 0);
    chan_free(ch);
}

static void ending_an_open_transaction_rolls_it_back(void **state)
{
    (void)state;
    struct flm_channel *ch = chan_new(KV("capacity", "8", "transactionCapacity", "8"));
    assert_int_equal(put_range(ch, 0, 3, NULL, 0), FLM_OK);
    struct flm_txn *tx;
    struct flm_event *evs[3];
    size_t n;
    assert_int_equal(flm_txn_begin(ch, &tx), FLM_OK);
    assert_int_equal(flm_txn_take(tx, evs, 3, &n), FLM_OK);
    assert_int_equal(n, 3);
    flm_txn_end(tx);
    assert_int_equal(take_expect(ch, 0, 8), 3);
    chan_free(ch);
}

static void puts_are_invisible_until_commit(void **state)
{
    (void)state;
    struct flm_channel *ch = chan_new(KV("keep-alive", "0"));
    struct flm_txn *tp, *tt;
    struct flm_event *e = ev_num(7), *got[2];
    size_t n;
    assert_int_equal(flm_txn_begin(ch, &tp), FLM_OK);
    assert_int_equal(flm_txn_put(tp, &e, 1), FLM_OK);

    assert_int_equal(flm_txn_begin(ch, &tt), FLM_OK);
    assert_int_equal(flm_txn_take(tt, got, 2, &n), FLM_OK);
    assert_int_equal(n, 0);
    assert_int_equal(flm_channel_size(ch), 0);

    assert_int_equal(flm_txn_commit(tp), FLM_OK);
    flm_txn_end(tp);
    assert_int_equal(flm_channel_size(ch), 1);
    assert_int_equal(flm_txn_take(tt, got, 2, &n), FLM_OK);
    assert_int_equal(n, 1);
    assert_int_equal(ev_numof(got[0]), 7);
    assert_int_equal(flm_txn_commit(tt), FLM_OK);
    flm_txn_end(tt);
    flm_event_free(got[0]);
    chan_free(ch);
}

static void committed_events_come_out_in_commit_order_across_growth(void **state)
{
    (void)state;
    /* A big capacity starts with a small ring: this crosses several growths
     * while the head is away from index 0. */
    struct flm_channel *ch =
        chan_new(KV("capacity", "100000", "transactionCapacity", "200", "keep-alive", "0"));
    uint64_t next_put = 0, next_take = 0;
    for (int round = 0; round < 60; round++) {
        for (int k = 0; k < 3; k++) {
            assert_int_equal(put_range(ch, next_put, 200, NULL, 0), FLM_OK);
            next_put += 200;
        }
        next_take += take_expect(ch, next_take, 150);
    }
    while (next_take < next_put)
        next_take += take_expect(ch, next_take, 200);
    assert_int_equal(flm_channel_size(ch), 0);
    chan_free(ch);
}

/* ------------------------------------------------------------ take waits */

static void take_on_empty_channel_waits_keep_alive_then_returns_none(void **state)
{
    (void)state;
    struct flm_channel *ch = chan_new(KV("keep-alive", "1"));
    struct flm_txn *tx;
    struct flm_event *ev;
    size_t n = 99;
    assert_int_equal(flm_txn_begin(ch, &tx), FLM_OK);
    double t0 = now_s();
    assert_int_equal(flm_txn_take(tx, &ev, 1, &n), FLM_OK);
    double dt = now_s() - t0;
    assert_int_equal(n, 0);
    assert_true(dt >= 0.95 && dt < 2.5);
    flm_txn_end(tx);
    chan_free(ch);
}

static void take_with_nowait_returns_at_once(void **state)
{
    (void)state;
    struct flm_channel *ch = chan_new(KV("keep-alive", "3"));
    atomic_store(&ch->nowait, true);
    struct flm_txn *tx;
    struct flm_event *ev;
    size_t n = 99;
    assert_int_equal(flm_txn_begin(ch, &tx), FLM_OK);
    double t0 = now_s();
    assert_int_equal(flm_txn_take(tx, &ev, 1, &n), FLM_OK);
    assert_int_equal(n, 0);
    assert_true(now_s() - t0 < 0.5);
    flm_txn_end(tx);
    chan_free(ch);
}

struct taker_arg {
    struct flm_channel *ch;
    size_t n;
    double secs;
    uint64_t first;
};

static void *blocked_taker(void *p)
{
    struct taker_arg *a = p;
    struct flm_txn *tx;
    struct flm_event *evs[4];
    double t0 = now_s();
    assert_int_equal(flm_txn_begin(a->ch, &tx), FLM_OK);
    assert_int_equal(flm_txn_take(tx, evs, 4, &a->n), FLM_OK);
    a->secs = now_s() - t0;
    if (a->n)
        a->first = ev_numof(evs[0]);
    assert_int_equal(flm_txn_commit(tx), FLM_OK);
    flm_txn_end(tx);
    for (size_t i = 0; i < a->n; i++)
        flm_event_free(evs[i]);
    return NULL;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void waiting_take_wakes_on_commit_and_takes_only_what_is_there(void **state)
{
    (void)state;
    struct flm_channel *ch = chan_new(KV("keep-alive", "3"));
    struct taker_arg a = {ch, 0, 0, 0};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, blocked_taker, &a), 0);
    sleep_ms(150);
    assert_int_equal(put_range(ch, 41, 2, NULL, 0), FLM_OK);
    pthread_join(th, NULL);
    assert_int_equal(a.n, 2); /* the batch did not wait for 4 */
    assert_int_equal(a.first, 41);
    assert_true(a.secs < 2.0);
    chan_free(ch);
}

static void interrupt_wakes_a_waiting_taker(void **state)
{
    (void)state;
    struct flm_channel *ch = chan_new(KV("keep-alive", "3"));
    struct taker_arg a = {ch, 0, 0, 0};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, blocked_taker, &a), 0);
    sleep_ms(150);
    atomic_store(&ch->nowait, true);
    OPS()->interrupt(ch);
    pthread_join(th, NULL);
    assert_int_equal(a.n, 0);
    assert_true(a.secs < 1.5);
    chan_free(ch);
}

/* ------------------------------------------------------------- counters */

static void counters_follow_flume_put_and_take_accounting(void **state)
{
    (void)state;
    struct flm_channel *ch =
        chan_new(KV("capacity", "2", "transactionCapacity", "2", "keep-alive", "0"));
    struct flm_counters *c = &ch->c.ctr;
    assert_int_equal(put_range(ch, 0, 2, NULL, 0), FLM_OK);
    assert_int_equal(put_range(ch, 2, 1, NULL, 0), FLM_EFULL); /* channel full */
    assert_int_equal(flm_ctr_get(c, FLM_CH_PUT_ATTEMPT), 3);
    assert_int_equal(flm_ctr_get(c, FLM_CH_PUT_SUCCESS), 2);

    /* A sink batch of 5 that finds 2: 2 takes + 1 empty take attempted. */
    assert_int_equal(take_expect(ch, 0, 5), 2);
    assert_int_equal(flm_ctr_get(c, FLM_CH_TAKE_ATTEMPT), 3);
    assert_int_equal(flm_ctr_get(c, FLM_CH_TAKE_SUCCESS), 2);

    /* Rolled-back takes are attempts, not successes. */
    assert_int_equal(put_range(ch, 10, 1, NULL, 0), FLM_OK);
    struct flm_txn *tx;
    struct flm_event *ev;
    size_t n;
    assert_int_equal(flm_txn_begin(ch, &tx), FLM_OK);
    assert_int_equal(flm_txn_take(tx, &ev, 1, &n), FLM_OK);
    assert_int_equal(n, 1);
    flm_txn_end(tx);
    assert_int_equal(flm_ctr_get(c, FLM_CH_TAKE_ATTEMPT), 4);
    assert_int_equal(flm_ctr_get(c, FLM_CH_TAKE_SUCCESS), 2);
    assert_int_equal(flm_ctr_get(c, FLM_CH_PUT_SUCCESS), 3);
    assert_int_equal(flm_channel_size(ch), 1);
    assert_int_equal(ch->capacity, 2);
    assert_int_equal(ch->txcap, 2);
    chan_free(ch);
}

/* ---------------------------------------------------- config, reconfigure */

static void transaction_capacity_above_capacity_rejects_channel(void **state)
{
    (void)state;
    struct flm_diag d;
    flm_diag_init(&d);
    /* capacity 50 alone fails against the default transactionCapacity 100. */
    assert_null(load_conf(KV("capacity", "50"), &d));
    assert_true(d.nerr >= 1);
    int found = 0;
    for (size_t i = 0; i < d.n; i++)
        if (d.v[i].sev == FLM_SEV_ERROR &&
            strcmp(d.v[i].msg,
                   "Transaction Capacity of Memory Channel cannot be higher than the capacity.") ==
                0)
            found = 1;
    assert_true(found);
    flm_diag_free(&d);
}

static void bad_capacities_fall_back_to_100_with_a_warning(void **state)
{
    (void)state;
    struct flm_diag d;
    flm_diag_init(&d);
    void *conf = load_conf(KV("capacity", "0", "transactionCapacity", "ten"), &d);
    assert_non_null(conf);
    assert_int_equal(d.nerr, 0);
    assert_int_equal(d.nwarn, 2);
    free_conf(conf);
    flm_diag_free(&d);

    struct flm_channel *ch = chan_new(KV("capacity", "0", "transactionCapacity", "ten"));
    assert_int_equal(ch->capacity, 100);
    assert_int_equal(ch->txcap, 100);
    chan_free(ch);
    ch = chan_new(KV("capacity", "-5", "transactionCapacity", "-1"));
    assert_int_equal(ch->capacity, 100);
    assert_int_equal(ch->txcap, 100);
    chan_free(ch);
}

static void reconfigure_keeps_events_and_adopts_new_limits(void **state)
{
    (void)state;
    struct flm_channel *ch =
        chan_new(KV("capacity", "10", "transactionCapacity", "5", "keep-alive", "0"));
    assert_int_equal(put_range(ch, 0, 5, NULL, 0), FLM_OK);
    assert_int_equal(put_range(ch, 5, 5, NULL, 0), FLM_OK);
    assert_int_equal(put_range(ch, 10, 1, NULL, 0), FLM_EFULL);

    struct flm_diag d;
    flm_diag_init(&d);
    void *nc = load_conf(KV("capacity", "20", "transactionCapacity", "8", "keep-alive", "0"), &d);
    flm_diag_free(&d);
    assert_non_null(nc);
    struct flm_err err = {0};
    assert_int_equal(OPS()->reconfigure(ch, nc, &err), FLM_OK);
    free_conf(ch->c.conf); /* the core's job: the new conf replaces the old */
    ch->c.conf = nc;
    assert_int_equal(ch->capacity, 20);
    assert_int_equal(ch->txcap, 8);
    assert_int_equal(flm_channel_size(ch), 10);
    assert_int_equal(put_range(ch, 10, 8, NULL, 0), FLM_OK); /* 8 > old txcap 5 */
    assert_int_equal(take_expect(ch, 0, 8), 8);
    assert_int_equal(take_expect(ch, 8, 8), 8);
    assert_int_equal(take_expect(ch, 16, 8), 2);
    chan_free(ch);
}

static void reconfigure_below_current_size_keeps_old_capacity(void **state)
{
    (void)state;
    struct flm_channel *ch =
        chan_new(KV("capacity", "10", "transactionCapacity", "5", "keep-alive", "0"));
    assert_int_equal(put_range(ch, 0, 5, NULL, 0), FLM_OK);
    assert_int_equal(put_range(ch, 5, 2, NULL, 0), FLM_OK);

    struct flm_diag d;
    flm_diag_init(&d);
    void *nc = load_conf(KV("capacity", "5", "transactionCapacity", "5", "keep-alive", "0"), &d);
    flm_diag_free(&d);
    struct flm_err err = {0};
    assert_int_equal(OPS()->reconfigure(ch, nc, &err), FLM_OK);
    free_conf(ch->c.conf);
    ch->c.conf = nc;
    assert_int_equal(ch->capacity, 10); /* 7 stored > 5: shrink aborted */
    assert_int_equal(flm_channel_size(ch), 7);
    assert_int_equal(put_range(ch, 7, 3, NULL, 0), FLM_OK);
    assert_int_equal(put_range(ch, 10, 1, NULL, 0), FLM_EFULL);
    assert_int_equal(take_expect(ch, 0, 5), 5);
    assert_int_equal(take_expect(ch, 5, 5), 5);

    /* Empty now: shrinking succeeds. */
    flm_diag_init(&d);
    nc = load_conf(KV("capacity", "5", "transactionCapacity", "5", "keep-alive", "0"), &d);
    flm_diag_free(&d);
    assert_int_equal(OPS()->reconfigure(ch, nc, &err), FLM_OK);
    free_conf(ch->c.conf);
    ch->c.conf = nc;
    assert_int_equal(ch->capacity, 5);
    assert_int_equal(put_range(ch, 0, 5, NULL, 0), FLM_OK);
    assert_int_equal(put_range(ch, 5, 1, NULL, 0), FLM_EFULL);
    chan_free(ch);
}

/* --------------------------------------------------------------- stress */

#define STRESS_PRODUCERS 4
#define STRESS_CONSUMERS 2
#define STRESS_PER_PRODUCER 500000u
#define STRESS_TOTAL (STRESS_PRODUCERS * STRESS_PER_PRODUCER)

struct stress {
    struct flm_channel *ch;
    _Atomic unsigned char *seen;      /* per event id: times committed by a consumer */
    _Atomic uint64_t consumed;
    _Atomic int producers_left;
};

struct worker {
    struct stress *s;
    unsigned id;
    uint64_t rng;
};

static uint32_t xorshift(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return (uint32_t)(*x >> 32);
}

static void *stress_producer(void *p)
{
    struct worker *w = p;
    uint64_t next = (uint64_t)w->id * STRESS_PER_PRODUCER, end = next + STRESS_PER_PRODUCER;
    struct flm_event *evs[64];
    while (next < end) {
        size_t n = 1 + xorshift(&w->rng) % 64;
        if (n > end - next)
            n = (size_t)(end - next);
        for (size_t i = 0; i < n; i++)
            evs[i] = ev_num(next + i);
        struct flm_txn *tx;
        if (flm_txn_begin(w->s->ch, &tx) != FLM_OK)
            abort();
        if (flm_txn_put(tx, evs, n) != FLM_OK)
            abort();
        /* ~5% voluntary rollbacks; the channel frees the staged events. */
        if (xorshift(&w->rng) % 20 == 0) {
            flm_txn_rollback(tx);
            flm_txn_end(tx);
            continue;
        }
        if (flm_txn_commit(tx) == FLM_OK)
            next += n;
        flm_txn_end(tx); /* a failed commit is rolled back here; retried */
    }
    atomic_fetch_sub(&w->s->producers_left, 1);
    return NULL;
}

static void *stress_consumer(void *p)
{
    struct worker *w = p;
    struct flm_event *evs[64];
    int idle = 0; /* empty takes (1 s each) in a row after the producers ended */
    for (;;) {
        struct flm_txn *tx;
        size_t n;
        if (flm_txn_begin(w->s->ch, &tx) != FLM_OK)
            abort();
        if (flm_txn_take(tx, evs, 1 + xorshift(&w->rng) % 64, &n) != FLM_OK)
            abort();
        if (n == 0) {
            flm_txn_end(tx);
            if (atomic_load(&w->s->producers_left) == 0 &&
                (atomic_load(&w->s->consumed) == STRESS_TOTAL || ++idle >= 3))
                break; /* done, or events were lost: the test then fails */
            continue;
        }
        idle = 0;
        if (xorshift(&w->rng) % 10 == 0) { /* ~10% rollbacks: events go back */
            flm_txn_end(tx);
            continue;
        }
        if (flm_txn_commit(tx) != FLM_OK)
            abort();
        flm_txn_end(tx);
        for (size_t i = 0; i < n; i++) {
            uint64_t id;
            memcpy(&id, evs[i]->body, sizeof(id));
            if (id >= STRESS_TOTAL)
                abort();
            atomic_fetch_add(&w->s->seen[id], 1);
            flm_event_free(evs[i]);
        }
        atomic_fetch_add(&w->s->consumed, n);
    }
    return NULL;
}

static void concurrent_producers_and_consumers_lose_and_duplicate_nothing(void **state)
{
    (void)state;
    struct stress s = {0};
    s.ch = chan_new(KV("capacity", "500", "transactionCapacity", "64", "keep-alive", "1"));
    s.seen = calloc(STRESS_TOTAL, 1);
    assert_non_null(s.seen);
    atomic_store(&s.producers_left, STRESS_PRODUCERS);
    pthread_t th[STRESS_PRODUCERS + STRESS_CONSUMERS];
    struct worker w[STRESS_PRODUCERS + STRESS_CONSUMERS];
    for (unsigned i = 0; i < STRESS_PRODUCERS + STRESS_CONSUMERS; i++) {
        w[i] = (struct worker){&s, i, 0x9E3779B97F4A7C15ull * (i + 1)};
        assert_int_equal(pthread_create(&th[i], NULL,
                                        i < STRESS_PRODUCERS ? stress_producer : stress_consumer,
                                        &w[i]),
                         0);
    }
    for (unsigned i = 0; i < STRESS_PRODUCERS + STRESS_CONSUMERS; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(atomic_load(&s.consumed), STRESS_TOTAL);
    size_t bad = 0;
    for (size_t i = 0; i < STRESS_TOTAL; i++)
        if (atomic_load(&s.seen[i]) != 1)
            bad++;
    assert_int_equal(bad, 0);
    assert_int_equal(flm_channel_size(s.ch), 0);
    assert_int_equal(flm_ctr_get(&s.ch->c.ctr, FLM_CH_PUT_SUCCESS), STRESS_TOTAL);
    assert_int_equal(flm_ctr_get(&s.ch->c.ctr, FLM_CH_TAKE_SUCCESS), STRESS_TOTAL);
    free((void *)s.seen);
    chan_free(s.ch);
}

int main(void)
{
    flm_log_level_global = FLM_LOG_ERROR; /* the shrink test warns on purpose */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(commit_into_full_channel_returns_efull_with_flume_text),
        cmocka_unit_test(taken_but_uncommitted_events_still_occupy_capacity),
        cmocka_unit_test(commit_waits_keep_alive_for_room),
        cmocka_unit_test(put_past_transaction_capacity_fails_with_put_queue_text),
        cmocka_unit_test(take_past_transaction_capacity_fails_with_take_list_text),
        cmocka_unit_test(byte_capacity_rejects_commit_past_budget_with_flume_text),
        cmocka_unit_test(byte_capacity_message_applies_buffer_percentage),
        cmocka_unit_test(commit_that_grows_needs_byte_slots_for_all_its_puts),
        cmocka_unit_test(commit_without_growth_acquires_no_byte_slots),
        cmocka_unit_test(byte_capacity_zero_is_unlimited),
        cmocka_unit_test(rollback_returns_takes_to_head_in_order),
        cmocka_unit_test(ending_an_open_transaction_rolls_it_back),
        cmocka_unit_test(puts_are_invisible_until_commit),
        cmocka_unit_test(committed_events_come_out_in_commit_order_across_growth),
        cmocka_unit_test(take_on_empty_channel_waits_keep_alive_then_returns_none),
        cmocka_unit_test(take_with_nowait_returns_at_once),
        cmocka_unit_test(waiting_take_wakes_on_commit_and_takes_only_what_is_there),
        cmocka_unit_test(interrupt_wakes_a_waiting_taker),
        cmocka_unit_test(counters_follow_flume_put_and_take_accounting),
        cmocka_unit_test(transaction_capacity_above_capacity_rejects_channel),
        cmocka_unit_test(bad_capacities_fall_back_to_100_with_a_warning),
        cmocka_unit_test(reconfigure_keeps_events_and_adopts_new_limits),
        cmocka_unit_test(reconfigure_below_current_size_keeps_old_capacity),
        cmocka_unit_test(concurrent_producers_and_consumers_lose_and_duplicate_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
