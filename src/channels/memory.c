/*
 * memory.c - the memory channel (Flume's org.apache.flume.channel.MemoryChannel).
 *
 * What it owns: a FIFO of committed event pointers (a ring buffer that grows
 * by doubling, never beyond what capacity needs), the capacity and byte-slot
 * accounting, and the transactions it hands out.  Events are moved by
 * pointer, never copied.  Stored events are lost when the process exits.
 *
 * Threads: any number of source threads (put/commit) and sink threads
 * (take/commit) at once, plus the agent thread for init/reconfigure/destroy
 * and the metrics thread for size().  One mutex and two condition variables
 * per channel:
 *   - not_empty: takers wait here (up to keep-alive) for a committed event;
 *   - space:     committers (and a shrinking reconfigure) wait here for
 *                queue room or byte slots.
 * Puts are staged in the transaction without any lock; a commit and a batch
 * take each take the lock exactly once.  Nothing outside this file is called
 * with the lock held (events are freed and log lines written after unlock).
 *
 * Invariants (under mu):
 *   used = count + inflight <= capacity, where count = events in the ring and
 *          inflight = events taken by transactions not yet committed or
 *          rolled back (Flume's queueRemaining semaphore holds capacity-used);
 *   ring_cap >= used, so a rollback can always put its takes back at the
 *          head without allocating;
 *   slots_used = Flume's (byte budget - bytesRemaining).  It follows Flume's
 *          rules exactly, including their quirk: puts acquire slots only when
 *          a commit grows the queue, while takes always release theirs, so
 *          slots_used may drift below zero (it is signed for that reason).
 *
 * Transactions are not bound to a channel once ended: each thread keeps a
 * few ended transaction objects (with their grown arrays) for reuse, so the
 * steady state allocates nothing per transaction or per event.
 */
#include "core/component.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------- typed conf */

struct mem_conf {
    int capacity;            /* events */
    int txcap;               /* events per transaction (put list and take list each) */
    int keep_alive;          /* s */
    int byte_buf_pct;        /* percent of byteCapacity kept free for headers */
    long long byte_capacity; /* bytes; -1 = 80% of physical RAM; 0 or < 0 = unlimited */
};

/* Flume's default for byteCapacity is 80% of the JVM's max heap; a C agent
 * has no heap limit, so the sentinel -1 means 80% of physical RAM. */
#define MEM_BYTECAP_DEFAULT (-1LL)
#define MEM_SLOT_BYTES 100   /* Flume's byteCapacitySlotSize */

static const struct flm_prop mem_props[] = {
    {.name = "capacity", .type = FLM_P_INT, .off = FLM_OFF(struct mem_conf, capacity),
     .def = "100", .flags = FLM_P_LENIENT, .min = 1, .max = INT_MAX,
     .doc = "Maximum number of events stored (<= 0 or not a number: 100, with a warning)."},
    {.name = "transactionCapacity", .type = FLM_P_INT, .off = FLM_OFF(struct mem_conf, txcap),
     .def = "100", .flags = FLM_P_LENIENT, .min = 1, .max = INT_MAX,
     .doc = "Maximum events put, and taken, in one transaction; must not exceed capacity."},
    {.name = "keep-alive", .type = FLM_P_INT, .off = FLM_OFF(struct mem_conf, keep_alive),
     .def = "3", .flags = FLM_P_LENIENT,
     .doc = "Seconds a take waits for an event and a commit waits for space."},
    {.name = "byteCapacityBufferPercentage", .type = FLM_P_INT,
     .off = FLM_OFF(struct mem_conf, byte_buf_pct), .def = "20", .flags = FLM_P_LENIENT,
     .doc = "Percent of byteCapacity reserved for header overhead (only bodies are counted)."},
    {.name = "byteCapacity", .type = FLM_P_LONG, .off = FLM_OFF(struct mem_conf, byte_capacity),
     .def = "-1", .flags = FLM_P_LENIENT,
     .doc = "Maximum total body bytes, counted in 100-byte slots; -1 (default) = 80% of "
            "physical RAM (Flume: 80% of JVM heap); 0 = unlimited."},
    FLM_PROPS_END,
};

/* ------------------------------------------------------------------ state */

