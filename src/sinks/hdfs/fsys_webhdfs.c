/*
 * fsys_webhdfs.c - WebHDFS implementation of the file sinks' filesystem
 * layer: hdfs://nn:port/path and webhdfs://nn:port/path through Hadoop's
 * WebHDFS REST API (/webhdfs/v1/<path>?op=...) with libcurl.
 *
 * Mapping: webhdfs://host[:port] -> http://host:port (default 9870, the
 * namenode HTTP port); hdfs://host[:port] -> http://host:<http_port> (the
 * hdfs:// port is the RPC port and is not used; http_port comes from the
 * sink's hdfs.webhdfs.port, default 9870).  user.name = the login user
 * (flm_webhdfs_login_user); hdfs.proxyUser is sent as doas=.
 *
 * Ops: create = MKDIRS of the parent + CREATE (two-step: namenode 307 ->
 * datanode, overwrite=false, empty body); write buffers in memory; flush =
 * APPEND (two-step) of the buffered bytes, returning only after the
 * datanode answered 200, so the sink commits only acknowledged data; close
 * drops bytes never flushed (they belong to a batch that is being rolled
 * back); rename = RENAME ({"boolean":true} required).  Every op retries
 * 5xx answers, refused/broken connections and Hadoop's retriable
 * exceptions with backoff (50 ms doubling to 2 s) until callTimeout.  An
 * APPEND whose data step failed after bytes may have left is resolved with
 * GETFILESTATUS: length = acked + n -> done; = acked -> resend; longer
 * (partial write) -> TRUNCATE back to the acknowledged length, then
 * resend, so a file never holds a torn record.
 *
 * Owns: the namenode registry (reg_mu) and one curl handle per open file.
 * Threads: any sink thread; the sink serialises access to each file.
 */
#include "sinks/hdfs/fsys_webhdfs.h"

#include "core/buf.h"
#include "core/counters.h"

#include <curl/curl.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_HTTP_PORT 9870
#define DEFAULT_TIMEOUT_MS 30000
#define APPEND_EAGER_BYTES ((size_t)8 << 20)

/* One namenode as attached by the sinks. */
struct nn_entry {
    char key[320];        /* "hdfs://nn:8020" (scheme lower-cased) */
    char base[384];       /* "http://nn:9870/webhdfs/v1" */
    char user[128], doas[128];
    long long timeout_ms;
    int refs;
    struct nn_entry *next;
};

/* Settings copied out of the registry for one op. */
struct wctx {
    char base[384];
    char user[128], doas[128];
    long long timeout_ms;
};

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct nn_entry *reg;
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct flm_fsys_file {
    CURL *c;
    struct wctx w;
    char uri[PATH_MAX];
    const char *path;    /* inside uri: "/dir/f.tmp" */
    struct flm_buf buf;  /* written, not yet appended */
    uint64_t acked;      /* bytes the datanode acknowledged */
};

/* ------------------------------------------------------------ URIs */

bool flm_webhdfs_is_uri(const char *uri)
{
    return strncasecmp(uri, "hdfs://", 7) == 0 || strncasecmp(uri, "webhdfs://", 10) == 0;
}

/* Splits uri: scheme length, authority [a, a+alen), path (after authority). */
static int split(const char *uri, size_t *slen, const char **a, size_t *alen, const char **path)
{
    const char *sep = strstr(uri, "://");
    if (sep == NULL)
        return FLM_ERR;
    *slen = (size_t)(sep - uri);
    *a = sep + 3;
    const char *p = strchr(*a, '/');
    *alen = p ? (size_t)(p - *a) : strlen(*a);
    *path = p ? p : "";
    return FLM_OK;
}

