/*
 * client_lines.c - example program for libflumen-client: sends each line of
 * stdin as one event (optionally with fixed headers) to a Flume or flumen
 * avro/thrift source, in appendBatch calls of the client's batch-size.
 *
 *   flumen-client-example -H host -p port [-t] [-a] [-h key=value]...
 *   flumen-client-example -P rpc.properties [-a] [-h key=value]...
 *
 * -t selects client.type = thrift; -a sends each line with its own append
 * call instead of batching; -P reads every RpcClient property from a
 * file (client.type, hosts, batch-size, failover, load balancing, ...).
 * Prints "sent N event(s)" on stdout; exit status 0 when every line was
 * acknowledged, 1 otherwise (the library's error text on stderr).
 * Build: cc client_lines.c $(pkg-config --cflags --libs flumen-client)
 * Single-threaded; uses only the public header.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L   /* getline */
#endif
#include <flumen/client.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HEADERS 32

static void usage(void)
{
    fprintf(stderr, "usage: flumen-client-example (-H host -p port [-t] | -P props) [-a] "
                    "[-h key=value]...\n");
}

/* Sends the pending lines; frees them. */
static int flush(struct flumen_client *c, struct flumen_event *evs, char **lines, size_t *n,
                 bool single, unsigned long long *sent)
{
    int rc = FLUMEN_OK;
    if (single) {
        for (size_t i = 0; i < *n && rc == FLUMEN_OK; i++)
            if ((rc = flumen_append(c, &evs[i])) == FLUMEN_OK)
                ++*sent;
    } else if (*n > 0) {
        rc = flumen_append_batch(c, evs, *n);
        *sent += rc == FLUMEN_OK ? *n : flumen_client_delivered(c);
    }
    for (size_t i = 0; i < *n; i++)
        free(lines[i]);
    *n = 0;
    if (rc != FLUMEN_OK)
        fprintf(stderr, "flumen-client-example: %s: %s\n", flumen_strerror(rc),
                flumen_client_error(c));
    return rc;
}

int main(int argc, char **argv)
{
    const char *host = NULL, *port = NULL, *props = NULL;
    const char *type = "default";
    bool single = false;
    struct flumen_header hdrs[MAX_HEADERS];
    char *hdrbuf[MAX_HEADERS];
    size_t nh = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool more = i + 1 < argc;
        if (strcmp(a, "-H") == 0 && more) {
            host = argv[++i];
        } else if (strcmp(a, "-p") == 0 && more) {
            port = argv[++i];
        } else if (strcmp(a, "-P") == 0 && more) {
            props = argv[++i];
        } else if (strcmp(a, "-a") == 0) {
            single = true;
        } else if (strcmp(a, "-t") == 0) {
            type = "thrift";
        } else if (strcmp(a, "-h") == 0 && more && nh < MAX_HEADERS) {
            char *kv = strdup(argv[++i]);
            char *eq = kv != NULL ? strchr(kv, '=') : NULL;
            if (eq == NULL) {
                usage();
                free(kv);
                return 1;
            }
            *eq = '\0';
            hdrbuf[nh] = kv;
            hdrs[nh].key = kv;
            hdrs[nh].value = eq + 1;
            nh++;
        } else {
            usage();
            return 1;
        }
    }

    struct flumen_client *c = NULL;
    char why[512];
    int rc;
    if (props != NULL) {
        rc = flumen_client_new_from_file(&c, props, why, sizeof(why));
    } else if (host != NULL && port != NULL) {
        const char *kv[] = {"client.type", type, "hostname", host, "port", port, NULL};
        rc = flumen_client_new(&c, kv, why, sizeof(why));
    } else {
        usage();
        return 1;
    }
    if (rc != FLUMEN_OK) {
        fprintf(stderr, "flumen-client-example: %s\n", why);
        return 1;
    }

    size_t bs = (size_t)flumen_client_batch_size(c);
    struct flumen_event *evs = calloc(bs, sizeof(*evs));
    char **lines = calloc(bs, sizeof(*lines));
    size_t n = 0;
    unsigned long long sent = 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    rc = evs != NULL && lines != NULL ? FLUMEN_OK : FLUMEN_ENOMEM;
    while (rc == FLUMEN_OK && (len = getline(&line, &cap, stdin)) >= 0) {
        if (len > 0 && line[len - 1] == '\n')
            line[--len] = '\0';
        lines[n] = line;   /* the batch keeps the line; getline allocates anew */
        evs[n] = (struct flumen_event){hdrs, nh, line, (size_t)len};
        line = NULL;
        cap = 0;
        if (++n == bs)
            rc = flush(c, evs, lines, &n, single, &sent);
    }
    if (rc == FLUMEN_OK)
        rc = flush(c, evs, lines, &n, single, &sent);
    else
        for (size_t i = 0; i < n; i++)
            free(lines[i]);
    printf("sent %llu event(s)\n", sent);
    free(line);
    free(evs);
    free(lines);
    for (size_t i = 0; i < nh; i++)
        free(hdrbuf[i]);
    flumen_client_free(c);
    return rc == FLUMEN_OK ? 0 : 1;
}
