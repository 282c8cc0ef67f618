/*
 * main.c - the `flumen` command line: agent, check, help, version, gendocs.
 * A thin layer over libflumen_core.  The `agent` command owns the main
 * (supervisor) thread: it builds and starts the agent, serves metrics, polls
 * the config file for reloads and handles signals (all signals are blocked in
 * every thread and taken here with sigtimedwait).
 *
 * Command-line shape follows flume-ng (spec/config.md 6):
 *   flumen agent -n a1 -f example.conf [-c conf] [-Dk=v ...] [--no-reload-conf]
 *                [-i secs] [--strict]
 * -X JVM options are accepted and ignored so existing scripts keep working.
 */
#include "core/agent.h"
#include "core/config/properties.h"
#include "core/metrics.h"

#ifndef FLM_HAVE_MIMALLOC
#include <malloc.h>
#endif
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef FLM_VERSION
#define FLM_VERSION "0.0.0"
#endif

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: flumen <command> [options]\n"
            "\n"
            "Commands:\n"
            "  agent        run an agent (flume-ng agent)\n"
            "  avro-client  send lines as events to an avro source: -H host -p port [-F file |\n"
            "               --dirname dir] [-R headerFile] [-P rpcProps] (flume-ng avro-client)\n"
            "  check        validate a config: print the resolved flow and every problem\n"
            "  tools fcintegrity -l DIR[,DIR]\n"
            "               verify/repair a stopped file channel's data files\n"
            "  help [TYPE]  this text, or the property table of a component type\n"
            "  version      print the version\n"
            "\n"
            "agent and check options:\n"
            "  -n, --name NAME          agent name (required)\n"
            "  -f, --conf-file FILE     properties file; repeatable, later files override\n"
            "  -c, --conf DIR           configuration directory (accepted; log4j files there are not read)\n"
            "  -D<key>=<value>          system property, e.g. -Dflume.root.logger=DEBUG,console,\n"
            "                           -Dflume.monitoring.type=http -Dflume.monitoring.port=41414\n"
            "  --no-reload-conf         do not reload the config file when it changes\n"
            "  -i, --poll-interval SEC  config reload poll interval (default 30)\n"
            "  --strict                 any configuration problem is fatal (flumen addition)\n"
            "  -h, --help               this text\n");
}

/* ----------------------------------------------------------------- options */

struct opts {
    const char *name;
    const char *files[32];
    int nfiles;
    struct flm_kvs sys;
    bool reload;
    int poll_s;
    bool strict;
};