int flm_webhdfs_check(const char *uri, char *why, size_t wcap)
{
    size_t slen, alen;
    const char *a, *path;
    if (!flm_webhdfs_is_uri(uri) || split(uri, &slen, &a, &alen, &path) != FLM_OK) {
        snprintf(why, wcap, "'%s' is not an hdfs:// or webhdfs:// URI", uri);
        return FLM_ERR;
    }
    if (alen == 0 || a[0] == ':') {
        snprintf(why, wcap,
                 "'%s': WebHDFS needs the namenode in the URI (%.*s://host:port/path; there is "
                 "no fs.defaultFS)",
                 uri, (int)slen, uri);
        return FLM_ERR;
    }
    if (memchr(a, '%', alen) != NULL || memchr(a, '@', alen) != NULL) {
        snprintf(why, wcap,
                 "'%s': the namenode part may not hold escape sequences or user info "
                 "(WebHDFS)",
                 uri);
        return FLM_ERR;
    }
    const char *colon = memchr(a, ':', alen);
    if (colon != NULL) {
        size_t plen = alen - (size_t)(colon + 1 - a);
        if (plen == 0 || plen > 5 || strspn(colon + 1, "0123456789") < plen) {
            snprintf(why, wcap, "'%s': bad port in the namenode part (WebHDFS)", uri);
            return FLM_ERR;
        }
    }
    return FLM_OK;
}

void flm_webhdfs_login_user(char *out, size_t cap)
{
    const char *u = getenv("HADOOP_USER_NAME");
    if (u == NULL || u[0] == '\0')
        u = getenv("USER");
    if (u != NULL && u[0] != '\0') {
        snprintf(out, cap, "%s", u);
        return;
    }
    struct passwd pw, *res = NULL;
    char buf[1024];
    if (getpwuid_r(geteuid(), &pw, buf, sizeof(buf), &res) == 0 && res != NULL)
        snprintf(out, cap, "%s", res->pw_name);
    else
        snprintf(out, cap, "%lu", (unsigned long)geteuid());
}

/* Fills e's key and base from uri (checked by flm_webhdfs_check). */
static void entry_from_uri(struct nn_entry *e, const char *uri, long http_port)
{
    size_t slen = 0, alen = 0;
    const char *a = "", *path = NULL;
    split(uri, &slen, &a, &alen, &path);
    snprintf(e->key, sizeof(e->key), "%s://%.*s", slen == 4 ? "hdfs" : "webhdfs", (int)alen, a);
    const char *colon = memchr(a, ':', alen);
    size_t hlen = colon ? (size_t)(colon - a) : alen;
    long port = http_port > 0 ? http_port : DEFAULT_HTTP_PORT;
    if (slen != 4) /* webhdfs://: the URI port is the HTTP port */
        port = colon ? strtol(colon + 1, NULL, 10) : DEFAULT_HTTP_PORT;
    snprintf(e->base, sizeof(e->base), "http://%.*s:%ld/webhdfs/v1", (int)hlen, a, port);
}

int flm_webhdfs_attach(const char *uri, const struct flm_webhdfs_opts *o, char *why,
                       size_t wcap)
{
    if (flm_webhdfs_check(uri, why, wcap) != FLM_OK)
        return FLM_ERR;
    pthread_once(&curl_once, curl_init_once);
    struct nn_entry n = {0};
    entry_from_uri(&n, uri, o->http_port);
    flm_webhdfs_login_user(n.user, sizeof(n.user));
    snprintf(n.doas, sizeof(n.doas), "%s", o->proxy_user ? o->proxy_user : "");
    n.timeout_ms = o->call_timeout_ms > 0 ? o->call_timeout_ms : DEFAULT_TIMEOUT_MS;
    pthread_mutex_lock(&reg_mu);
    for (struct nn_entry *e = reg; e; e = e->next) {
        if (strcmp(e->key, n.key) != 0)
            continue;
        if (e->refs > 0 && (strcmp(e->base, n.base) != 0 || strcmp(e->doas, n.doas) != 0 ||
                            e->timeout_ms != n.timeout_ms)) {
            pthread_mutex_unlock(&reg_mu);
            snprintf(why, wcap,
                     "another hdfs sink writes to %s with a different hdfs.webhdfs.port, "
                     "hdfs.proxyUser or hdfs.callTimeout; sinks sharing a namenode must agree",
                     n.key);
            return FLM_ERR;
        }
        snprintf(e->base, sizeof(e->base), "%s", n.base);
        snprintf(e->user, sizeof(e->user), "%s", n.user);
        snprintf(e->doas, sizeof(e->doas), "%s", n.doas);
        e->timeout_ms = n.timeout_ms;
        e->refs++;
        pthread_mutex_unlock(&reg_mu);
        return FLM_OK;
    }
    struct nn_entry *e = malloc(sizeof(*e));
    if (e == NULL) {
        pthread_mutex_unlock(&reg_mu);
        snprintf(why, wcap, "out of memory");
        return FLM_ENOMEM;
    }
    *e = n;
    e->refs = 1;
    e->next = reg;
    reg = e;
    pthread_mutex_unlock(&reg_mu);
    return FLM_OK;
}

