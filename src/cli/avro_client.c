/*
 * avro_client.c - `flumen avro-client`, as `flume-ng avro-client`: reads
 * text (a file, stdin, or every file of a directory), one event per line,
 * and sends the lines to an avro source with appendBatch in batches of
 * batch-size (100), waiting for each answer.  -R adds the headers of a
 * properties file to every event; -P reads RPC client properties
 * (batch-size, connect-timeout, request-timeout, compression-type,
 * compression-level, hosts/hosts.<alias> for the target, and TLS: ssl,
 * trust-all-certs, truststore, truststore-password, truststore-type,
 * include/exclude-protocols and -cipher-suites, with unset keys falling back
 * to FLUME_SSL_* as in src/rpc/avro_tls.c).
 *
 * Runs on the main thread; owns its connection (src/rpc/avro_rpc.c) and
 * its TLS client context.
 * Exit status 0 when every line was acknowledged OK, 1 otherwise (usage,
 * unreadable input, connection failure, FAILED status).
 */
#include "core/config/properties.h"
#include "core/event.h"
#include "core/kv.h"
#include "core/props.h"
#include "rpc/avro_rpc.h"
#include "rpc/avro_tls.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/types.h>

int flm_cmd_avro_client(int argc, char **argv);

struct ac_opts {
    const char *host, *file, *dir, *hdrfile, *props;
    int port;
    int batch;
    int connect_timeout, request_timeout;
    int level;      /* -1: none */
    char hostbuf[256];
    SSL_CTX *ssl_ctx;   /* -P ssl = true: TLS client context; NULL = plain */
};

struct ac_state {
    struct ac_opts *o;
    struct flm_avro_conn conn;
    struct flm_hdr *hdrs;
    size_t nhdr;
    struct flm_event **evs;
    size_t nevs;
    unsigned long long sent;
};

static void ac_usage(FILE *f)
{
    fprintf(f,
            "usage: flumen avro-client -H host -p port [-F file | --dirname dir] [-R headerFile]\n"
            "                          [-P rpcProps] [-c confdir]\n"
            "Sends each line of the file (default: stdin) as one event to an avro source,\n"
            "in appendBatch calls of batch-size (100) events.\n"
            "  -H, --host        avro source host\n"
            "  -p, --port        avro source port\n"
            "  -F, --filename    text file to send (default: stdin)\n"
            "      --dirname     send every file of a directory; each is renamed .COMPLETED\n"
            "  -R, --headerFile  properties file: every key=value becomes a header\n"
            "  -P, --rpcProps    RPC client properties (batch-size, connect-timeout,\n"
            "                    request-timeout, compression-type, compression-level, hosts,\n"
            "                    ssl, trust-all-certs, truststore, truststore-password,\n"
            "                    truststore-type, include/exclude-protocols and\n"
            "                    include/exclude-cipher-suites)\n"
            "  -c, --conf        configuration directory (accepted; unused)\n");
}

static int parse_int(const char *s, int *out)
{
    long long v;
    if (flm_parse_long(s, &v) != 0 || v < 0 || v > 2147483647LL)
        return -1;
    *out = (int)v;
    return 0;
}

