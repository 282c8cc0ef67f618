/*
 * client_props_test.c - libflumen-client's RpcClient property parsing
 * (lib/client/client.c): Flume's defaults, hosts/hosts.<alias> and the
 * hostname/port shortcut, client types and selectors (any case),
 * max-attempts defaulting to the number of hosts, maxBackoff 0 = 30 s,
 * deflate and thrift protocol selection, and every refusal naming its key
 * (missing hosts, bad host:port, bad numbers, unknown types, an unreadable
 * truststore, kerberos); ssl building a TLS context for the Avro and the
 * Thrift clients, the trust settings reaching it, and unset TLS keys
 * falling back to FLUME_SSL_* variables (property first); the
 * properties-file constructor.
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
#include <unistd.h>

/* Parses NULL-terminated key/value pairs; returns the rc, why in why. */
static int parse(const char *const *kv, struct flm_client_conf *conf, char *why, size_t cap)
{
    struct flm_kvs kvs;
    flm_kvs_init(&kvs);
    for (size_t i = 0; kv[i] != NULL; i += 2)
        assert_int_equal(flm_kvs_set(&kvs, kv[i], kv[i + 1], NULL, 0), FLM_OK);
    why[0] = '\0';
    int rc = flm_client_conf_parse(&kvs, conf, why, cap);
    flm_kvs_free(&kvs);
    return rc;
}

/* Asserts kv is refused with a message containing needle. */
static void refused(const char *const *kv, const char *needle)
{
    struct flm_client_conf conf;
    char why[512];
    assert_int_not_equal(parse(kv, &conf, why, sizeof(why)), FLM_OK);
    if (strstr(why, needle) == NULL)
        fail_msg("message '%s' does not contain '%s'", why, needle);
    /* the public constructor refuses the same input with EINVAL */
    struct flumen_client *c = (struct flumen_client *)1;
    char why2[512];
    assert_int_equal(flumen_client_new(&c, kv, why2, sizeof(why2)), FLUMEN_EINVAL);
    assert_null(c);
    assert_string_equal(why, why2);
}

static void defaults_follow_flume(void **state)
{
    (void)state;
    const char *kv[] = {"hosts", "h1", "hosts.h1", "127.0.0.1:41414", NULL};
    struct flm_client_conf c;
    char why[512];
    assert_int_equal(parse(kv, &c, why, sizeof(why)), FLM_OK);
    assert_int_equal(c.type, FLM_CLIENT_DEFAULT);
    assert_int_equal(c.nhosts, 1);
    assert_string_equal(c.hosts[0].alias, "h1");
    assert_string_equal(c.hosts[0].host, "127.0.0.1");
    assert_int_equal(c.hosts[0].port, 41414);
    assert_int_equal(c.batch_size, 100);
    assert_int_equal(c.connect_timeout, 20000);
    assert_int_equal(c.request_timeout, 20000);
    assert_int_equal(c.max_attempts, 1);
    assert_int_equal(c.selector, FLM_CLIENT_ROUND_ROBIN);
    assert_false(c.backoff);
    assert_int_equal(c.max_backoff, 30000);
    assert_int_equal(c.level, -1);
    assert_false(c.thrift_binary);
    flm_client_conf_free(&c);
}

static void hosts_keep_their_listed_order(void **state)
{
    (void)state;
    const char *kv[] = {"client.type", "default_failover", "hosts", "b  a\tc",
                        "hosts.a", "alpha:1", "hosts.b", "[::1]:2", "hosts.c", "gamma:65535",
                        "batch-size", "7", "connect-timeout", "150", "request-timeout", "250",
                        NULL};
    struct flm_client_conf c;
    char why[512];
    assert_int_equal(parse(kv, &c, why, sizeof(why)), FLM_OK);
    assert_int_equal(c.type, FLM_CLIENT_FAILOVER);
    assert_int_equal(c.nhosts, 3);
    assert_string_equal(c.hosts[0].alias, "b");
    assert_string_equal(c.hosts[0].host, "::1");
    assert_int_equal(c.hosts[0].port, 2);
    assert_string_equal(c.hosts[1].host, "alpha");
    assert_string_equal(c.hosts[2].host, "gamma");
    assert_int_equal(c.hosts[2].port, 65535);
    assert_int_equal(c.max_attempts, 3);   /* = number of hosts */
    assert_int_equal(c.batch_size, 7);
    assert_int_equal(c.connect_timeout, 150);
    assert_int_equal(c.request_timeout, 250);
    flm_client_conf_free(&c);
}

