/*
 * client_policy_test.c - libflumen-client's host policies and call
 * contract (lib/client/client.c) over a fake transport: batches split into
 * batch-size chunks with the delivered prefix reported; append vs
 * appendBatch; the default client reconnecting after a failure; failover
 * trying hosts in order, sticking to the host that works and coming back
 * to a failed one only when the rotation reaches it, bounded by
 * max-attempts; load balancing rotating (round_robin) or shuffling
 * (random) and, with backoff, leaving failed hosts out for 1 s, 2 s, ...
 * capped by maxBackoff, on a fake clock; invalid events refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "client_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NH 4

struct fake {
    bool down[NH];        /* connect refused */
    bool refuse[NH];      /* answers FAILED */
    bool drop[NH];        /* call fails with an I/O error */
    int opens[NH], calls[NH], closes[NH];
    int order[256];       /* host of every call attempt */
    size_t norder;
    size_t sizes[256];    /* events per call */
    int msgs[256];
    char bodies[256][16]; /* first body of each call */
    uint64_t now;
};

struct fconn {
    int host;
};

static int host_index(const struct flm_client_conf *conf, const struct flm_client_host *h)
{
    return (int)(h - conf->hosts);
}

static int f_open(void *arg, const struct flm_client_conf *conf, const struct flm_client_host *h,
                  void **conn, char *why, size_t whycap)
{
    struct fake *f = arg;
    int i = host_index(conf, h);
    f->opens[i]++;
    if (f->down[i]) {
        snprintf(why, whycap, "cannot connect to %s:%d: refused", h->host, h->port);
        return FLUMEN_ECONNECT;
    }
    struct fconn *c = malloc(sizeof(*c));
    assert_non_null(c);
    c->host = i;
    *conn = c;
    return FLUMEN_OK;
}

static int f_call(void *arg, const struct flm_client_conf *conf, void *conn, int msg,
                  struct flm_event *const *evs, size_t n, char *why, size_t whycap)
{
    struct fake *f = arg;
    (void)conf;
    int i = ((struct fconn *)conn)->host;
    f->calls[i]++;
    assert_true(f->norder < 256);
    f->order[f->norder] = i;
    f->sizes[f->norder] = n;
    f->msgs[f->norder] = msg;
    snprintf(f->bodies[f->norder], sizeof(f->bodies[0]), "%s", (const char *)evs[0]->body);
    f->norder++;
    if (f->drop[i]) {
        snprintf(why, whycap, "host %d: connection reset", i);
        return FLUMEN_EIO;
    }
    if (f->refuse[i]) {
        snprintf(why, whycap, "host %d: FAILED", i);
        return FLUMEN_EREFUSED;
    }
    return FLUMEN_OK;
}

static void f_close(void *arg, void *conn)
{
    struct fake *f = arg;
    f->closes[((struct fconn *)conn)->host]++;
    free(conn);
}

static uint64_t f_now(void *arg)
{
    return ((struct fake *)arg)->now;
}

static struct flumen_client *make(struct fake *f, const char *const *kv)
{
    static struct flm_client_ops ops;
    ops = (struct flm_client_ops){f_open, f_call, f_close, f_now, f};
    struct flm_kvs kvs;
    flm_kvs_init(&kvs);
    for (size_t i = 0; kv[i] != NULL; i += 2)
        assert_int_equal(flm_kvs_set(&kvs, kv[i], kv[i + 1], NULL, 0), FLM_OK);
    struct flumen_client *c = NULL;
    char why[512];
    int rc = flm_client_new_kvs(&c, &kvs, &ops, why, sizeof(why));
    if (rc != FLUMEN_OK)
        fail_msg("client: %s", why);
    flm_kvs_free(&kvs);
    return c;
}

static struct flumen_event ev_of(const char *body)
{
    return (struct flumen_event){NULL, 0, body, strlen(body)};
}

static int send1(struct flumen_client *c)
{
    struct flumen_event e = ev_of("x");
    return flumen_append_batch(c, &e, 1);
}

#define HOSTS4 "hosts", "h0 h1 h2 h3", "hosts.h0", "a:1", "hosts.h1", "b:2", "hosts.h2", \
               "c:3", "hosts.h3", "d:4"