struct mem_chan {
    pthread_mutex_t mu;
    pthread_cond_t not_empty;     /* committed events appeared, or interrupt */
    pthread_cond_t space;         /* queue room or byte slots freed, or interrupt */
    struct flm_event **ring;
    size_t ring_cap;              /* power of two */
    size_t head;                  /* index of the oldest committed event */
    size_t count;                 /* committed events in the ring */
    size_t inflight;              /* taken, not yet committed or rolled back */
    size_t capacity;              /* events */
    int64_t slot_budget;          /* byte slots (Flume's byteCapacity after scaling) */
    int64_t slots_used;           /* may drift below zero (see the file comment) */
    unsigned nwait_take, nwait_space;
    long keep_alive_ms;
    _Atomic uint32_t txcap;       /* read by begin without the lock */
    _Atomic uint64_t size_seen;   /* ChannelSize: count at the last commit/rollback */
};

struct mem_txn {
    struct flm_txn base;          /* first: the core sees only this */
    struct flm_event **puts;      /* staged, in put order */
    struct flm_event **takes;     /* taken, in take order */
    uint32_t np, nt;              /* used entries */
    uint32_t putcap, takecap;     /* allocated entries */
    uint32_t txcap;               /* this transaction's limit (set at begin) */
    int64_t put_slots, take_slots;
};

static inline struct mem_chan *mc_of(const struct flm_channel *ch)
{
    return ch->c.ctx;
}

static inline int64_t slot_cost(const struct flm_event *ev)
{
    /* Flume: ceil(bodyLength / 100), and an empty body counts as 1 byte. */
    return ev->body_len ? ((int64_t)ev->body_len + MEM_SLOT_BYTES - 1) / MEM_SLOT_BYTES : 1;
}

/* Java's (int) cast of a double: truncates, saturates, NaN -> 0. */
static int64_t java_int_cast(double v)
{
    if (v != v)
        return 0;
    if (v >= 2147483647.0)
        return INT32_MAX;
    if (v <= -2147483648.0)
        return INT32_MIN;
    return (int64_t)v;
}

static long long default_byte_capacity(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || psize <= 0)
        return 0; /* unknown: unlimited */
    return (long long)((double)pages * (double)psize * 0.80);
}

/* Flume's byte budget in slots: (int)(byteCapacity * (1 - pct * .01) / 100),
 * and anything below 1 means "unlimited" (Integer.MAX_VALUE slots). */
static int64_t slot_budget_of(const struct mem_conf *cf)
{
    long long bc = cf->byte_capacity == MEM_BYTECAP_DEFAULT ? default_byte_capacity()
                                                            : cf->byte_capacity;
    int64_t s = java_int_cast((double)bc * (1 - cf->byte_buf_pct * .01) / MEM_SLOT_BYTES);
    return s < 1 ? INT32_MAX : s;
}

static long keep_alive_ms_of(const struct mem_conf *cf)
{
    return cf->keep_alive > 0 ? (long)cf->keep_alive * 1000L : 0;
}

/* ------------------------------------------------- per-thread txn reuse */

#define MEM_TXCACHE_N 4

struct txcache {
    struct mem_txn *v[MEM_TXCACHE_N];
    unsigned n;
};

static _Thread_local struct txcache tl_cache;
static pthread_key_t tl_key;
static pthread_once_t tl_once = PTHREAD_ONCE_INIT;
static bool tl_key_ok;

static void txn_free(struct mem_txn *tx)
{
    if (tx == NULL)
        return;
    free(tx->puts);
    free(tx->takes);
    free(tx);
}

/* Thread exit: frees the transactions this thread kept. */
static void tl_cache_destroy(void *p)
{
    struct txcache *c = p;
    while (c->n > 0)
        txn_free(c->v[--c->n]);
}

static void tl_key_create(void)
{
    tl_key_ok = pthread_key_create(&tl_key, tl_cache_destroy) == 0;
}

static struct mem_txn *txn_get(void)
{
    if (tl_cache.n > 0)
        return tl_cache.v[--tl_cache.n];
    return calloc(1, sizeof(struct mem_txn));
}

