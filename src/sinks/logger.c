/*
 * logger.c - the logger sink: logs each event at INFO exactly as Flume's
 * EventHelper.dumpEvent does:
 *   Event: { headers:{k=v, k2=v2} body: 48 65 6C 6C 6F 20 ...   Hello world! }
 * The body part is a commons-io style hex dump of at most maxBytesToLog
 * bytes: 16 bytes per row as " XX", missing bytes padded with three spaces,
 * a space, then the printable ASCII (others as '.'); the first row's
 * "00000000" offset is dropped and the final newline removed.
 * One event per transaction, as Flume.  Runs on its sink runner thread.
 */
#include "core/component.h"

#include "core/buf.h"

#include <stdlib.h>

struct logger_conf {
    int max_bytes;
};

static const struct flm_prop logger_props[] = {
    {"maxBytesToLog", FLM_P_INT, FLM_OFF(struct logger_conf, max_bytes), "16", 0, 0, 0, NULL,
     NULL, "Body bytes shown in the log line (hex and printable)."},
    FLM_PROPS_END,
};

void flm_logger_format_event(struct flm_buf *b, const struct flm_event *ev, size_t max_bytes);

void flm_logger_format_event(struct flm_buf *b, const struct flm_event *ev, size_t max_bytes)
{
    static const char hex[] = "0123456789ABCDEF";
    flm_buf_append(b, "{ headers:{", 11);
    for (uint32_t i = 0; i < ev->nhdr; i++) {
        if (i)
            flm_buf_append(b, ", ", 2);
        flm_buf_append(b, ev->hdr[i].key, ev->hdr[i].klen);
        flm_buf_append(b, "=", 1);
        flm_buf_append(b, ev->hdr[i].val, ev->hdr[i].vlen);
    }
    flm_buf_append(b, "} body:", 7);
    size_t len = ev->body_len < max_bytes ? ev->body_len : max_bytes;
    for (size_t row = 0; row < len; row += 16) {
        size_t cnt = len - row < 16 ? len - row : 16;
        if (row != 0) {
            char off[16];
            for (int k = 0; k < 8; k++)
                off[k] = hex[(row >> (28 - 4 * k)) & 0xF];
            flm_buf_append(b, "\n", 1);
            flm_buf_append(b, off, 8);
        }
        char line[16 * 3 + 1 + 16];
        size_t n = 0;
        line[n++] = ' ';
        for (size_t k = 0; k < 16; k++) {
            if (k < cnt) {
                uint8_t c = ev->body[row + k];
                line[n++] = hex[c >> 4];
                line[n++] = hex[c & 0xF];
            } else {
                line[n++] = ' ';
                line[n++] = ' ';
            }
            line[n++] = ' ';
        }
        for (size_t k = 0; k < cnt; k++) {
            uint8_t c = ev->body[row + k];
            line[n++] = (c >= 32 && c < 127) ? (char)c : '.';
        }
        flm_buf_append(b, line, n);
    }
    flm_buf_append(b, " }", 2);
}

static int logger_process(struct flm_sink *s)
{
    const struct logger_conf *c = s->c.conf;
    struct flm_event *ev;
    struct flm_txn *tx;
    size_t n;
    int rc = flm_sink_take(s, 1, &tx, &ev, &n);
    if (rc != FLM_OK)
        return rc;
    if (n == 0)
        return FLM_BACKOFF;
    if (flm_log_level_of(&s->c.log) >= FLM_LOG_INFO) {
        struct flm_buf b;
        flm_buf_init(&b, 1u << 20);
        flm_logger_format_event(&b, ev, c->max_bytes > 0 ? (size_t)c->max_bytes : 0);
        flm_buf_append(&b, "", 1);
        if (b.p != NULL)
            flm_log_emit(FLM_LOG_INFO, &s->c.log, 0, "Event: %s", (char *)b.p);
        flm_buf_free(&b);
    }
    rc = flm_sink_commit(s, tx, 1);
    if (rc != FLM_OK)
        return rc;
    flm_event_free(ev);
    return FLM_READY;
}

static const struct flm_sink_ops logger_ops = {
    .process = logger_process,
};

const struct flm_type flm_sink_logger = {
    .kind = FLM_SINK,
    .alias = "logger",
    .klass = "org.apache.flume.sink.LoggerSink",
    .summary = "Logs every event at INFO (hex dump of the first maxBytesToLog body bytes).",
    .props = logger_props,
    .conf_size = sizeof(struct logger_conf),
    .no_counters = true,
    .ops = &logger_ops,
};