void flm_webhdfs_detach(const char *uri)
{
    char why[64];
    if (flm_webhdfs_check(uri, why, sizeof(why)) != FLM_OK)
        return;
    struct nn_entry n = {0};
    entry_from_uri(&n, uri, 0);
    pthread_mutex_lock(&reg_mu);
    for (struct nn_entry **pp = &reg; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->key, n.key) != 0)
            continue;
        if (--(*pp)->refs <= 0) {
            struct nn_entry *e = *pp;
            *pp = e->next;
            free(e);
        }
        break;
    }
    pthread_mutex_unlock(&reg_mu);
}

/* Copies the settings of uri's namenode into w; *path = the path part. */
static int lookup(const char *uri, struct wctx *w, const char **path, struct flm_err *err)
{
    char why[256];
    if (flm_webhdfs_check(uri, why, sizeof(why)) != FLM_OK)
        return flm_err_set(err, FLM_EIO, "%s", why);
    struct nn_entry n = {0};
    entry_from_uri(&n, uri, 0);
    size_t slen = 0, alen = 0;
    const char *a = "";
    split(uri, &slen, &a, &alen, path);
    pthread_mutex_lock(&reg_mu);
    struct nn_entry *e = reg;
    while (e && strcmp(e->key, n.key) != 0)
        e = e->next;
    if (e != NULL) {
        memcpy(w->base, e->base, sizeof(w->base));
        memcpy(w->user, e->user, sizeof(w->user));
        memcpy(w->doas, e->doas, sizeof(w->doas));
        w->timeout_ms = e->timeout_ms;
    }
    pthread_mutex_unlock(&reg_mu);
    if (e == NULL)
        return flm_err_set(err, FLM_EIO, "%s: no WebHDFS settings attached for %s", uri, n.key);
    if ((*path)[0] != '/')
        return flm_err_set(err, FLM_EIO, "%s: the path must be absolute", uri);
    return FLM_OK;
}

/* ------------------------------------------------------------ HTTP */

static void pct_encode(struct flm_buf *b, const char *s, bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '.' || ch == '_' || ch == '~' || (keep_slash && ch == '/')) {
            flm_buf_append(b, s, 1);
        } else {
            char t[3] = {'%', hex[ch >> 4], hex[ch & 15]};
            flm_buf_append(b, t, 3);
        }
    }
}

/* base + path + "?op=OP&user.name=..[&doas=..]" + extra, NUL-terminated. */
static int build_url(struct flm_buf *u, const struct wctx *w, const char *path, const char *op,
                     const char *extra)
{
    u->len = 0;
    flm_buf_append(u, w->base, strlen(w->base));
    pct_encode(u, path, true);
    flm_buf_printf(u, "?op=%s&user.name=", op);
    pct_encode(u, w->user, false);
    if (w->doas[0]) {
        flm_buf_append(u, "&doas=", 6);
        pct_encode(u, w->doas, false);
    }
    if (extra != NULL)
        flm_buf_append(u, extra, strlen(extra));
    return flm_buf_append(u, "", 1);
}