static void txn_put_back(struct mem_txn *tx)
{
    pthread_once(&tl_once, tl_key_create);
    if (tl_key_ok && tl_cache.n < MEM_TXCACHE_N) {
        if (tl_cache.n == 0)
            pthread_setspecific(tl_key, &tl_cache); /* arms the exit destructor */
        tl_cache.v[tl_cache.n++] = tx;
        return;
    }
    txn_free(tx);
}

/* Makes room for need entries in *arr (doubling).  FLM_OK or FLM_ENOMEM
 * (arr unchanged). */
static int arr_reserve(struct flm_event ***arr, uint32_t *cap, size_t need)
{
    if (need <= *cap)
        return FLM_OK;
    size_t ncap = *cap ? *cap : 64;
    while (ncap < need)
        ncap *= 2;
    if (ncap > UINT32_MAX)
        ncap = UINT32_MAX;
    if (ncap < need)
        return FLM_ENOMEM;
    struct flm_event **n = realloc(*arr, ncap * sizeof(*n));
    if (n == NULL)
        return FLM_ENOMEM;
    *arr = n;
    *cap = (uint32_t)ncap;
    return FLM_OK;
}

/* ------------------------------------------------------------ ring buffer */

/* Grows the ring (under mu) so it holds need events; keeps FIFO order and
 * moves the head to 0.  FLM_OK or FLM_ENOMEM (ring unchanged). */
static int ring_reserve(struct mem_chan *mc, size_t need)
{
    if (need <= mc->ring_cap)
        return FLM_OK;
    size_t ncap = mc->ring_cap ? mc->ring_cap : 16;
    while (ncap < need)
        ncap *= 2;
    struct flm_event **n = malloc(ncap * sizeof(*n));
    if (n == NULL)
        return FLM_ENOMEM;
    size_t first = mc->ring_cap - mc->head;
    if (first > mc->count)
        first = mc->count;
    if (mc->count) {
        memcpy(n, mc->ring + mc->head, first * sizeof(*n));
        memcpy(n + first, mc->ring, (mc->count - first) * sizeof(*n));
    }
    free(mc->ring);
    mc->ring = n;
    mc->ring_cap = ncap;
    mc->head = 0;
    return FLM_OK;
}

/* Appends k pointers at the tail (room already reserved). */
static void ring_push_tail(struct mem_chan *mc, struct flm_event *const *evs, size_t k)
{
    size_t mask = mc->ring_cap - 1;
    size_t tail = (mc->head + mc->count) & mask;
    size_t first = mc->ring_cap - tail;
    if (first > k)
        first = k;
    memcpy(mc->ring + tail, evs, first * sizeof(*evs));
    memcpy(mc->ring, evs + first, (k - first) * sizeof(*evs));
    mc->count += k;
}

/* Removes k pointers from the head into out (k <= count). */
static void ring_pop_head(struct mem_chan *mc, struct flm_event **out, size_t k)
{
    size_t first = mc->ring_cap - mc->head;
    if (first > k)
        first = k;
    memcpy(out, mc->ring + mc->head, first * sizeof(*out));
    memcpy(out + first, mc->ring, (k - first) * sizeof(*out));
    mc->head = (mc->head + k) & (mc->ring_cap - 1);
    mc->count -= k;
}

/* Puts k pointers back before the head, so evs[0] becomes the head. */
static void ring_push_head(struct mem_chan *mc, struct flm_event *const *evs, size_t k)
{
    size_t mask = mc->ring_cap - 1;
    for (size_t i = k; i-- > 0;) {
        mc->head = (mc->head + mask) & mask;
        mc->ring[mc->head] = evs[i];
    }
    mc->count += k;
}

/* ---------------------------------------------------------------- waiting */

struct deadline {
    bool set;
    struct timespec ts;   /* CLOCK_MONOTONIC */
};

/* Waits on cv (mu held) until signalled or the keep-alive deadline (fixed on
 * the first call).  Returns false when the caller must give up: no
 * keep-alive, the channel is shutting down (nowait), or the deadline passed.
 * Spurious wake-ups return true; callers re-check their condition. */