static void hostname_and_port_shortcut(void **state)
{
    (void)state;
    const char *kv[] = {"hostname", "localhost", "port", "4545", NULL};
    struct flm_client_conf c;
    char why[512];
    assert_int_equal(parse(kv, &c, why, sizeof(why)), FLM_OK);
    assert_int_equal(c.nhosts, 1);
    assert_string_equal(c.hosts[0].host, "localhost");
    assert_int_equal(c.hosts[0].port, 4545);
    flm_client_conf_free(&c);
    const char *v6[] = {"hostname", "::1", "port", "5", NULL};
    assert_int_equal(parse(v6, &c, why, sizeof(why)), FLM_OK);
    assert_string_equal(c.hosts[0].host, "::1");
    assert_int_equal(c.hosts[0].port, 5);
    flm_client_conf_free(&c);
}

static void types_and_selectors_match_any_case(void **state)
{
    (void)state;
    const char *kv[] = {"client.type", "DEFAULT_LOADBALANCE", "hosts", "h1 h2",
                        "hosts.h1", "x:1", "hosts.h2", "y:2", "host-selector", "RANDOM",
                        "backoff", "TRUE", "maxBackoff", "5000", "max-attempts", "9", NULL};
    struct flm_client_conf c;
    char why[512];
    assert_int_equal(parse(kv, &c, why, sizeof(why)), FLM_OK);
    assert_int_equal(c.type, FLM_CLIENT_LOADBALANCE);
    assert_int_equal(c.selector, FLM_CLIENT_RANDOM);
    assert_true(c.backoff);
    assert_int_equal(c.max_backoff, 5000);
    assert_int_equal(c.max_attempts, 9);
    flm_client_conf_free(&c);
}

static void deflate_and_thrift_protocol(void **state)
{
    (void)state;
    struct flm_client_conf c;
    char why[512];
    const char *z[] = {"hostname", "h", "port", "1", "compression-type", "deflate",
                       "compression-level", "9", NULL};
    assert_int_equal(parse(z, &c, why, sizeof(why)), FLM_OK);
    assert_int_equal(c.level, 9);
    flm_client_conf_free(&c);
    const char *tb[] = {"client.type", "thrift", "hostname", "h", "port", "1", "protocol",
                        "binary", NULL};
    assert_int_equal(parse(tb, &c, why, sizeof(why)), FLM_OK);
    assert_int_equal(c.type, FLM_CLIENT_THRIFT);
    assert_true(c.thrift_binary);
    flm_client_conf_free(&c);
    /* as Flume: only lower-case "binary" selects binary */
    const char *tB[] = {"client.type", "thrift", "hostname", "h", "port", "1", "protocol",
                        "BINARY", NULL};
    assert_int_equal(parse(tB, &c, why, sizeof(why)), FLM_OK);
    assert_false(c.thrift_binary);
    flm_client_conf_free(&c);
}

static void ssl_builds_a_tls_context(void **state)
{
    (void)state;
    const char *kv[] = {"hostname", "h", "port", "1", "ssl", "true", "trust-all-certs", "true",
                        NULL};
    struct flm_client_conf c;
    char why[512];
    assert_int_equal(parse(kv, &c, why, sizeof(why)), FLM_OK);
    assert_non_null(c.ssl_ctx);
    flm_client_conf_free(&c);
    const char *plain[] = {"hostname", "h", "port", "1", NULL};
    assert_int_equal(parse(plain, &c, why, sizeof(why)), FLM_OK);
    assert_null(c.ssl_ctx);
    flm_client_conf_free(&c);
}