/* Applies an RPC client properties file (components.md 11). */
static int apply_rpc_props(struct ac_opts *o)
{
    struct flm_kvs kv;
    struct flm_err err = {0};
    flm_kvs_init(&kv);
    if (flm_properties_load_file(o->props, &kv, &err) != FLM_OK) {
        fprintf(stderr, "flumen avro-client: %s\n", err.msg);
        flm_kvs_free(&kv);
        return -1;
    }
    const char *v;
    int bad = 0;
    if ((v = flm_kvs_get(&kv, "batch-size")) && (parse_int(v, &o->batch) || o->batch < 1))
        bad = fprintf(stderr, "flumen avro-client: %s: bad batch-size '%s'\n", o->props, v);
    if ((v = flm_kvs_get(&kv, "connect-timeout")) && parse_int(v, &o->connect_timeout))
        bad = fprintf(stderr, "flumen avro-client: %s: bad connect-timeout '%s'\n", o->props, v);
    if ((v = flm_kvs_get(&kv, "request-timeout")) && parse_int(v, &o->request_timeout))
        bad = fprintf(stderr, "flumen avro-client: %s: bad request-timeout '%s'\n", o->props, v);
    int level = 6;
    if ((v = flm_kvs_get(&kv, "compression-level")) && (parse_int(v, &level) || level > 9))
        bad = fprintf(stderr, "flumen avro-client: %s: bad compression-level '%s'\n", o->props,
                      v);
    if ((v = flm_kvs_get(&kv, "compression-type")) != NULL) {
        /* Flume takes anything but deflate as none; a typo would then only
         * show as a source that cannot decode us, so refuse it here */
        if (strcasecmp(v, "deflate") == 0)
            o->level = level;
        else if (strcasecmp(v, "none") != 0)
            bad = fprintf(stderr, "flumen avro-client: %s: bad compression-type '%s' (none or "
                          "deflate)\n", o->props, v);
    }
    if (!bad && (v = flm_kvs_get(&kv, "ssl")) != NULL && flm_parse_bool(v)) {
        const char *tv = flm_kvs_get(&kv, "trust-all-certs");
        struct flm_avro_tls_conf tc = {
            .truststore = flm_kvs_get(&kv, "truststore"),
            .truststore_password = flm_kvs_get(&kv, "truststore-password"),
            .truststore_type = flm_kvs_get(&kv, "truststore-type"),
            .trust_all = tv != NULL && flm_parse_bool(tv),
            .include_protocols = flm_kvs_get(&kv, "include-protocols"),
            .exclude_protocols = flm_kvs_get(&kv, "exclude-protocols"),
            .include_ciphers = flm_kvs_get(&kv, "include-cipher-suites"),
            .exclude_ciphers = flm_kvs_get(&kv, "exclude-cipher-suites")};
        struct flm_err terr = {0};
        if (flm_avro_tls_ctx(&o->ssl_ctx, false, &tc, &terr) != FLM_OK) {
            o->ssl_ctx = NULL;
            bad = fprintf(stderr, "flumen avro-client: %s: ssl: %s\n", o->props, terr.msg);
        }
    }
    const char *hosts = flm_kvs_get(&kv, "hosts");
    if (hosts != NULL && o->host == NULL) {
        /* The first alias of hosts: hosts.<alias> = host:port. */
        char alias[128];
        if (sscanf(hosts, " %127s", alias) == 1) {
            char key[160];
            snprintf(key, sizeof(key), "hosts.%s", alias);
            const char *hp = flm_kvs_get(&kv, key);
            const char *colon = hp ? strrchr(hp, ':') : NULL;
            if (colon != NULL && parse_int(colon + 1, &o->port) == 0) {
                snprintf(o->hostbuf, sizeof(o->hostbuf), "%.*s", (int)(colon - hp), hp);
                o->host = o->hostbuf;
            } else {
                bad = fprintf(stderr, "flumen avro-client: %s: %s must be host:port\n",
                              o->props, key);
            }
        }
    }
    flm_kvs_free(&kv);
    return bad ? -1 : 0;
}

static int load_headers(struct ac_state *st)
{
    struct flm_kvs kv;
    struct flm_err err = {0};
    flm_kvs_init(&kv);
    if (flm_properties_load_file(st->o->hdrfile, &kv, &err) != FLM_OK) {
        fprintf(stderr, "flumen avro-client: %s\n", err.msg);
        flm_kvs_free(&kv);
        return -1;
    }
    st->hdrs = calloc(kv.n ? kv.n : 1, sizeof(*st->hdrs));
    if (st->hdrs == NULL) {
        flm_kvs_free(&kv);
        return -1;
    }
    for (size_t i = 0; i < kv.n; i++) {
        st->hdrs[i].key = strdup(kv.v[i].key);
        st->hdrs[i].val = strdup(kv.v[i].val);
        if (st->hdrs[i].key == NULL || st->hdrs[i].val == NULL) {
            flm_kvs_free(&kv);
            return -1;
        }
        st->hdrs[i].klen = (uint32_t)strlen(st->hdrs[i].key);
        st->hdrs[i].vlen = (uint32_t)strlen(st->hdrs[i].val);
    }
    st->nhdr = kv.n;
    flm_kvs_free(&kv);
    return 0;
}