static bool wait_until(struct flm_channel *ch, struct mem_chan *mc, pthread_cond_t *cv,
                       unsigned *nwait, struct deadline *dl)
{
    if (atomic_load_explicit(&ch->nowait, memory_order_relaxed) || mc->keep_alive_ms <= 0)
        return false;
    if (!dl->set) {
        clock_gettime(CLOCK_MONOTONIC, &dl->ts);
        dl->ts.tv_sec += mc->keep_alive_ms / 1000;
        dl->ts.tv_nsec += (mc->keep_alive_ms % 1000) * 1000000L;
        if (dl->ts.tv_nsec >= 1000000000L) {
            dl->ts.tv_sec++;
            dl->ts.tv_nsec -= 1000000000L;
        }
        dl->set = true;
    }
    (*nwait)++;
    int rc = pthread_cond_timedwait(cv, &mc->mu, &dl->ts);
    (*nwait)--;
    if (atomic_load_explicit(&ch->nowait, memory_order_relaxed))
        return false;
    return rc != ETIMEDOUT;
}

/* ---------------------------------------------------------------- messages */

static const char MSG_QUEUE_FULL[] =
    "Space for commit to queue couldn't be acquired. Sinks are likely not keeping up with "
    "sources, or the buffer size is too tight";

static void msg_bytes_full(struct flm_txn *t, int64_t budget)
{
    char num[48];
    flm_java_double((double)budget * MEM_SLOT_BYTES, num, sizeof(num));
    snprintf(t->errmsg, sizeof(t->errmsg),
             "Cannot commit transaction. Byte capacity allocated to store event body %sreached. "
             "Please increase heap space/byte capacity allocated to the channel as the sinks may "
             "not be keeping up with the sources",
             num);
}

/* -------------------------------------------------------------------- ops */

static void mem_destroy(struct flm_channel *ch);

/* Builds the channel state from ch->c.conf (already loaded and validated)
 * and publishes ch->capacity / ch->txcap.  FLM_OK or FLM_ENOMEM.  Agent
 * thread. */
static int mem_init(struct flm_channel *ch, struct flm_err *err)
{
    const struct mem_conf *cf = ch->c.conf;
    struct mem_chan *mc = calloc(1, sizeof(*mc));
    if (mc == NULL)
        return flm_err_set(err, FLM_ENOMEM, "memory channel: out of memory");
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&mc->mu, NULL);
    pthread_cond_init(&mc->not_empty, &ca);
    pthread_cond_init(&mc->space, &ca);
    pthread_condattr_destroy(&ca);

    mc->capacity = (size_t)cf->capacity;
    atomic_init(&mc->txcap, (uint32_t)cf->txcap);
    atomic_init(&mc->size_seen, 0);
    mc->keep_alive_ms = keep_alive_ms_of(cf);
    mc->slot_budget = slot_budget_of(cf);
    ch->c.ctx = mc;
    /* Start small: a big capacity costs memory only once it is used. */
    if (ring_reserve(mc, mc->capacity < 1024 ? mc->capacity : 1024) != FLM_OK) {
        mem_destroy(ch);
        return flm_err_set(err, FLM_ENOMEM, "memory channel: out of memory");
    }
    ch->capacity = mc->capacity;
    ch->txcap = (uint64_t)cf->txcap;
    return FLM_OK;
}

/* Adopts newconf's settings while keeping the stored events (Flume's
 * MemoryChannel.configure on a running channel).  Shrinking the capacity
 * below what is stored (or the byte budget below what is used) waits up to
 * keep-alive for room, else keeps the old value with a warning, as Flume.
 * Runs on the agent thread; may block up to keep-alive.  Always FLM_OK. */