static void batches_are_split_into_batch_size_chunks(void **state)
{
    (void)state;
    struct fake f = {0};
    const char *kv[] = {"hostname", "a", "port", "1", "batch-size", "3", NULL};
    struct flumen_client *c = make(&f, kv);
    struct flumen_event evs[7];
    char names[7][8];
    struct flumen_header h = {"k", "v"};
    for (int i = 0; i < 7; i++) {
        snprintf(names[i], sizeof(names[i]), "e%d", i);
        evs[i] = ev_of(names[i]);
        evs[i].headers = &h;
        evs[i].nheaders = 1;
    }
    assert_int_equal(flumen_append_batch(c, evs, 7), FLUMEN_OK);
    assert_int_equal(flumen_client_delivered(c), 7);
    assert_int_equal(f.norder, 3);
    assert_int_equal(f.sizes[0], 3);
    assert_int_equal(f.sizes[1], 3);
    assert_int_equal(f.sizes[2], 1);
    assert_string_equal(f.bodies[1], "e3");
    assert_string_equal(f.bodies[2], "e6");
    assert_int_equal(f.msgs[0], FLM_CLIENT_APPEND_BATCH);
    assert_int_equal(f.opens[0], 1);   /* one connection for all calls */
    assert_string_equal(flumen_client_error(c), "");

    /* a failing chunk stops the call; the delivered prefix is reported */
    f.norder = 0;
    f.refuse[0] = true;
    assert_int_equal(flumen_append_batch(c, evs, 7), FLUMEN_EREFUSED);
    assert_int_equal(flumen_client_delivered(c), 0);
    assert_non_null(strstr(flumen_client_error(c), "FAILED"));
    assert_int_equal(f.closes[0], 0);  /* a FAILED answer keeps the connection */
    assert_int_equal(flumen_append_batch(c, evs, 0), FLUMEN_OK);
    flumen_client_free(c);
    assert_int_equal(f.closes[0], 1);
}

static void append_sends_one_append_message(void **state)
{
    (void)state;
    struct fake f = {0};
    const char *kv[] = {"hostname", "a", "port", "1", NULL};
    struct flumen_client *c = make(&f, kv);
    struct flumen_event e = ev_of("one");
    assert_int_equal(flumen_append(c, &e), FLUMEN_OK);
    assert_int_equal(f.norder, 1);
    assert_int_equal(f.msgs[0], FLM_CLIENT_APPEND);
    assert_int_equal(f.sizes[0], 1);
    assert_int_equal(flumen_client_delivered(c), 1);
    flumen_client_free(c);
}

static void default_client_reconnects_after_an_io_error(void **state)
{
    (void)state;
    struct fake f = {0};
    const char *kv[] = {"hostname", "a", "port", "1", NULL};
    struct flumen_client *c = make(&f, kv);
    f.drop[0] = true;
    assert_int_equal(send1(c), FLUMEN_EIO);
    assert_non_null(strstr(flumen_client_error(c), "connection reset"));
    assert_int_equal(f.closes[0], 1);
    f.drop[0] = false;
    assert_int_equal(send1(c), FLUMEN_OK);
    assert_int_equal(f.opens[0], 2);
    f.down[0] = true;
    f.drop[0] = true;
    assert_int_equal(send1(c), FLUMEN_EIO);
    assert_int_equal(send1(c), FLUMEN_ECONNECT);
    assert_non_null(strstr(flumen_client_error(c), "a:1"));
    flumen_client_free(c);
}

static void failover_tries_hosts_in_order_and_sticks(void **state)
{
    (void)state;
    struct fake f = {0};
    const char *kv[] = {"client.type", "default_failover", HOSTS4, NULL};
    struct flumen_client *c = make(&f, kv);
    f.down[0] = true;
    f.down[1] = true;
    assert_int_equal(send1(c), FLUMEN_OK);
    assert_int_equal(f.opens[0], 1);
    assert_int_equal(f.opens[1], 1);
    assert_int_equal(f.calls[2], 1);
    /* the working host is used from now on; failed ones are not retried */
    f.down[0] = f.down[1] = false;
    assert_int_equal(send1(c), FLUMEN_OK);
    assert_int_equal(send1(c), FLUMEN_OK);
    assert_int_equal(f.calls[2], 3);
    assert_int_equal(f.opens[0], 1);
    /* h2 dies: on to h3, then the rotation wraps back to h0 */
    f.drop[2] = true;
    assert_int_equal(send1(c), FLUMEN_OK);
    assert_int_equal(f.calls[3], 1);
    f.drop[3] = true;
    assert_int_equal(send1(c), FLUMEN_OK);
    assert_int_equal(f.calls[0], 1);
    assert_int_equal(f.order[f.norder - 1], 0);
    flumen_client_free(c);
}