/* Sends the pending batch; -1 on any failure (message printed). */
static int flush(struct ac_state *st)
{
    if (st->nevs == 0)
        return 0;
    int status = -1;
    struct flm_err err = {0};
    int to = st->conn.established ? st->o->request_timeout : st->o->connect_timeout;
    int rc = flm_avro_call(&st->conn, FLM_AVRO_MSG_APPEND_BATCH, st->evs, st->nevs, to, &status,
                           &err);
    size_t n = st->nevs;
    for (size_t i = 0; i < st->nevs; i++)
        flm_event_free(st->evs[i]);
    st->nevs = 0;
    if (rc != FLM_OK) {
        fprintf(stderr, "flumen avro-client: failed to send a batch of %zu event(s): %s\n", n,
                err.msg);
        return -1;
    }
    if (status != FLM_AVRO_OK) {
        fprintf(stderr, "flumen avro-client: %s answered %s to a batch of %zu event(s)\n",
                st->conn.peer, status == FLM_AVRO_FAILED ? "FAILED" : "UNKNOWN", n);
        return -1;
    }
    st->sent += n;
    return 0;
}

static int add_line(struct ac_state *st, const char *line, size_t len)
{
    if (len > 0 && line[len - 1] == '\n')
        len--;
    if (len > 0 && line[len - 1] == '\r')
        len--;
    struct flm_event *ev = flm_event_new(line, len, st->nhdr ? st->hdrs : NULL, st->nhdr);
    if (ev == NULL) {
        fprintf(stderr, "flumen avro-client: out of memory\n");
        return -1;
    }
    st->evs[st->nevs++] = ev;
    if (st->nevs == (size_t)st->o->batch)
        return flush(st);
    return 0;
}

static int send_stream(struct ac_state *st, FILE *f, const char *name)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int rc = 0;
    while (rc == 0 && (n = getline(&line, &cap, f)) >= 0)
        rc = add_line(st, line, (size_t)n);
    if (rc == 0 && ferror(f)) {
        fprintf(stderr, "flumen avro-client: error reading %s: %s\n", name, strerror(errno));
        rc = -1;
    }
    free(line);
    if (rc == 0)
        rc = flush(st);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int send_dir(struct ac_state *st, const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        fprintf(stderr, "flumen avro-client: cannot open directory %s: %s\n", dir,
                strerror(errno));
        return -1;
    }
    char **names = NULL;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (de->d_name[0] == '.' || (l >= 10 && strcmp(de->d_name + l - 10, ".COMPLETED") == 0))
            continue;
        char **nn = realloc(names, (n + 1) * sizeof(*nn));
        if (nn == NULL)
            break;
        names = nn;
        names[n] = strdup(de->d_name);
        if (names[n] != NULL)
            n++;
    }
    closedir(d);
    qsort(names, n, sizeof(*names), cmp_str);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        char path[4096], done[4200];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        struct stat sb;
        if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
            continue;
        FILE *f = fopen(path, "rb");
        if (f == NULL) {
            fprintf(stderr, "flumen avro-client: cannot open %s: %s\n", path, strerror(errno));
            rc = -1;
            break;
        }
        rc = send_stream(st, f, path);
        fclose(f);
        if (rc == 0) {
            snprintf(done, sizeof(done), "%s.COMPLETED", path);
            if (rename(path, done) != 0) {
                fprintf(stderr, "flumen avro-client: cannot rename %s: %s\n", path,
                        strerror(errno));
                rc = -1;
            }
        }
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