static int parse_opts(int argc, char **argv, struct opts *o)
{
    memset(o, 0, sizeof(*o));
    flm_kvs_init(&o->sys);
    o->reload = true;
    o->poll_s = 30;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED_ARG()                                                                                 \
    do {                                                                                           \
        if (next == NULL) {                                                                        \
            fprintf(stderr, "flumen: option %s needs an argument\n", a);                          \
            return -1;                                                                             \
        }                                                                                          \
        i++;                                                                                       \
    } while (0)
        if (strcmp(a, "-n") == 0 || strcmp(a, "--name") == 0) {
            NEED_ARG();
            o->name = next;
        } else if (strcmp(a, "-f") == 0 || strcmp(a, "--conf-file") == 0) {
            NEED_ARG();
            if (o->nfiles == 32) {
                fprintf(stderr, "flumen: too many config files\n");
                return -1;
            }
            o->files[o->nfiles++] = next;
        } else if (strcmp(a, "-u") == 0 || strcmp(a, "--conf-uri") == 0) {
            NEED_ARG();
            if (strncmp(next, "file:", 5) != 0) {
                fprintf(stderr, "flumen: only file: configuration URIs are supported (got %s)\n",
                        next);
                return -1;
            }
            const char *p = next + 5;
            while (p[0] == '/' && p[1] == '/')
                p++;
            o->files[o->nfiles++] = p;
        } else if (strcmp(a, "-c") == 0 || strcmp(a, "--conf") == 0 || strcmp(a, "-C") == 0 ||
                   strcmp(a, "--classpath") == 0 || strcmp(a, "--plugins-path") == 0) {
            NEED_ARG(); /* accepted for compatibility */
        } else if (strcmp(a, "-i") == 0 || strcmp(a, "--poll-interval") == 0) {
            NEED_ARG();
            long long v;
            if (flm_parse_long(next, &v) != 0 || v < 1 || v > 86400) {
                fprintf(stderr, "flumen: bad poll interval '%s' (seconds, 1..86400)\n", next);
                return -1;
            }
            o->poll_s = (int)v;
        } else if (strcmp(a, "--no-reload-conf") == 0) {
            o->reload = false;
        } else if (strcmp(a, "--strict") == 0) {
            o->strict = true;
        } else if (strncmp(a, "-D", 2) == 0) {
            const char *kv = a[2] ? a + 2 : next;
            if (a[2] == '\0')
                NEED_ARG();
            const char *eq = strchr(kv, '=');
            char key[256];
            size_t kl = eq ? (size_t)(eq - kv) : strlen(kv);
            if (kl == 0 || kl >= sizeof(key)) {
                fprintf(stderr, "flumen: bad -D option '%s'\n", a);
                return -1;
            }
            memcpy(key, kv, kl);
            key[kl] = '\0';
            flm_kvs_set(&o->sys, key, eq ? eq + 1 : "", NULL, 0);
        } else if (strncmp(a, "-X", 2) == 0 || strcmp(a, "-d") == 0 || strcmp(a, "--dryrun") == 0) {
            /* JVM options and dry-run of the Java launcher: nothing to do here. */
        } else if (strcmp(a, "-z") == 0 || strcmp(a, "--zkConnString") == 0 ||
                   strcmp(a, "-p") == 0 || strcmp(a, "--zkBasePath") == 0) {
            fprintf(stderr, "flumen: ZooKeeper configuration (%s) is not supported yet\n", a);
            return -1;
        } else if (strcmp(a, "-b") == 0 || strcmp(a, "--backup-directory") == 0) {
            fprintf(stderr, "flumen: %s is not supported yet\n", a);
            return -1;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            exit(0);
        } else {
            fprintf(stderr, "flumen: unknown option '%s' (see flumen help)\n", a);
            return -1;
        }
#undef NEED_ARG
    }
    if (o->name == NULL) {
        fprintf(stderr, "flumen: the agent name is required (-n NAME)\n");
        return -1;
    }
    if (o->nfiles == 0) {
        fprintf(stderr, "flumen: No configuration was provided (-f FILE)\n");
        return -1;
    }
    const char *lvl = flm_kvs_get(&o->sys, "flume.root.logger");
    if (lvl != NULL) {
        int l = flm_log_parse_level(lvl);
        if (l < 0) {
            fprintf(stderr, "flumen: unknown log level in -Dflume.root.logger=%s\n", lvl);
            return -1;
        }
        flm_log_level_global = l;
    }
    return 0;
}

/* Loads and merges every -f file, then applies ${...} interpolation. */
static int load_config(const struct opts *o, struct flm_kvs *props, struct flm_err *err)
{
    flm_kvs_init(props);
    for (int i = 0; i < o->nfiles; i++) {
        int rc = flm_properties_load_file(o->files[i], props, err);
        if (rc != FLM_OK) {
            flm_kvs_free(props);
            return rc;
        }
    }
    const char *impl = flm_kvs_get(&o->sys, "propertiesImplementation");
    struct flm_interp_ctx ic = {
        .sys = &o->sys,
        .env_fallback = impl && strstr(impl, "EnvVarResolverProperties") != NULL,
    };
    return flm_interpolate(props, &ic);
}

