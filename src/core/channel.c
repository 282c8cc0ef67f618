/*
 * channel.c - transaction wrappers and sink helpers.  They enforce the
 * transaction state machine and keep Flume's CHANNEL and SINK counters, so
 * channel implementations only store and sinks only deliver.  Called on the
 * thread that owns the transaction (a source or sink runner).
 */
#include "core/component.h"

#include <string.h>

static inline const struct flm_channel_ops *ops_of(const struct flm_channel *ch)
{
    return ch->c.type->ops;
}

int flm_txn_begin(struct flm_channel *ch, struct flm_txn **out)
{
    int rc = ops_of(ch)->begin(ch, out);
    if (rc == FLM_OK) {
        (*out)->ch = ch;
        (*out)->nput = (*out)->ntake = 0;
        (*out)->state = FLM_TXN_OPEN;
        (*out)->errmsg[0] = '\0';
    }
    return rc;
}

int flm_txn_put(struct flm_txn *tx, struct flm_event *const *evs, size_t n)
{
    if (FLM_NEVER(tx->state != FLM_TXN_OPEN))
        return FLM_ERR;
    flm_ctr_add(&tx->ch->c.ctr, FLM_CH_PUT_ATTEMPT, n);
    int rc = ops_of(tx->ch)->put(tx, evs, n);
    if (rc == FLM_OK)
        tx->nput += (uint32_t)n;
    return rc;
}

int flm_txn_take(struct flm_txn *tx, struct flm_event **evs, size_t max, size_t *n)
{
    *n = 0;
    if (FLM_NEVER(tx->state != FLM_TXN_OPEN))
        return FLM_ERR;
    int rc = ops_of(tx->ch)->take(tx, evs, max, n);
    /* Flume counts every take() call, the empty one that ends a batch too. */
    flm_ctr_add(&tx->ch->c.ctr, FLM_CH_TAKE_ATTEMPT, *n + (*n < max ? 1 : 0));
    if (rc == FLM_OK)
        tx->ntake += (uint32_t)*n;
    return rc;
}

int flm_txn_commit(struct flm_txn *tx)
{
    if (FLM_NEVER(tx->state != FLM_TXN_OPEN))
        return FLM_ERR;
    int rc = ops_of(tx->ch)->commit(tx);
    if (rc == FLM_OK) {
        tx->state = FLM_TXN_COMMITTED;
        if (tx->nput)
            flm_ctr_add(&tx->ch->c.ctr, FLM_CH_PUT_SUCCESS, tx->nput);
        if (tx->ntake)
            flm_ctr_add(&tx->ch->c.ctr, FLM_CH_TAKE_SUCCESS, tx->ntake);
    }
    return rc;
}

void flm_txn_rollback(struct flm_txn *tx)
{
    if (tx->state != FLM_TXN_OPEN)
        return;
    ops_of(tx->ch)->rollback(tx);
    tx->state = FLM_TXN_ROLLED_BACK;
}

void flm_txn_end(struct flm_txn *tx)
{
    if (tx == NULL)
        return;
    if (tx->state == FLM_TXN_OPEN)
        flm_txn_rollback(tx);
    ops_of(tx->ch)->end(tx);
}

uint64_t flm_channel_size(struct flm_channel *ch)
{
    return ops_of(ch)->size(ch);
}

int flm_sink_take(struct flm_sink *s, size_t max, struct flm_txn **txp, struct flm_event **evs,
                  size_t *n)
{
    struct flm_txn *tx;
    *n = 0;
    *txp = NULL;
    int rc = flm_txn_begin(s->channel, &tx);
    if (rc != FLM_OK) {
        flm_ctr_add(&s->c.ctr, FLM_SINK_CHANNEL_READ_FAIL, 1);
        return rc;
    }
    rc = flm_txn_take(tx, evs, max, n);
    if (rc != FLM_OK) {
        flm_ctr_add(&s->c.ctr, FLM_SINK_CHANNEL_READ_FAIL, 1);
        flm_txn_end(tx);
        *n = 0;
        return rc;
    }
    if (*n == 0) {
        flm_ctr_add(&s->c.ctr, FLM_SINK_BATCH_EMPTY, 1);
        flm_txn_commit(tx);
        flm_txn_end(tx);
        return FLM_OK;
    }
    flm_ctr_add(&s->c.ctr, *n < max ? FLM_SINK_BATCH_UNDERFLOW : FLM_SINK_BATCH_COMPLETE, 1);
    flm_ctr_add(&s->c.ctr, FLM_SINK_EVENT_DRAIN_ATTEMPT, *n);
    *txp = tx;
    return FLM_OK;
}

int flm_sink_commit(struct flm_sink *s, struct flm_txn *tx, size_t n)
{
    int rc = flm_txn_commit(tx);
    if (rc == FLM_OK)
        flm_ctr_add(&s->c.ctr, FLM_SINK_EVENT_DRAIN_SUCCESS, n);
    else
        flm_ctr_add(&s->c.ctr, FLM_SINK_CHANNEL_READ_FAIL, 1);
    flm_txn_end(tx);
    return rc;
}

void flm_sink_rollback(struct flm_sink *s, struct flm_txn *tx)
{
    (void)s;
    flm_txn_end(tx);
}