/* Checks the options, connects and sends; the exit status. */
static int ac_run(struct ac_opts *op)
{
    struct ac_opts o = *op;
    if (o.host == NULL || o.port == 0) {
        fprintf(stderr, "flumen avro-client: either -P or both -H and -p are required\n\n");
        ac_usage(stderr);
        return 1;
    }
    if (o.file != NULL && o.dir != NULL) {
        fprintf(stderr, "flumen avro-client: --filename and --dirname are exclusive\n");
        return 1;
    }
    struct ac_state st = {.o = &o};
    if (o.hdrfile != NULL && load_headers(&st) != 0)
        return 1;
    st.evs = calloc((size_t)o.batch, sizeof(*st.evs));
    FILE *in = stdin;
    if (o.file != NULL && (in = fopen(o.file, "rb")) == NULL) {
        fprintf(stderr, "flumen avro-client: cannot open %s: %s\n", o.file, strerror(errno));
        return 1;
    }
    struct flm_err err = {0};
    int rc = st.evs ? flm_avro_connect_tls(&st.conn, o.host, o.port, o.connect_timeout, o.level,
                                           o.ssl_ctx, NULL, &err)
                    : FLM_ENOMEM;
    if (rc != FLM_OK) {
        fprintf(stderr, "flumen avro-client: %s\n", err.msg[0] ? err.msg : "out of memory");
    } else {
        int r = o.dir ? send_dir(&st, o.dir) : send_stream(&st, in, o.file ? o.file : "stdin");
        rc = r == 0 ? FLM_OK : FLM_ERR;
        flm_avro_close(&st.conn);
    }
    if (in != stdin)
        fclose(in);
    for (size_t i = 0; i < st.nevs; i++)
        flm_event_free(st.evs[i]);
    free(st.evs);
    for (size_t i = 0; i < st.nhdr; i++) {
        free((char *)st.hdrs[i].key);
        free((char *)st.hdrs[i].val);
    }
    free(st.hdrs);
    if (rc == FLM_OK)
        fprintf(stderr, "flumen avro-client: sent %llu event(s)\n", st.sent);
    return rc == FLM_OK ? 0 : 1;
}

int flm_cmd_avro_client(int argc, char **argv)
{
    struct ac_opts o = {.batch = 100, .connect_timeout = 20000, .request_timeout = 20000,
                        .level = -1};
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool takes = true;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            ac_usage(stdout);
            return 0;
        } else if (strcmp(a, "-H") == 0 || strcmp(a, "--host") == 0) {
            o.host = v;
        } else if (strcmp(a, "-p") == 0 || strcmp(a, "--port") == 0) {
            if (v == NULL || parse_int(v, &o.port) != 0 || o.port < 1 || o.port > 65535) {
                fprintf(stderr, "flumen avro-client: bad port '%s'\n", v ? v : "");
                return 1;
            }
        } else if (strcmp(a, "-F") == 0 || strcmp(a, "--filename") == 0) {
            o.file = v;
        } else if (strcmp(a, "--dirname") == 0) {
            o.dir = v;
        } else if (strcmp(a, "-R") == 0 || strcmp(a, "--headerFile") == 0) {
            o.hdrfile = v;
        } else if (strcmp(a, "-P") == 0 || strcmp(a, "--rpcProps") == 0) {
            o.props = v;
        } else if (strcmp(a, "-c") == 0 || strcmp(a, "--conf") == 0) {
            /* accepted, unused */
        } else if (strncmp(a, "-D", 2) == 0 || strncmp(a, "-X", 2) == 0) {
            takes = false;   /* JVM options of flume-ng: ignored */
        } else {
            fprintf(stderr, "flumen avro-client: unknown option '%s'\n\n", a);
            ac_usage(stderr);
            return 1;
        }
        if (takes) {
            if (v == NULL) {
                fprintf(stderr, "flumen avro-client: option %s needs a value\n", a);
                return 1;
            }
            i++;
        }
    }
    if (o.props != NULL && apply_rpc_props(&o) != 0) {
        if (o.ssl_ctx != NULL)
            SSL_CTX_free(o.ssl_ctx);
        return 1;
    }
    int rc = ac_run(&o);
    if (o.ssl_ctx != NULL)
        SSL_CTX_free(o.ssl_ctx);
    return rc;
}