static void report_diag(const struct flm_diag *d, FILE *f, bool as_log)
{
    char line[1024];
    for (size_t i = 0; i < d->n; i++) {
        flm_diag_format(&d->v[i], line, sizeof(line));
        if (as_log) {
            if (d->v[i].sev == FLM_SEV_ERROR)
                flm_error(&flm_log_agent, "%s", line);
            else
                flm_warn(&flm_log_agent, "%s", line);
        } else {
            fprintf(f, "%s: %s\n", d->v[i].sev == FLM_SEV_ERROR ? "error" : "warning", line);
        }
    }
}

/* ------------------------------------------------------------------- check */

static int cmd_check(int argc, char **argv)
{
    struct opts o;
    if (parse_opts(argc, argv, &o) != 0)
        return 2;
    flm_log_level_global = FLM_LOG_ERROR;
    struct flm_kvs props;
    struct flm_err err = {0};
    if (load_config(&o, &props, &err) != FLM_OK) {
        fprintf(stderr, "error: %s\n", err.msg);
        flm_kvs_free(&o.sys);
        return 1;
    }
    struct flm_diag d;
    flm_diag_init(&d);
    struct flm_agent *a = NULL;
    int rc = flm_agent_build(&props, o.name, NULL, &d, &a);
    report_diag(&d, stdout, false);
    int status = 0;
    if (rc != FLM_OK) {
        printf("FAILED: the configuration cannot be loaded\n");
        status = 1;
    } else {
        flm_agent_print_flow(a, stdout);
        if (d.nerr > 0 || flm_agent_empty(a) || (o.strict && d.nwarn > 0)) {
            printf("FAILED: %zu error(s), %zu warning(s): the agent would not run as written\n",
                   d.nerr, d.nwarn);
            status = 1;
        } else {
            printf("OK: %zu warning(s)\n", d.nwarn);
        }
    }
    flm_agent_free(a);
    flm_diag_free(&d);
    flm_kvs_free(&props);
    flm_kvs_free(&o.sys);
    return status;
}

/* ------------------------------------------------------------------- agent */

struct supervisor {
    pthread_mutex_t mu;          /* guards agent against the metrics thread */
    struct flm_agent *agent;
    struct opts *o;
    struct timespec mtimes[32]; /* Flume compares lastModified() in ms */
    struct flm_metrics_http *mhttp;
    _Atomic bool stopped;
    unsigned drain_ms;
};

static int render_metrics(struct flm_buf *out, int what, void *arg)
{
    struct supervisor *sv = arg;
    struct flm_component *comps[1024];
    pthread_mutex_lock(&sv->mu);
    size_t n = flm_agent_components(sv->agent, comps, 1024);
    int rc = what == 0 ? flm_metrics_json(out, comps, n) : flm_metrics_prometheus(out, comps, n);
    pthread_mutex_unlock(&sv->mu);
    return rc;
}

static void read_mtimes(struct supervisor *sv, struct timespec *out)
{
    for (int i = 0; i < sv->o->nfiles; i++) {
        struct stat st;
        out[i] = stat(sv->o->files[i], &st) == 0 ? st.st_mtim : (struct timespec){0, 0};
    }
}

static bool ts_after(struct timespec a, struct timespec b)
{
    return a.tv_sec > b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec > b.tv_nsec);
}

/* Builds and swaps in a new agent when a config file's mtime increased.
 * A config that cannot be loaded leaves the running agent alone and the
 * poller alive (Flume's poller dies there: later edits were never seen). */