struct hresp {
    CURLcode cc;
    long code;
    char loc[2048];
    struct flm_buf body;
    char cerr[CURL_ERROR_SIZE];
};

static size_t body_cb(char *p, size_t sz, size_t n, void *ud)
{
    struct flm_buf *b = ud;
    size_t len = sz * n;
    if (b->len + len <= ((size_t)1 << 20))
        flm_buf_append(b, p, len);
    return len;
}

/* One HTTP exchange.  data/n: request body (method PUT/POST), NULL for none. */
static void http(CURL *c, const char *method, const char *url, const void *data, size_t n,
                 long long timeout_ms, struct hresp *r)
{
    /* Data steps (a body to send) never reuse a connection: libcurl
     * silently resends a request that died on a reused connection, and a
     * resent APPEND would write its bytes twice. */
    bool fresh = data != NULL && n > 0;
    curl_easy_reset(c);
    r->code = 0;
    r->loc[0] = '\0';
    r->cerr[0] = '\0';
    r->body.len = 0;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, r->cerr);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, fresh ? 1L : 0L);
    curl_easy_setopt(c, CURLOPT_FORBID_REUSE, fresh ? 1L : 0L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(timeout_ms > 0 ? timeout_ms : 1));
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(timeout_ms > 0 && timeout_ms < 10000 ? timeout_ms : 10000));
    struct curl_slist *hdr = NULL;
    if (strcmp(method, "PUT") == 0 || strcmp(method, "POST") == 0) {
        hdr = curl_slist_append(hdr, "Content-Type: application/octet-stream");
        hdr = curl_slist_append(hdr, "Expect:");
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, data ? (const char *)data : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(data ? n : 0));
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    } else if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    } else {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    }
    r->cc = curl_easy_perform(c);
    if (r->cc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->code);
        char *loc = NULL;
        if (curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &loc) == CURLE_OK && loc != NULL)
            snprintf(r->loc, sizeof(r->loc), "%s", loc);
    }
    curl_slist_free_all(hdr);
}

enum { A_OK, A_RETRY, A_FAIL };

/* Hadoop exceptions that clear up by themselves (lease recovery, safe mode,
 * failover). */
static bool retriable_exception(const char *ex)
{
    static const char *const names[] = {
        "RetriableException",        "StandbyException",
        "SafeModeException",         "RecoveryInProgressException",
        "AlreadyBeingCreatedException", "LeaseExpiredException",
        NULL,
    };
    for (int i = 0; names[i]; i++)
        if (strcmp(ex, names[i]) == 0)
            return true;
    return false;
}

/* Classifies r against the wanted HTTP code; detail gets a sentence. */
static int classify(const struct hresp *r, long want, const char *url, char *detail,
                    size_t dcap)
{
    if (r->cc != CURLE_OK) {
        /* Host part of url for the message. */
        const char *h = strstr(url, "://");
        h = h ? h + 3 : url;
        size_t hl = strcspn(h, "/");
        snprintf(detail, dcap, "%.*s: %s", (int)hl, h,
                 r->cerr[0] ? r->cerr : curl_easy_strerror(r->cc));
        return A_RETRY;
    }
    if (r->code == want)
        return A_OK;
    char ex[128] = "", msg[600] = "";
    json_t *j = json_loadb((const char *)r->body.p, r->body.len, 0, NULL);
    json_t *re = j ? json_object_get(j, "RemoteException") : NULL;
    if (re != NULL) {
        const char *e = json_string_value(json_object_get(re, "exception"));
        const char *m = json_string_value(json_object_get(re, "message"));
        snprintf(ex, sizeof(ex), "%s", e ? e : "RemoteException");
        snprintf(msg, sizeof(msg), "%s", m ? m : "");
    }
    json_decref(j);
    if (ex[0])
        snprintf(detail, dcap, "HTTP %ld %s: %s", r->code, ex, msg);
    else
        snprintf(detail, dcap, "HTTP %ld (expected %ld)", r->code, want);
    if (r->code >= 500 || (ex[0] && retriable_exception(ex)))
        return A_RETRY;
    return A_FAIL;
}