static int mem_reconfigure(struct flm_channel *ch, void *newconf, struct flm_err *err)
{
    (void)err;
    const struct mem_conf *cf = newconf;
    struct mem_chan *mc = mc_of(ch);
    bool cap_kept = false, bytes_kept = false;
    size_t newcap = (size_t)cf->capacity;
    int64_t newbudget = slot_budget_of(cf);

    pthread_mutex_lock(&mc->mu);
    mc->keep_alive_ms = keep_alive_ms_of(cf);
    atomic_store_explicit(&mc->txcap, (uint32_t)cf->txcap, memory_order_relaxed);
    if (newcap < mc->capacity) {
        struct deadline dl = {0};
        while (mc->count + mc->inflight > newcap)
            if (!wait_until(ch, mc, &mc->space, &mc->nwait_space, &dl))
                break;
        cap_kept = mc->count + mc->inflight > newcap;
    }
    if (!cap_kept)
        mc->capacity = newcap;
    if (newbudget < mc->slot_budget) {
        struct deadline dl = {0};
        while (mc->slots_used > newbudget)
            if (!wait_until(ch, mc, &mc->space, &mc->nwait_space, &dl))
                break;
        bytes_kept = mc->slots_used > newbudget;
    }
    if (!bytes_kept)
        mc->slot_budget = newbudget;
    if (mc->nwait_space)
        pthread_cond_broadcast(&mc->space); /* a bigger channel may unblock committers */
    ch->capacity = mc->capacity;
    ch->txcap = (uint64_t)cf->txcap;
    pthread_mutex_unlock(&mc->mu);

    if (cap_kept)
        flm_warn(&ch->c.log,
                 "Couldn't acquire permits to downsize the queue, resizing has been aborted "
                 "(capacity stays %llu)",
                 (unsigned long long)ch->capacity);
    if (bytes_kept)
        flm_warn(&ch->c.log,
                 "Couldn't acquire permits to downsize the byte capacity, resizing has been aborted");
    return FLM_OK;
}

/* New (or reused) transaction for the calling thread; the core wrapper fills
 * the base fields.  FLM_OK or FLM_ENOMEM.  Never blocks, takes no lock. */
static int mem_begin(struct flm_channel *ch, struct flm_txn **out)
{
    struct mem_txn *tx = txn_get();
    if (tx == NULL)
        return FLM_ENOMEM;
    tx->base.ch = ch;
    tx->np = tx->nt = 0;
    tx->put_slots = tx->take_slots = 0;
    tx->txcap = atomic_load_explicit(&mc_of(ch)->txcap, memory_order_relaxed);
    *out = &tx->base;
    return FLM_OK;
}

/* Stages n events in the transaction (no lock: invisible until commit).
 * Takes all of them on FLM_OK, none otherwise: FLM_EFULL when the put list
 * would exceed transactionCapacity (Flume's text in errmsg), FLM_ENOMEM.
 * Never waits. */
static int mem_put(struct flm_txn *t, struct flm_event *const *evs, size_t n)
{
    struct mem_txn *tx = (struct mem_txn *)t;
    if (n > (size_t)(tx->txcap - tx->np)) {
        snprintf(t->errmsg, sizeof(t->errmsg),
                 "Put queue for MemoryTransaction of capacity %u full, consider committing more "
                 "frequently, increasing capacity or increasing thread count",
                 (unsigned)tx->txcap);
        return FLM_EFULL;
    }
    if (arr_reserve(&tx->puts, &tx->putcap, (size_t)tx->np + n) != FLM_OK)
        return FLM_ENOMEM;
    int64_t slots = 0;
    for (size_t i = 0; i < n; i++) {
        tx->puts[tx->np + i] = evs[i];
        slots += slot_cost(evs[i]);
    }
    tx->np += (uint32_t)n;
    tx->put_slots += slots;
    return FLM_OK;
}

/* Moves up to max committed events from the head into the transaction and
 * into evs (one lock acquisition).  Waits up to keep-alive only while the
 * channel is empty, never for a full batch; returns at once when ch->nowait.
 * max is capped to the room left in the take list; FLM_EFULL (Flume's text
 * in errmsg) only when that room is already 0.  *n = 0: nothing came. */