static void maybe_reload(struct supervisor *sv)
{
    struct timespec now[32];
    read_mtimes(sv, now);
    bool changed = false;
    for (int i = 0; i < sv->o->nfiles; i++)
        if (ts_after(now[i], sv->mtimes[i]))
            changed = true;
    if (!changed)
        return;
    memcpy(sv->mtimes, now, sizeof(now));
    flm_info(&flm_log_agent, "Reloading configuration file(s)");
    struct flm_kvs props;
    struct flm_err err = {0};
    if (load_config(sv->o, &props, &err) != FLM_OK) {
        flm_error(&flm_log_agent, "reload failed, keeping the running configuration: %s",
                  err.msg);
        return;
    }
    struct flm_diag d;
    flm_diag_init(&d);
    struct flm_agent *na = NULL;
    int rc = flm_agent_build(&props, sv->o->name, sv->agent, &d, &na);
    report_diag(&d, stderr, true);
    flm_kvs_free(&props);
    if (rc != FLM_OK || (sv->o->strict && d.n > 0)) {
        flm_error(&flm_log_agent,
                  "reload rejected (see the errors above); the running configuration is kept");
        flm_agent_free(na);
        flm_diag_free(&d);
        return;
    }
    flm_diag_free(&d);
    pthread_mutex_lock(&sv->mu);
    flm_agent_stop(sv->agent, false, 0);
    flm_agent_free(sv->agent);
    sv->agent = na;
    if (flm_agent_start(na, &err) != FLM_OK)
        flm_error(&flm_log_agent, "after reload: %s", err.msg);
    pthread_mutex_unlock(&sv->mu);
    flm_info(&flm_log_agent, "Configuration reloaded");
}

static void *shutdown_thread(void *arg)
{
    struct supervisor *sv = arg;
    pthread_mutex_lock(&sv->mu);
    flm_agent_stop(sv->agent, true, sv->drain_ms);
    pthread_mutex_unlock(&sv->mu);
    atomic_store(&sv->stopped, true);
    kill(getpid(), SIGUSR1); /* wake the supervisor's sigtimedwait */
    return NULL;
}

static int cmd_agent(int argc, char **argv)
{
    struct opts o;
    if (parse_opts(argc, argv, &o) != 0)
        return 2;
    snprintf(flm_log_agent.name, sizeof(flm_log_agent.name), "%s", o.name);

    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    sigaddset(&sigs, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL); /* inherited by every thread */
    signal(SIGPIPE, SIG_IGN);

    struct supervisor sv = {.o = &o, .drain_ms = 10000};
    pthread_mutex_init(&sv.mu, NULL);
    const char *dm = flm_kvs_get(&o.sys, "flumen.shutdown.timeout");
    long long v;
    if (dm != NULL && flm_parse_long(dm, &v) == 0 && v >= 0)
        sv.drain_ms = (unsigned)v;

    flm_info(&flm_log_agent, "flumen %s starting agent %s", FLM_VERSION, o.name);
    read_mtimes(&sv, sv.mtimes);
    struct flm_kvs props;
    struct flm_err err = {0};
    if (load_config(&o, &props, &err) != FLM_OK) {
        flm_error(&flm_log_agent, "%s", err.msg);
        flm_kvs_free(&o.sys);
        return 1;
    }
    struct flm_diag d;
    flm_diag_init(&d);
    int rc = flm_agent_build(&props, o.name, NULL, &d, &sv.agent);
    report_diag(&d, stderr, true);
    flm_kvs_free(&props);
    if (rc != FLM_OK || (o.strict && d.n > 0)) {
        flm_error(&flm_log_agent, "%s; exiting",
                  rc != FLM_OK ? "the configuration cannot be loaded"
                               : "configuration problems with --strict");
        flm_diag_free(&d);
        flm_agent_free(sv.agent);
        flm_kvs_free(&o.sys);
        return 1;
    }
    flm_diag_free(&d);
    if (flm_agent_empty(sv.agent))
        flm_warn(&flm_log_agent, "agent %s has nothing to run; waiting for a configuration change",
                 o.name);

    if (flm_agent_start(sv.agent, &err) != FLM_OK && o.strict) {
        flm_error(&flm_log_agent, "%s; exiting (--strict)", err.msg);
        flm_agent_stop(sv.agent, false, 0);
        flm_agent_free(sv.agent);
        flm_kvs_free(&o.sys);
        return 1;
    }

    const char *mtype = flm_kvs_get(&o.sys, "flume.monitoring.type");
    if (mtype != NULL) {
        if (strcasecmp(mtype, "http") == 0) {
            const char *ps = flm_kvs_get(&o.sys, "flume.monitoring.port");
            const char *host = flm_kvs_get(&o.sys, "flume.monitoring.host");
            long long port = 41414;
            if (ps != NULL && (flm_parse_long(ps, &port) != 0 || port < 0 || port > 65535)) {
                flm_error(&flm_log_agent, "bad -Dflume.monitoring.port=%s", ps);
                port = -1;
            }
            if (port >= 0 && flm_metrics_http_start(host ? host : "0.0.0.0", (int)port,
                                                    render_metrics, &sv, &sv.mhttp,
                                                    &err) != FLM_OK) {
                flm_error(&flm_log_agent, "monitoring server not started: %s", err.msg);
                if (o.strict)
                    goto out;
            } else if (port >= 0) {
                flm_info(&flm_log_agent, "HTTP monitoring at http://%s:%lld/metrics",
                         host ? host : "0.0.0.0", port);
            }
        } else {
            flm_error(&flm_log_agent,
                      "monitoring type '%s' is not supported (only http); no monitoring", mtype);
        }
    }

    uint64_t next_poll = flm_mono_ms() + (uint64_t)o.poll_s * 1000u;
    bool shutting = false;
    pthread_t sth;
    for (;;) {
        struct timespec ts = {0, 200 * 1000000L};
        int sig = sigtimedwait(&sigs, NULL, &ts);
        if (atomic_load(&sv.stopped))
            break;
        if (sig == SIGTERM || sig == SIGINT) {
            if (shutting) {
                flm_warn(&flm_log_agent, "second signal: exiting now without draining");
                _exit(1);
            }
            shutting = true;
            flm_info(&flm_log_agent, "signal %d: stopping (draining for up to %u ms; a second "
                     "signal exits at once)", sig, sv.drain_ms);
            if (pthread_create(&sth, NULL, shutdown_thread, &sv) != 0)
                _exit(1);
            continue;
        }
        if (sig == SIGHUP && !shutting) {
            memset(sv.mtimes, 0, sizeof(sv.mtimes)); /* force a reload */
            maybe_reload(&sv);
            continue;
        }
        if (!shutting && o.reload && flm_mono_ms() >= next_poll) {
            maybe_reload(&sv);
            next_poll = flm_mono_ms() + (uint64_t)o.poll_s * 1000u;
        }
    }
    pthread_join(sth, NULL);
out:
    flm_metrics_http_stop(sv.mhttp);
    flm_agent_stop(sv.agent, false, 0);
    flm_agent_free(sv.agent);
    flm_kvs_free(&o.sys);
    pthread_mutex_destroy(&sv.mu);
    flm_info(&flm_log_agent, "agent %s stopped", o.name);
    return 0;
}