/* One attempt of an op: one request, or two (namenode 307 -> datanode) when
 * two_step.  *data_sent: the datanode step may have received bytes. */
static int attempt(CURL *c, const struct wctx *w, const char *method, const char *path,
                   const char *op, const char *extra, bool two_step, const void *data, size_t n,
                   long want, long long timeout_ms, struct hresp *r, char *detail, size_t dcap,
                   bool *data_sent)
{
    struct flm_buf url;
    flm_buf_init(&url, (size_t)1 << 16);
    *data_sent = false;
    int a;
    if (build_url(&url, w, path, op, extra) != FLM_OK) {
        snprintf(detail, dcap, "URL too long");
        flm_buf_free(&url);
        return A_FAIL;
    }
    if (!two_step) {
        http(c, method, (const char *)url.p, data, n, timeout_ms, r);
        a = classify(r, want, (const char *)url.p, detail, dcap);
        flm_buf_free(&url);
        return a;
    }
    http(c, method, (const char *)url.p, NULL, 0, timeout_ms, r);
    a = classify(r, 307, (const char *)url.p, detail, dcap);
    flm_buf_free(&url);
    if (a != A_OK)
        return a;
    if (r->loc[0] == '\0') {
        snprintf(detail, dcap, "namenode answered 307 without a Location");
        return A_FAIL;
    }
    char loc[sizeof(r->loc)];
    memcpy(loc, r->loc, sizeof(loc));
    http(c, method, loc, data, n, timeout_ms, r);
    *data_sent = !(r->cc == CURLE_COULDNT_CONNECT || r->cc == CURLE_COULDNT_RESOLVE_HOST);
    return classify(r, want, loc, detail, dcap);
}