static void failover_is_bounded_by_max_attempts(void **state)
{
    (void)state;
    struct fake f = {0};
    const char *kv[] = {"client.type", "default_failover", HOSTS4, "max-attempts", "2", NULL};
    struct flumen_client *c = make(&f, kv);
    for (int i = 0; i < NH; i++)
        f.down[i] = true;
    assert_int_equal(send1(c), FLUMEN_ECONNECT);
    assert_int_equal(f.opens[0] + f.opens[1] + f.opens[2] + f.opens[3], 2);
    const char *e = flumen_client_error(c);
    assert_non_null(strstr(e, "2 attempt(s)"));
    assert_non_null(strstr(e, "a:1"));
    assert_non_null(strstr(e, "b:2"));
    flumen_client_free(c);

    /* default max-attempts = number of hosts: every host once */
    struct fake g = {0};
    const char *kv2[] = {"client.type", "default_failover", HOSTS4, NULL};
    c = make(&g, kv2);
    for (int i = 0; i < NH; i++)
        g.down[i] = true;
    assert_int_equal(send1(c), FLUMEN_ECONNECT);
    for (int i = 0; i < NH; i++)
        assert_int_equal(g.opens[i], 1);
    flumen_client_free(c);
}

static void round_robin_rotates_the_first_host(void **state)
{
    (void)state;
    struct fake f = {0};
    const char *kv[] = {"client.type", "default_loadbalance", HOSTS4, NULL};
    struct flumen_client *c = make(&f, kv);
    for (int k = 0; k < 8; k++)
        assert_int_equal(send1(c), FLUMEN_OK);
    for (int k = 0; k < 8; k++)
        assert_int_equal(f.order[k], k % NH);
    /* a failing host is skipped for that call: the next one takes it */
    f.drop[1] = true;
    f.norder = 0;
    assert_int_equal(send1(c), FLUMEN_OK);   /* starts at h0 */
    assert_int_equal(send1(c), FLUMEN_OK);   /* starts at h1: fails, h2 */
    assert_int_equal(f.norder, 3);
    assert_int_equal(f.order[1], 1);
    assert_int_equal(f.order[2], 2);
    /* without backoff the failed host is tried again on its turn */
    f.norder = 0;
    for (int k = 0; k < 4; k++)
        assert_int_equal(send1(c), FLUMEN_OK);
    int on1 = 0;
    for (size_t k = 0; k < f.norder; k++)
        on1 += f.order[k] == 1;
    assert_int_equal(on1, 1);
    flumen_client_free(c);
}

static void random_selector_spreads_over_all_hosts(void **state)
{
    (void)state;
    struct fake f = {0};
    const char *kv[] = {"client.type", "default_loadbalance", HOSTS4, "host-selector",
                        "random", NULL};
    struct flumen_client *c = make(&f, kv);
    for (int k = 0; k < 400; k++) {
        f.norder = 0;
        assert_int_equal(send1(c), FLUMEN_OK);
    }
    for (int i = 0; i < NH; i++) {
        if (f.calls[i] < 50)
            fail_msg("host %d got %d of 400 calls", i, f.calls[i]);
    }
    /* not a rotation: some host is picked twice in a row */
    int repeats = 0, prev = -1;
    f.norder = 0;
    for (int k = 0; k < 64; k++)
        assert_int_equal(send1(c), FLUMEN_OK);
    for (size_t k = 0; k < f.norder; k++) {
        repeats += f.order[k] == prev;
        prev = f.order[k];
    }
    assert_true(repeats > 0);
    /* all hosts down: each tried once, then the call fails */
    for (int i = 0; i < NH; i++)
        f.down[i] = f.drop[i] = true;   /* open connections fail too */
    assert_int_equal(send1(c), FLUMEN_EIO);
    int before = f.opens[0] + f.opens[1] + f.opens[2] + f.opens[3];
    assert_int_equal(send1(c), FLUMEN_ECONNECT);
    assert_int_equal(f.opens[0] + f.opens[1] + f.opens[2] + f.opens[3], before + NH);
    assert_non_null(strstr(flumen_client_error(c), "no host accepted"));
    flumen_client_free(c);
}