/* -------------------------------------------------------------------- help */

static void print_type(const struct flm_type *t, bool md, FILE *f)
{
    if (md) {
        fprintf(f, "<!-- generated by `flumen gendocs` from the property table, do not edit -->\n");
        fprintf(f, "# %s %s\n\n", t->alias, flm_kind_name(t->kind));
        fprintf(f, "%s\n\n", t->summary ? t->summary : "");
        fprintf(f, "- type: `%s`%s%s%s\n", t->alias, t->klass ? " or `" : "",
                t->klass ? t->klass : "", t->klass ? "`" : "");
        if (t->batch_key)
            fprintf(f, "- batch size checked against the channel's transaction capacity: `%s`\n",
                    t->batch_key);
        fprintf(f, "\n");
        flm_props_print(f, t->props, true);
        return;
    }
    fprintf(f, "%s %s%s%s%s\n  %s\n\nProperties:\n", flm_kind_name(t->kind), t->alias,
            t->klass ? " (" : "", t->klass ? t->klass : "", t->klass ? ")" : "",
            t->summary ? t->summary : "");
    if (t->props == NULL || t->props[0].name == NULL)
        fprintf(f, "  (none)\n");
    else
        flm_props_print(f, t->props, false);
}

static int cmd_help(int argc, char **argv)
{
    bool md = false;
    const char *name = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--markdown") == 0)
            md = true;
        else
            name = argv[i];
    }
    if (name == NULL) {
        usage(stdout);
        printf("\nComponent types (flumen help TYPE shows the properties):\n");
        for (int k = 0; k < FLM_KIND_MAX; k++) {
            printf("  %-15s", flm_kind_name((enum flm_kind)k));
            for (const struct flm_type *const *t = flm_registry_all(); *t; t++)
                if ((*t)->kind == (enum flm_kind)k)
                    printf(" %s", (*t)->alias);
            printf("\n");
        }
        return 0;
    }
    int found = 0;
    for (int k = 0; k < FLM_KIND_MAX; k++) {
        const struct flm_type *t = flm_registry_find((enum flm_kind)k, name);
        if (t != NULL) {
            if (found++)
                printf("\n");
            print_type(t, md, stdout);
        }
    }
    if (!found) {
        fprintf(stderr, "flumen: unknown component type '%s' (flumen help lists them)\n", name);
        return 1;
    }
    return 0;
}