static void thrift_ssl_builds_a_tls_context_with_the_trust_settings(void **state)
{
    (void)state;
    struct flm_client_conf c;
    char why[512];
    const char *all[] = {"client.type", "thrift", "hostname", "h", "port", "1", "ssl", "true",
                         "trust-all-certs", "true", NULL};
    assert_int_equal(parse(all, &c, why, sizeof(why)), FLM_OK);
    assert_int_equal(c.type, FLM_CLIENT_THRIFT);
    assert_non_null(c.ssl_ctx);
    assert_int_equal(SSL_CTX_get_verify_mode(c.ssl_ctx), SSL_VERIFY_NONE);
    flm_client_conf_free(&c);
    /* verification on by default (system trust store) */
    const char *sys[] = {"client.type", "thrift", "hostname", "h", "port", "1", "ssl", "true",
                         "protocol", "binary", NULL};
    assert_int_equal(parse(sys, &c, why, sizeof(why)), FLM_OK);
    assert_non_null(c.ssl_ctx);
    assert_true(c.thrift_binary);
    assert_int_equal(SSL_CTX_get_verify_mode(c.ssl_ctx) & SSL_VERIFY_PEER, SSL_VERIFY_PEER);
    flm_client_conf_free(&c);
    /* the protocol lists reach the context */
    const char *only13[] = {"client.type", "thrift", "hostname", "h", "port", "1", "ssl", "true",
                            "trust-all-certs", "true", "include-protocols", "TLSv1.3", NULL};
    assert_int_equal(parse(only13, &c, why, sizeof(why)), FLM_OK);
    assert_int_equal(SSL_CTX_get_min_proto_version(c.ssl_ctx), TLS1_3_VERSION);
    flm_client_conf_free(&c);
    const char *nots[] = {"client.type", "thrift", "hostname", "a", "port", "1", "ssl", "true",
                          "truststore", "/nonexistent/thrift-ca.pem", NULL};
    refused(nots, "/nonexistent/thrift-ca.pem");
    const char *noproto[] = {"client.type", "thrift", "hostname", "a", "port", "1", "ssl", "true",
                             "include-protocols", "TLSv1.2", "exclude-protocols", "TLSv1.2",
                             NULL};
    refused(noproto, "include-protocols");
}

static void unset_tls_keys_fall_back_to_flume_ssl_variables(void **state)
{
    (void)state;
    struct flm_client_conf c;
    char why[512];
    const char *base[] = {"client.type", "thrift", "hostname", "h", "port", "1", "ssl", "true",
                          NULL};
    /* a comma list in the environment excluding everything we know */
    setenv("FLUME_SSL_EXCLUDE_PROTOCOLS", "TLSv1,TLSv1.1,TLSv1.2,TLSv1.3", 1);
    refused(base, "no TLS protocol enabled");
    /* the property wins over the variable */
    const char *prop[] = {"client.type", "thrift", "hostname", "h", "port", "1", "ssl", "true",
                          "exclude-protocols", "TLSv1", NULL};
    assert_int_equal(parse(prop, &c, why, sizeof(why)), FLM_OK);
    flm_client_conf_free(&c);
    unsetenv("FLUME_SSL_EXCLUDE_PROTOCOLS");
    /* the truststore path and type (the Avro client reads them too) */
    setenv("FLUME_SSL_TRUSTSTORE_PATH", "/nonexistent/env-ts.p12", 1);
    setenv("FLUME_SSL_TRUSTSTORE_TYPE", "PKCS12", 1);
    const char *avro[] = {"hostname", "h", "port", "1", "ssl", "true", NULL};
    refused(avro, "/nonexistent/env-ts.p12");
    refused(base, "/nonexistent/env-ts.p12");
    /* trust-all-certs needs no truststore at all */
    const char *all[] = {"client.type", "thrift", "hostname", "h", "port", "1", "ssl", "true",
                         "trust-all-certs", "true", NULL};
    assert_int_equal(parse(all, &c, why, sizeof(why)), FLM_OK);
    flm_client_conf_free(&c);
    unsetenv("FLUME_SSL_TRUSTSTORE_PATH");
    unsetenv("FLUME_SSL_TRUSTSTORE_TYPE");
    /* the variables never turn TLS on */
    setenv("FLUME_SSL_TRUSTSTORE_PATH", "/etc/hostname", 1);
    const char *plain[] = {"client.type", "thrift", "hostname", "h", "port", "1", NULL};
    assert_int_equal(parse(plain, &c, why, sizeof(why)), FLM_OK);
    assert_null(c.ssl_ctx);
    flm_client_conf_free(&c);
    unsetenv("FLUME_SSL_TRUSTSTORE_PATH");
}

static void unknown_keys_are_ignored(void **state)
{
    (void)state;
    /* a sink's whole property set may be passed through, as in Flume */
    const char *kv[] = {"hostname", "h", "port", "1", "type", "avro", "channel", "c1",
                        "reset-connection-interval", "30", "maxConnections", "3", NULL};
    struct flm_client_conf c;
    char why[512];
    assert_int_equal(parse(kv, &c, why, sizeof(why)), FLM_OK);
    flm_client_conf_free(&c);
}

