/*
 * fuzz_properties.c - libFuzzer target for the properties parser and the
 * ${...} interpolator: arbitrary bytes go through flm_properties_parse, the
 * resulting list through flm_interpolate (with a deterministic fake
 * environment and -D list), and the raw input, as a string, through
 * flm_interpolate_str and flm_filter_substitute.  Must never crash, hang or
 * leak; outputs are checked for basic invariants (valid C strings, keys
 * untouched by interpolation).  Single-threaded.
 */
#include "core/config/properties.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *fuzz_getenv(const char *name, void *arg)
{
    (void)arg;
    if (strcmp(name, "HOME") == 0)
        return "/home/f";
    if (strcmp(name, "LOOP") == 0)
        return "${env:LOOP}${env:LOOP}";
    if (strcmp(name, "ESC") == 0)
        return "$${x}";
    return NULL;
}

static char *fuzz_filter(const char *filter, const char *key, void *arg)
{
    (void)arg;
    if (strcmp(filter, "f1") != 0)
        return NULL;
    size_t n = strlen(key) + 3;
    char *r = malloc(n);
    if (r != NULL) {
        r[0] = '<';
        memcpy(r + 1, key, n - 3);
        r[n - 2] = '>';
        r[n - 1] = '\0';
    }
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Larger inputs add time, not coverage. */
    if (size > 64 * 1024)
        return 0;
    struct flm_kvs sys;
    flm_kvs_init(&sys);
    (void)flm_kvs_set(&sys, "s", "${x}", NULL, 0);
    struct flm_interp_ctx ctx = {
        .sys = &sys, .getenv_fn = fuzz_getenv, .arg = NULL, .env_fallback = (int)(size & 1)};

    struct flm_kvs kvs;
    struct flm_err err;
    flm_kvs_init(&kvs);
    int rc = flm_properties_parse((const char *)data, size, "fuzz", &kvs, &err);
    if (rc == FLM_OK) {
        size_t n = kvs.n;
        char **keys = calloc(n ? n : 1, sizeof(char *));
        for (size_t i = 0; keys != NULL && i < n; i++)
            keys[i] = strdup(kvs.v[i].key);
        if (flm_interpolate(&kvs, &ctx) == FLM_OK && keys != NULL) {
            if (kvs.n != n)
                abort();
            for (size_t i = 0; i < n; i++)
                if (keys[i] != NULL && strcmp(keys[i], kvs.v[i].key) != 0)
                    abort();
        }
        for (size_t i = 0; keys != NULL && i < n; i++)
            free(keys[i]);
        free(keys);
    } else if (kvs.n != 0) {
        abort(); /* a rejected file leaves nothing behind */
    }

    /* The raw bytes as one value. */
    char *s = malloc(size + 1);
    if (s != NULL) {
        memcpy(s, data, size);
        s[size] = '\0';
        char *r = flm_interpolate_str(s, &kvs, &ctx);
        free(r);
        r = flm_filter_substitute(s, fuzz_filter, NULL);
        free(r);
        free(s);
    }
    flm_kvs_free(&kvs);
    flm_kvs_free(&sys);
    return 0;
}