/* Writes docs/components/<kind>-<alias>.md for every type plus an index. */
static int cmd_gendocs(int argc, char **argv)
{
    if (argc != 1) {
        fprintf(stderr, "usage: flumen gendocs DIR\n");
        return 2;
    }
    char path[4096];
    snprintf(path, sizeof(path), "%s/README.md", argv[0]);
    FILE *idx = fopen(path, "w");
    if (idx == NULL) {
        perror(path);
        return 1;
    }
    fprintf(idx, "<!-- generated by `flumen gendocs`, do not edit -->\n# Components\n\n"
                 "| Kind | Type | Flume class | Summary |\n|---|---|---|---|\n");
    for (const struct flm_type *const *t = flm_registry_all(); *t; t++) {
        char kind[32];
        snprintf(kind, sizeof(kind), "%s", flm_kind_name((*t)->kind));
        for (char *p = kind; *p; p++)
            if (*p == ' ')
                *p = '-';
        snprintf(path, sizeof(path), "%s/%s-%s.md", argv[0], kind, (*t)->alias);
        FILE *f = fopen(path, "w");
        if (f == NULL) {
            perror(path);
            fclose(idx);
            return 1;
        }
        print_type(*t, true, f);
        fclose(f);
        fprintf(idx, "| %s | [`%s`](%s-%s.md) | %s | %s |\n", flm_kind_name((*t)->kind),
                (*t)->alias, kind, (*t)->alias, (*t)->klass ? (*t)->klass : "",
                (*t)->summary ? (*t)->summary : "");
    }
    fclose(idx);
    return 0;
}

int flm_cmd_avro_client(int argc, char **argv); /* src/cli/avro_client.c */
int flm_cmd_tools(int argc, char **argv);       /* src/cli/tools_fcintegrity.c */

int main(int argc, char **argv)
{
#ifndef FLM_HAVE_MIMALLOC
    /* glibc otherwise trims and re-faults the heap top on every burst of
     * events (11% of netcat's time in page faults, bench/RESULTS.md). */
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
    mallopt(M_TOP_PAD, 1 << 20);
#endif
    if (argc < 2) {
        usage(stderr);
        return 1;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "agent") == 0 || strcmp(cmd, "node") == 0)
        return cmd_agent(argc - 2, argv + 2);
    if (strcmp(cmd, "avro-client") == 0)
        return flm_cmd_avro_client(argc - 2, argv + 2);
    if (strcmp(cmd, "tools") == 0 || strcmp(cmd, "tool") == 0)
        return flm_cmd_tools(argc - 2, argv + 2);
    if (strcmp(cmd, "check") == 0)
        return cmd_check(argc - 2, argv + 2);
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0)
        return cmd_help(argc - 2, argv + 2);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("flumen %s\n", FLM_VERSION);
        printf("Runs Apache Flume 1.11 agent configurations (flume-ng compatible command line).\n");
        return 0;
    }
    if (strcmp(cmd, "gendocs") == 0)
        return cmd_gendocs(argc - 2, argv + 2);
    fprintf(stderr, "flumen: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 1;
}