static void bad_input_is_refused_naming_the_key(void **state)
{
    (void)state;
    const char *none[] = {"batch-size", "10", NULL};
    refused(none, "hosts");
    const char *noalias[] = {"hosts", "h1 h2", "hosts.h1", "a:1", NULL};
    refused(noalias, "hosts.h2");
    const char *badport[] = {"hosts", "h1", "hosts.h1", "a:99999", NULL};
    refused(badport, "hosts.h1");
    const char *noport[] = {"hosts", "h1", "hosts.h1", "a", NULL};
    refused(noport, "hosts.h1");
    const char *dup[] = {"hosts", "h1 h1", "hosts.h1", "a:1", NULL};
    refused(dup, "twice");
    const char *port_missing[] = {"hostname", "a", NULL};
    refused(port_missing, "port");
    const char *badbatch[] = {"hostname", "a", "port", "1", "batch-size", "ten", NULL};
    refused(badbatch, "batch-size");
    const char *badtimeout[] = {"hostname", "a", "port", "1", "request-timeout", "-5", NULL};
    refused(badtimeout, "request-timeout");
    const char *badtype[] = {"hostname", "a", "port", "1", "client.type", "netty", NULL};
    refused(badtype, "client.type");
    const char *badsel[] = {"hostname", "a", "port", "1", "host-selector", "fastest", NULL};
    refused(badsel, "host-selector");
    const char *nots[] = {"hostname", "a", "port", "1", "ssl", "true", "truststore",
                          "/nonexistent/ca.pem", "truststore-type", "PEM", NULL};
    refused(nots, "/nonexistent/ca.pem");
    const char *krb[] = {"client.type", "thrift", "hostname", "a", "port", "1", "kerberos",
                         "true", NULL};
    refused(krb, "kerberos");
    const char *tz[] = {"client.type", "thrift", "hostname", "a", "port", "1",
                        "compression-type", "deflate", NULL};
    refused(tz, "compression-type");
    const char *odd[] = {"hostname", "a", "port", NULL};
    struct flumen_client *c = NULL;
    char why[256];
    assert_int_equal(flumen_client_new(&c, odd, why, sizeof(why)), FLUMEN_EINVAL);
    assert_non_null(strstr(why, "port"));
}

static void properties_file_constructor(void **state)
{
    (void)state;
    char path[] = "/tmp/client_props_testXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "# rpc client\nclient.type = default_failover\nhosts = h1 h2\n"
                       "hosts.h1 = 127.0.0.1:1\nhosts.h2 = 127.0.0.1:2\nbatch-size = 3\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    struct flumen_client *c = NULL;
    char why[512];
    assert_int_equal(flumen_client_new_from_file(&c, path, why, sizeof(why)), FLUMEN_OK);
    assert_int_equal(flumen_client_batch_size(c), 3);
    const struct flm_client_conf *conf = flm_client_get_conf(c);
    assert_int_equal(conf->type, FLM_CLIENT_FAILOVER);
    assert_int_equal(conf->nhosts, 2);
    assert_int_equal(conf->max_attempts, 2);
    flumen_client_free(c);
    unlink(path);
    assert_int_equal(flumen_client_new_from_file(&c, path, why, sizeof(why)), FLUMEN_EIO);
    assert_null(c);
    assert_non_null(strstr(why, path));
}

static void strerror_names_every_code(void **state)
{
    (void)state;
    for (int rc = FLUMEN_OK; rc >= FLUMEN_EUNAVAILABLE; rc--)
        assert_string_not_equal(flumen_strerror(rc), "unknown error");
    assert_string_equal(flumen_strerror(-100), "unknown error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults_follow_flume),
        cmocka_unit_test(hosts_keep_their_listed_order),
        cmocka_unit_test(hostname_and_port_shortcut),
        cmocka_unit_test(types_and_selectors_match_any_case),
        cmocka_unit_test(deflate_and_thrift_protocol),
        cmocka_unit_test(ssl_builds_a_tls_context),
        cmocka_unit_test(thrift_ssl_builds_a_tls_context_with_the_trust_settings),
        cmocka_unit_test(unset_tls_keys_fall_back_to_flume_ssl_variables),
        cmocka_unit_test(unknown_keys_are_ignored),
        cmocka_unit_test(bad_input_is_refused_naming_the_key),
        cmocka_unit_test(properties_file_constructor),
        cmocka_unit_test(strerror_names_every_code),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