/* Sleeps the next backoff step; false when the deadline (mono ms) passed. */
static bool backoff(unsigned *delay_ms, uint64_t deadline)
{
    uint64_t now = flm_mono_ms();
    if (now >= deadline)
        return false;
    unsigned d = *delay_ms;
    if (now + d > deadline)
        d = (unsigned)(deadline - now);
    struct timespec ts = {(time_t)(d / 1000), (long)(d % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    *delay_ms = *delay_ms * 2 > 2000 ? 2000 : *delay_ms * 2;
    return true;
}

static long long remaining(uint64_t deadline)
{
    uint64_t now = flm_mono_ms();
    return now >= deadline ? 1 : (long long)(deadline - now);
}

/* Reads {"boolean": x} from r's body: 1 true, 0 false, -1 not there. */
static int json_bool(const struct hresp *r)
{
    json_t *j = json_loadb((const char *)r->body.p, r->body.len, 0, NULL);
    json_t *b = j ? json_object_get(j, "boolean") : NULL;
    int v = json_is_boolean(b) ? json_is_true(b) : -1;
    json_decref(j);
    return v;
}

/* A simple op with retries until deadline: FLM_OK, or FLM_EIO with err
 * naming op and uri.  *status_out = last HTTP code. */
static int simple_op(CURL *c, const struct wctx *w, const char *method, const char *uri,
                     const char *path, const char *op, const char *extra, long want,
                     uint64_t deadline, struct hresp *r, struct flm_err *err)
{
    char detail[800] = "";
    unsigned delay = 50;
    for (;;) {
        bool sent;
        int a = attempt(c, w, method, path, op, extra, false, NULL, 0, want, remaining(deadline),
                        r, detail, sizeof(detail), &sent);
        if (a == A_OK)
            return FLM_OK;
        if (a == A_FAIL)
            return flm_err_set(err, FLM_EIO, "WebHDFS %s %s as user %s%s%s: %s", op, uri,
                               w->user, w->doas[0] ? " doas " : "", w->doas, detail);
        if (!backoff(&delay, deadline))
            return flm_err_set(err, FLM_EIO,
                               "WebHDFS %s %s: %s (gave up after hdfs.callTimeout = %lld ms)",
                               op, uri, detail, w->timeout_ms);
    }
}

/* GETFILESTATUS length; FLM_OK, FLM_EAGAIN when the file does not exist. */
static int file_length(CURL *c, const struct wctx *w, const char *uri, const char *path,
                       uint64_t deadline, uint64_t *len, struct flm_err *err)
{
    struct hresp r = {0};
    flm_buf_init(&r.body, (size_t)1 << 20);
    int rc = simple_op(c, w, "GET", uri, path, "GETFILESTATUS", NULL, 200, deadline, &r, err);
    if (rc != FLM_OK && r.code == 404) {
        flm_buf_free(&r.body);
        return FLM_EAGAIN;
    }
    if (rc == FLM_OK) {
        json_t *j = json_loadb((const char *)r.body.p, r.body.len, 0, NULL);
        json_t *l = json_object_get(json_object_get(j, "FileStatus"), "length");
        if (json_is_integer(l) && json_integer_value(l) >= 0)
            *len = (uint64_t)json_integer_value(l);
        else
            rc = flm_err_set(err, FLM_EIO, "WebHDFS GETFILESTATUS %s: no FileStatus.length", uri);
        json_decref(j);
    }
    flm_buf_free(&r.body);
    return rc;
}

static int mkdirs(CURL *c, const struct wctx *w, const char *uri, const char *path,
                  uint64_t deadline, struct flm_err *err)
{
    struct hresp r = {0};
    flm_buf_init(&r.body, (size_t)1 << 20);
    int rc = simple_op(c, w, "PUT", uri, path, "MKDIRS", NULL, 200, deadline, &r, err);
    if (rc == FLM_OK && json_bool(&r) != 1)
        rc = flm_err_set(err, FLM_EIO, "WebHDFS MKDIRS %s answered false", uri);
    flm_buf_free(&r.body);
    return rc;
}

/* ------------------------------------------------------------ ops */

static int wh_create(const char *uri, struct flm_fsys_file **out, struct flm_err *err)
{
    struct flm_fsys_file *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return flm_err_set(err, FLM_ENOMEM, "out of memory");
    snprintf(f->uri, sizeof(f->uri), "%s", uri);
    int rc = lookup(f->uri, &f->w, &f->path, err);
    f->c = rc == FLM_OK ? curl_easy_init() : NULL;
    if (rc == FLM_OK && f->c == NULL)
        rc = flm_err_set(err, FLM_ENOMEM, "cannot start a curl handle");
    flm_buf_init(&f->buf, (size_t)1 << 31);
    uint64_t deadline = flm_mono_ms() + (uint64_t)f->w.timeout_ms;
    /* The bucket directory first, so a permission error names it. */
    if (rc == FLM_OK) {
        const char *slash = strrchr(f->path, '/');
        if (slash != NULL && slash != f->path) {
            char dir[PATH_MAX], duri[PATH_MAX];
            snprintf(dir, sizeof(dir), "%.*s", (int)(slash - f->path), f->path);
            snprintf(duri, sizeof(duri), "%.*s", (int)(slash - f->uri), f->uri);
            rc = mkdirs(f->c, &f->w, duri, dir, deadline, err);
        }
    }
    struct hresp r = {0};
    flm_buf_init(&r.body, (size_t)1 << 20);
    char detail[800] = "";
    unsigned delay = 50;
    bool maybe_created = false;
    while (rc == FLM_OK) {
        bool sent;
        int a = attempt(f->c, &f->w, "PUT", f->path, "CREATE", "&overwrite=false", true, NULL,
                        0, 201, remaining(deadline), &r, detail, sizeof(detail), &sent);
        if (a == A_OK)
            break;
        if (a == A_FAIL && maybe_created && strstr(detail, "FileAlreadyExistsException")) {
            /* An earlier attempt's answer was lost: accept our own empty file. */
            uint64_t len = 1;
            if (file_length(f->c, &f->w, f->uri, f->path, deadline, &len, err) == FLM_OK &&
                len == 0)
                break;
        }
        maybe_created = maybe_created || sent;
        if (a == A_FAIL) {
            rc = flm_err_set(err, FLM_EIO, "WebHDFS CREATE %s as user %s%s%s: %s", f->uri,
                             f->w.user, f->w.doas[0] ? " doas " : "", f->w.doas, detail);
        } else if (!backoff(&delay, deadline)) {
            rc = flm_err_set(err, FLM_EIO,
                             "WebHDFS CREATE %s: %s (gave up after hdfs.callTimeout = %lld ms)",
                             f->uri, detail, f->w.timeout_ms);
        }
    }
    flm_buf_free(&r.body);
    if (rc != FLM_OK) {
        if (f->c)
            curl_easy_cleanup(f->c);
        flm_buf_free(&f->buf);
        free(f);
        return rc;
    }
    *out = f;
    return FLM_OK;
}

/* Truncates f back to its acknowledged length (after a torn APPEND). */
static int truncate_to_acked(struct flm_fsys_file *f, uint64_t deadline, struct flm_err *err)
{
    char extra[64];
    snprintf(extra, sizeof(extra), "&newlength=%llu", (unsigned long long)f->acked);
    struct hresp r = {0};
    flm_buf_init(&r.body, (size_t)1 << 20);
    int rc = simple_op(f->c, &f->w, "POST", f->uri, f->path, "TRUNCATE", extra, 200, deadline,
                       &r, err);
    flm_buf_free(&r.body);
    if (rc != FLM_OK)
        return rc;
    /* false = block recovery runs first: wait for the length to settle. */
    unsigned delay = 50;
    for (;;) {
        uint64_t len = 0;
        rc = file_length(f->c, &f->w, f->uri, f->path, deadline, &len, err);
        if (rc != FLM_OK)
            return rc == FLM_EAGAIN ? flm_err_set(err, FLM_EIO, "%s vanished", f->uri) : rc;
        if (len == f->acked)
            return FLM_OK;
        if (!backoff(&delay, deadline))
            return flm_err_set(err, FLM_EIO, "WebHDFS TRUNCATE %s: length stays %llu, not %llu",
                               f->uri, (unsigned long long)len, (unsigned long long)f->acked);
    }
}

/* APPENDs f->buf; returns only once the datanode acknowledged it. */
static int append_buffered(struct flm_fsys_file *f, struct flm_err *err)
{
    if (f->buf.len == 0)
        return FLM_OK;
    uint64_t deadline = flm_mono_ms() + (uint64_t)f->w.timeout_ms;
    struct hresp r = {0};
    flm_buf_init(&r.body, (size_t)1 << 20);
    char detail[800] = "";
    unsigned delay = 50;
    int rc = FLM_OK;
    for (;;) {
        bool sent;
        int a = attempt(f->c, &f->w, "POST", f->path, "APPEND", NULL, true, f->buf.p, f->buf.len,
                        200, remaining(deadline), &r, detail, sizeof(detail), &sent);
        if (a == A_OK)
            break;
        if (sent) {
            /* Bytes may have reached the file: find out how many. */
            uint64_t len = 0;
            rc = file_length(f->c, &f->w, f->uri, f->path, deadline, &len, err);
            if (rc == FLM_EAGAIN)
                rc = flm_err_set(err, FLM_EIO, "WebHDFS APPEND %s: the file vanished", f->uri);
            if (rc != FLM_OK)
                break;
            if (len == f->acked + f->buf.len)
                break; /* it all landed; only the answer was lost */
            if (len != f->acked) {
                if (len < f->acked) {
                    rc = flm_err_set(err, FLM_EIO,
                                     "WebHDFS APPEND %s: file is %llu bytes, shorter than the "
                                     "%llu acknowledged",
                                     f->uri, (unsigned long long)len,
                                     (unsigned long long)f->acked);
                    break;
                }
                rc = truncate_to_acked(f, deadline, err);
                if (rc != FLM_OK)
                    break;
            }
        }
        if (a == A_FAIL) {
            rc = flm_err_set(err, FLM_EIO, "WebHDFS APPEND %s as user %s%s%s: %s", f->uri,
                             f->w.user, f->w.doas[0] ? " doas " : "", f->w.doas, detail);
            break;
        }
        if (!backoff(&delay, deadline)) {
            rc = flm_err_set(err, FLM_EIO,
                             "WebHDFS APPEND %s: %s (gave up after hdfs.callTimeout = %lld ms)",
                             f->uri, detail, f->w.timeout_ms);
            break;
        }
    }
    flm_buf_free(&r.body);
    if (rc == FLM_OK) {
        f->acked += f->buf.len;
        f->buf.len = 0;
    }
    return rc;
}

static int wh_write(struct flm_fsys_file *f, const void *p, size_t n, struct flm_err *err)
{
    if (flm_buf_append(&f->buf, p, n) != FLM_OK)
        return flm_err_set(err, FLM_EIO, "%s: out of buffer memory", f->uri);
    if (f->buf.len >= APPEND_EAGER_BYTES)
        return append_buffered(f, err);
    return FLM_OK;
}

static int wh_flush(struct flm_fsys_file *f, struct flm_err *err)
{
    return append_buffered(f, err);
}

static int wh_close(struct flm_fsys_file *f, struct flm_err *err)
{
    (void)err;
    /* Unflushed bytes belong to a batch being rolled back: dropped. */
    curl_easy_cleanup(f->c);
    flm_buf_free(&f->buf);
    free(f);
    return FLM_OK;
}

static int wh_rename(const char *from, const char *to, struct flm_err *err)
{
    struct wctx w, w2;
    const char *pfrom, *pto;
    int rc = lookup(from, &w, &pfrom, err);
    if (rc == FLM_OK)
        rc = lookup(to, &w2, &pto, err);
    if (rc != FLM_OK)
        return rc;
    if (strcmp(w.base, w2.base) != 0)
        return flm_err_set(err, FLM_EIO, "cannot rename %s to %s: different namenodes", from, to);
    CURL *c = curl_easy_init();
    if (c == NULL)
        return flm_err_set(err, FLM_ENOMEM, "cannot start a curl handle");
    struct flm_buf extra;
    flm_buf_init(&extra, (size_t)1 << 16);
    flm_buf_append(&extra, "&destination=", 13);
    pct_encode(&extra, pto, true);
    flm_buf_append(&extra, "", 1);
    uint64_t deadline = flm_mono_ms() + (uint64_t)w.timeout_ms;
    struct hresp r = {0};
    flm_buf_init(&r.body, (size_t)1 << 20);
    rc = simple_op(c, &w, "PUT", from, pfrom, "RENAME", (const char *)extra.p, 200, deadline, &r,
                   err);
    if (rc == FLM_OK && json_bool(&r) != 1) {
        /* false: target exists or source missing.  A retried rename whose
         * first answer was lost looks the same: done if from is gone and to
         * is there. */
        uint64_t len;
        struct flm_err e2 = {0};
        if (file_length(c, &w, from, pfrom, deadline, &len, &e2) == FLM_EAGAIN &&
            file_length(c, &w, to, pto, deadline, &len, &e2) == FLM_OK)
            rc = FLM_OK;
        else
            rc = flm_err_set(err, FLM_EIO,
                             "cannot rename %s to %s: WebHDFS RENAME answered false (target "
                             "exists or source missing)",
                             from, to);
    }
    flm_buf_free(&r.body);
    flm_buf_free(&extra);
    curl_easy_cleanup(c);
    return rc;
}

const struct flm_fsys_ops flm_fsys_webhdfs = {
    .scheme = "webhdfs",
    .create = wh_create,
    .write = wh_write,
    .flush = wh_flush,
    .close = wh_close,
    .rename = wh_rename,
};
