/*
 * hdfs_webhdfs_test.c - the WebHDFS filesystem (src/sinks/hdfs/fsys_webhdfs.c)
 * without a server: URI checks, the attach registry refusing conflicting
 * settings for one namenode, the simple-auth user name, and an op against a
 * port that refuses connections giving up after callTimeout with a message
 * naming the path.  The wire protocol is tested against the stand-in server
 * in tests/integration/test_webhdfs.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/counters.h"
#include "sinks/hdfs/fsys_webhdfs.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void uris_need_a_namenode_and_no_escapes_in_it(void **state)
{
    (void)state;
    char why[300];
    assert_true(flm_webhdfs_is_uri("hdfs://nn:8020/x"));
    assert_true(flm_webhdfs_is_uri("WEBHDFS://nn/x"));
    assert_false(flm_webhdfs_is_uri("file:///x"));
    assert_int_equal(flm_webhdfs_check("hdfs://nn:8020/flume/%Y", why, sizeof(why)), FLM_OK);
    assert_int_equal(flm_webhdfs_check("webhdfs://nn/flume", why, sizeof(why)), FLM_OK);
    assert_int_equal(flm_webhdfs_check("hdfs:///flume", why, sizeof(why)), FLM_ERR);
    assert_non_null(strstr(why, "namenode"));
    assert_non_null(strstr(why, "WebHDFS"));
    assert_int_equal(flm_webhdfs_check("hdfs://%{h}:8020/x", why, sizeof(why)), FLM_ERR);
    assert_int_equal(flm_webhdfs_check("hdfs://u@nn:8020/x", why, sizeof(why)), FLM_ERR);
    assert_int_equal(flm_webhdfs_check("hdfs://nn:80x/x", why, sizeof(why)), FLM_ERR);
    assert_int_equal(flm_webhdfs_check("hdfs://nn:/x", why, sizeof(why)), FLM_ERR);
}

static void one_namenode_takes_one_set_of_settings(void **state)
{
    (void)state;
    char why[300];
    struct flm_webhdfs_opts a = {9870, "etl", 1000};
    struct flm_webhdfs_opts b = {9871, "etl", 1000};
    assert_int_equal(flm_webhdfs_attach("hdfs://nn1:8020/a", &a, why, sizeof(why)), FLM_OK);
    assert_int_equal(flm_webhdfs_attach("hdfs://nn1:8020/b", &a, why, sizeof(why)), FLM_OK);
    assert_int_equal(flm_webhdfs_attach("hdfs://nn1:8020/c", &b, why, sizeof(why)), FLM_ERR);
    assert_non_null(strstr(why, "hdfs://nn1:8020"));
    /* Another namenode is independent. */
    assert_int_equal(flm_webhdfs_attach("hdfs://nn2:8020/c", &b, why, sizeof(why)), FLM_OK);
    flm_webhdfs_detach("hdfs://nn2:8020/c");
    flm_webhdfs_detach("hdfs://nn1:8020/a");
    assert_int_equal(flm_webhdfs_attach("hdfs://nn1:8020/c", &b, why, sizeof(why)), FLM_ERR);
    flm_webhdfs_detach("hdfs://nn1:8020/b");
    /* Once nobody uses nn1, new settings are fine. */
    assert_int_equal(flm_webhdfs_attach("hdfs://nn1:8020/c", &b, why, sizeof(why)), FLM_OK);
    flm_webhdfs_detach("hdfs://nn1:8020/c");
}

static void login_user_prefers_hadoop_user_name_then_user(void **state)
{
    (void)state;
    char u[64];
    setenv("HADOOP_USER_NAME", "hadoopy", 1);
    setenv("USER", "plain", 1);
    flm_webhdfs_login_user(u, sizeof(u));
    assert_string_equal(u, "hadoopy");
    unsetenv("HADOOP_USER_NAME");
    flm_webhdfs_login_user(u, sizeof(u));
    assert_string_equal(u, "plain");
    unsetenv("USER");
    flm_webhdfs_login_user(u, sizeof(u));
    assert_true(u[0] != '\0');
}

static int dead_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    socklen_t sl = sizeof(sa);
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    close(fd);
    return ntohs(sa.sin_port);
}

static void refused_namenode_gives_up_after_call_timeout_naming_the_path(void **state)
{
    (void)state;
    char uri[128], why[300];
    snprintf(uri, sizeof(uri), "webhdfs://127.0.0.1:%d/flume/x.tmp", dead_port());
    struct flm_webhdfs_opts o = {0, NULL, 400};
    assert_int_equal(flm_webhdfs_attach(uri, &o, why, sizeof(why)), FLM_OK);
    struct flm_fsys_file *f = NULL;
    struct flm_err err = {0};
    uint64_t t0 = flm_mono_ms();
    assert_int_equal(flm_fsys_webhdfs.create(uri, &f, &err), FLM_EIO);
    uint64_t took = flm_mono_ms() - t0;
    assert_null(f);
    assert_true(took >= 350 && took < 3000);
    assert_non_null(strstr(err.msg, "/flume"));
    assert_non_null(strstr(err.msg, "hdfs.callTimeout = 400 ms"));
    err.msg[0] = '\0';
    assert_int_equal(flm_fsys_webhdfs.rename(uri, "webhdfs://other:1/x", &err), FLM_EIO);
    assert_non_null(strstr(err.msg, "webhdfs://other:1"));
    flm_webhdfs_detach(uri);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(uris_need_a_namenode_and_no_escapes_in_it),
        cmocka_unit_test(one_namenode_takes_one_set_of_settings),
        cmocka_unit_test(login_user_prefers_hadoop_user_name_then_user),
        cmocka_unit_test(refused_namenode_gives_up_after_call_timeout_naming_the_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