static int mem_take(struct flm_txn *t, struct flm_event **evs, size_t max, size_t *n)
{
    struct mem_txn *tx = (struct mem_txn *)t;
    struct flm_channel *ch = t->ch;
    struct mem_chan *mc = mc_of(ch);
    *n = 0;
    if (max == 0)
        return FLM_OK;
    size_t room = tx->txcap - tx->nt;
    if (room == 0) {
        snprintf(t->errmsg, sizeof(t->errmsg),
                 "Take list for MemoryTransaction, capacity %u full, consider committing more "
                 "frequently, increasing capacity, or increasing thread count",
                 (unsigned)tx->txcap);
        return FLM_EFULL;
    }
    if (max > room)
        max = room;
    /* Reserve before locking so nothing can fail once events are removed. */
    if (arr_reserve(&tx->takes, &tx->takecap, (size_t)tx->nt + max) != FLM_OK)
        return FLM_ENOMEM;

    pthread_mutex_lock(&mc->mu);
    struct deadline dl = {0};
    while (mc->count == 0)
        if (!wait_until(ch, mc, &mc->not_empty, &mc->nwait_take, &dl))
            break;
    size_t k = mc->count < max ? mc->count : max;
    if (k) {
        ring_pop_head(mc, evs, k);
        mc->inflight += k;
    }
    /* Chained wake-up: commits signal one taker; it passes the baton on if
     * it left events behind, so no herd wakes for a small commit. */
    if (mc->count && mc->nwait_take)
        pthread_cond_signal(&mc->not_empty);
    pthread_mutex_unlock(&mc->mu);

    int64_t slots = 0;
    for (size_t i = 0; i < k; i++) {
        tx->takes[tx->nt + i] = evs[i];
        slots += slot_cost(evs[i]);
    }
    tx->nt += (uint32_t)k;
    tx->take_slots += slots;
    *n = k;
    return FLM_OK;
}

/* Flume's commit rules (behaviours.md 2): when puts outnumber takes, first
 * the byte slots of ALL puts, then queue room for the growth, each waited
 * for up to keep-alive (not at all when ch->nowait).  FLM_EFULL with Flume's
 * text in errmsg when either is missing (nothing changed; the caller rolls
 * back), FLM_ENOMEM if the ring cannot grow.  On FLM_OK puts become visible
 * at the tail in put order, takes become the taker's, and their queue room
 * and byte slots are released.  One lock acquisition. */
static int mem_commit(struct flm_txn *t)
{
    struct mem_txn *tx = (struct mem_txn *)t;
    struct flm_channel *ch = t->ch;
    struct mem_chan *mc = mc_of(ch);
    size_t np = tx->np, nt = tx->nt;
    if (np == 0 && nt == 0)
        return FLM_OK;

    pthread_mutex_lock(&mc->mu);
    if (np > nt) {
        size_t growth = np - nt;
        struct deadline dl = {0};
        /* Flume acquires byte slots for ALL puts, not just the growth. */
        while (mc->slots_used + tx->put_slots > mc->slot_budget)
            if (!wait_until(ch, mc, &mc->space, &mc->nwait_space, &dl))
                break;
        if (mc->slots_used + tx->put_slots > mc->slot_budget) {
            int64_t budget = mc->slot_budget;
            pthread_mutex_unlock(&mc->mu);
            msg_bytes_full(t, budget);
            return FLM_EFULL;
        }
        mc->slots_used += tx->put_slots;
        while (mc->count + mc->inflight + growth > mc->capacity)
            if (!wait_until(ch, mc, &mc->space, &mc->nwait_space, &dl))
                break;
        int rc = FLM_OK;
        if (mc->count + mc->inflight + growth > mc->capacity)
            rc = FLM_EFULL;
        else if (ring_reserve(mc, mc->count + mc->inflight + growth) != FLM_OK)
            rc = FLM_ENOMEM;
        if (rc != FLM_OK) {
            mc->slots_used -= tx->put_slots;
            if (mc->nwait_space)
                pthread_cond_broadcast(&mc->space);
            pthread_mutex_unlock(&mc->mu);
            if (rc == FLM_EFULL)
                snprintf(t->errmsg, sizeof(t->errmsg), "%s", MSG_QUEUE_FULL);
            return rc;
        }
    }
    if (np)
        ring_push_tail(mc, tx->puts, np);
    mc->inflight -= nt;
    mc->slots_used -= tx->take_slots;
    atomic_store_explicit(&mc->size_seen, mc->count, memory_order_relaxed);
    if (np && mc->nwait_take)
        pthread_cond_signal(&mc->not_empty);
    if (nt && mc->nwait_space)
        pthread_cond_broadcast(&mc->space);
    pthread_mutex_unlock(&mc->mu);

    tx->np = tx->nt = 0;
    tx->put_slots = tx->take_slots = 0;
    return FLM_OK;
}