static void backoff_leaves_failed_hosts_out_exponentially(void **state)
{
    (void)state;
    struct fake f = {0};
    f.now = 100000;
    const char *kv[] = {"client.type", "default_loadbalance", "hosts", "h0 h1", "hosts.h0",
                        "a:1", "hosts.h1", "b:2", "backoff", "true", "maxBackoff", "3000", NULL};
    struct flumen_client *c = make(&f, kv);
    f.down[0] = true;
    assert_int_equal(send1(c), FLUMEN_OK);   /* h0 fails (backoff 1 s), h1 takes it */
    assert_int_equal(f.opens[0], 1);
    for (int k = 0; k < 4; k++)
        assert_int_equal(send1(c), FLUMEN_OK);
    assert_int_equal(f.opens[0], 1);          /* left out while backing off */
    f.now += 1000;
    assert_int_equal(send1(c), FLUMEN_OK);
    assert_int_equal(send1(c), FLUMEN_OK);
    assert_int_equal(f.opens[0], 2);          /* tried again: fails, now 2 s */
    f.now += 1999;
    assert_int_equal(send1(c), FLUMEN_OK);
    assert_int_equal(send1(c), FLUMEN_OK);
    assert_int_equal(f.opens[0], 2);
    f.now += 1;
    assert_int_equal(send1(c), FLUMEN_OK);
    assert_int_equal(send1(c), FLUMEN_OK);
    assert_int_equal(f.opens[0], 3);          /* fails again: 4 s capped to 3 s */
    f.now += 3000;
    f.down[0] = false;
    assert_int_equal(send1(c), FLUMEN_OK);
    assert_int_equal(send1(c), FLUMEN_OK);
    assert_int_equal(f.opens[0], 4);
    assert_int_equal(f.calls[0], 1);          /* recovered: back in the rotation */
    /* every host backing off: the call fails at once, nothing is tried */
    f.down[0] = f.down[1] = f.drop[0] = f.drop[1] = true;
    assert_int_equal(send1(c), FLUMEN_EIO);
    int opens = f.opens[0] + f.opens[1];
    assert_int_equal(send1(c), FLUMEN_EUNAVAILABLE);
    assert_int_equal(f.opens[0] + f.opens[1], opens);
    assert_non_null(strstr(flumen_client_error(c), "backing off"));
    flumen_client_free(c);
}

static void invalid_events_are_refused_before_sending(void **state)
{
    (void)state;
    struct fake f = {0};
    const char *kv[] = {"hostname", "a", "port", "1", NULL};
    struct flumen_client *c = make(&f, kv);
    struct flumen_header bad = {"k", NULL};
    struct flumen_event e = {&bad, 1, "x", 1};
    assert_int_equal(flumen_append(c, &e), FLUMEN_EINVAL);
    struct flumen_event nob = {NULL, 0, NULL, 3};
    assert_int_equal(flumen_append_batch(c, &nob, 1), FLUMEN_EINVAL);
    assert_int_equal(flumen_append(c, NULL), FLUMEN_EINVAL);
    assert_int_equal(flumen_append_batch(c, NULL, 2), FLUMEN_EINVAL);
    assert_int_equal(flumen_append(NULL, &e), FLUMEN_EINVAL);
    assert_int_equal(f.norder, 0);
    struct flumen_event empty = {NULL, 0, NULL, 0};
    assert_int_equal(flumen_append(c, &empty), FLUMEN_OK);
    flumen_client_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(batches_are_split_into_batch_size_chunks),
        cmocka_unit_test(append_sends_one_append_message),
        cmocka_unit_test(default_client_reconnects_after_an_io_error),
        cmocka_unit_test(failover_tries_hosts_in_order_and_sticks),
        cmocka_unit_test(failover_is_bounded_by_max_attempts),
        cmocka_unit_test(round_robin_rotates_the_first_host),
        cmocka_unit_test(random_selector_spreads_over_all_hosts),
        cmocka_unit_test(backoff_leaves_failed_hosts_out_exponentially),
        cmocka_unit_test(invalid_events_are_refused_before_sending),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