/* Puts taken events back at the head in their original order (no
 * allocation: the ring always has room for them) and frees staged puts
 * after the lock is released.  Never fails, never waits. */
static void mem_rollback(struct flm_txn *t)
{
    struct mem_txn *tx = (struct mem_txn *)t;
    struct mem_chan *mc = mc_of(t->ch);
    if (tx->nt) {
        pthread_mutex_lock(&mc->mu);
        /* ring_cap >= count + inflight, so this never needs to allocate. */
        ring_push_head(mc, tx->takes, tx->nt);
        mc->inflight -= tx->nt;
        atomic_store_explicit(&mc->size_seen, mc->count, memory_order_relaxed);
        if (mc->nwait_take)
            pthread_cond_signal(&mc->not_empty);
        pthread_mutex_unlock(&mc->mu);
    }
    for (uint32_t i = 0; i < tx->np; i++)
        flm_event_free(tx->puts[i]);
    tx->np = tx->nt = 0;
    tx->put_slots = tx->take_slots = 0;
}

/* Ends the transaction and keeps the object for this thread's next begin. */
static void mem_end(struct flm_txn *t)
{
    struct mem_txn *tx = (struct mem_txn *)t;
    if (tx->np || tx->nt)
        mem_rollback(t); /* only reached when ops are called without the wrappers */
    tx->base.ch = NULL;
    txn_put_back(tx);
}

/* ChannelSize as Flume reports it: the queue length at the last commit or
 * rollback.  Lock-free; any thread. */
static uint64_t mem_size(struct flm_channel *ch)
{
    struct mem_chan *mc = mc_of(ch);
    return mc ? atomic_load_explicit(&mc->size_seen, memory_order_relaxed) : 0;
}

/* Wakes every waiting taker and committer; with ch->nowait set they return
 * at once (take: no events, commit: FLM_EFULL). */
static void mem_interrupt(struct flm_channel *ch)
{
    struct mem_chan *mc = mc_of(ch);
    if (mc == NULL)
        return;
    pthread_mutex_lock(&mc->mu);
    pthread_cond_broadcast(&mc->not_empty);
    pthread_cond_broadcast(&mc->space);
    pthread_mutex_unlock(&mc->mu);
}

/* Frees every stored event; open transactions must have ended.  NULL-safe
 * and idempotent. */
static void mem_destroy(struct flm_channel *ch)
{
    struct mem_chan *mc = mc_of(ch);
    if (mc == NULL)
        return;
    while (mc->count) {
        struct flm_event *ev;
        ring_pop_head(mc, &ev, 1);
        flm_event_free(ev);
    }
    free(mc->ring);
    pthread_cond_destroy(&mc->not_empty);
    pthread_cond_destroy(&mc->space);
    pthread_mutex_destroy(&mc->mu);
    free(mc);
    ch->c.ctx = NULL;
}

/* Cross-field rule, after lenient defaulting (so capacity = 50 alone fails
 * against the default transactionCapacity 100, as in Flume). */
static int mem_validate(void *conf, const char *comp, struct flm_diag *d)
{
    const struct mem_conf *cf = conf;
    if (cf->txcap > cf->capacity) {
        flm_diag_add(d, FLM_SEV_ERROR, NULL, 0, comp, "transactionCapacity",
                     "Transaction Capacity of Memory Channel cannot be higher than the capacity.");
        return FLM_ERR;
    }
    return FLM_OK;
}

static const struct flm_channel_ops mem_ops = {
    .init = mem_init,
    .reconfigure = mem_reconfigure,
    .begin = mem_begin,
    .put = mem_put,
    .take = mem_take,
    .commit = mem_commit,
    .rollback = mem_rollback,
    .end = mem_end,
    .size = mem_size,
    .interrupt = mem_interrupt,
    .destroy = mem_destroy,
};

const struct flm_type flm_channel_memory = {
    .kind = FLM_CHANNEL,
    .alias = "memory",
    .klass = "org.apache.flume.channel.MemoryChannel",
    .summary = "In-memory transactional queue; fast, loses its events on exit.",
    .props = mem_props,
    .conf_size = sizeof(struct mem_conf),
    .validate = mem_validate,
    .batch_key = "transactionCapacity",
    .ops = &mem_ops,
};
