/*
 * hdfs_bucket_test.c - the hdfs.path escape sequences (src/sinks/hdfs/
 * bucket.c): every %X time shorthand in UTC, a DST zone and a fixed offset,
 * %t verbatim (also unrounded), %{header} (missing -> empty), %[localhost]
 * / %[IP] / %[FQDN], %% and unknown letters, rounding by second / minute /
 * hour in the configured zone, useLocalTimeStamp with a fixed clock, and
 * the failure of an event without (or with a bad) timestamp header.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/err.h"
#include "sinks/hdfs/bucket.h"

#include <stdio.h>
#include <string.h>

static char why[400];

static const char *expand_tz(const char *pattern, const char *ts, const char *zone, int round_s,
                             int round_v, bool local, uint64_t now)
{
    static char res[1024];
    struct flm_tz tz;
    assert_int_equal(flm_tz_load(&tz, zone, why, sizeof(why)), FLM_OK);
    struct flm_escape_opts o = {.tz = &tz, .use_local_ts = local, .round = round_s != 0,
                                .round_value = round_v, .round_unit_s = round_s,
                                .hostname = "web01", .ip = "10.1.2.3",
                                .fqdn = "web01.example.com"};
    struct flm_hdr h[3] = {flm_hdr_str("timestamp", ts ? ts : ""), flm_hdr_str("app", "billing"),
                           flm_hdr_str("x.y-z_1", "ok")};
    struct flm_event *ev = ts ? flm_event_new("b", 1, h, 3) : flm_event_new("b", 1, h + 1, 2);
    struct flm_buf out;
    flm_buf_init(&out, 4096);
    int rc = flm_escape_expand(pattern, ev, &o, now, &out, why, sizeof(why));
    flm_event_free(ev);
    flm_tz_free(&tz);
    if (rc != FLM_OK) {
        flm_buf_free(&out);
        return NULL;
    }
    snprintf(res, sizeof(res), "%.*s", (int)out.len, (const char *)out.p);
    flm_buf_free(&out);
    return res;
}

static const char *expand(const char *pattern, const char *ts, const char *zone)
{
    return expand_tz(pattern, ts, zone, 0, 1, false, 0);
}

static void every_time_shorthand_in_utc(void **state)
{
    (void)state;
    const char *ts = "1700000000123"; /* Tue 2023-11-14 22:13:20.123 UTC */
    assert_string_equal(expand("%a|%A|%b|%B|%d|%e|%D|%H|%I|%j|%k|%l|%m|%n|%M|%p|%S|%y|%Y|%z", ts,
                               "UTC"),
                        "Tue|Tuesday|Nov|November|14|14|11/14/23|22|10|318|22|10|11|11|13|PM|20|"
                        "23|2023|+0000");
    assert_string_equal(expand("%c", ts, "UTC"), "Tue Nov 14 22:13:20 2023");
    assert_string_equal(expand("%s/%t", ts, "UTC"), "1700000000/1700000000123");
}

static void named_zone_and_fixed_offsets(void **state)
{
    (void)state;
    const char *ts = "1700000000123";
    assert_string_equal(expand("%Y-%m-%d %H %I %k %l %p %z", ts, "America/Los_Angeles"),
                        "2023-11-14 14 02 14 2 PM -0800");
    /* Summer time in Berlin: +0200. */
    assert_string_equal(expand("%H:%M %z", "1720000000000", "Europe/Berlin"), "11:46 +0200");
    assert_string_equal(expand("%d %H:%M %z", ts, "GMT+05:30"), "15 03:43 +0530");
    assert_string_equal(expand("%H %z", ts, "UTC-8"), "14 -0800");
    struct flm_tz tz;
    assert_int_equal(flm_tz_load(&tz, "Mars/Olympus", why, sizeof(why)), FLM_ERR);
    assert_non_null(strstr(why, "Mars/Olympus"));
}

static void headers_hosts_percent_and_unknown(void **state)
{
    (void)state;
    const char *ts = "1700000000123";
    assert_string_equal(expand("/d/%{app}/%{missing}/%{x.y-z_1}", ts, "UTC"), "/d/billing//ok");
    assert_string_equal(expand("%[localhost]-%[IP]-%[FQDN]-%[LOCALHOST]", ts, "UTC"),
                        "web01-10.1.2.3-web01.example.com-web01");
    assert_string_equal(expand("100%%-%Q-%1|", ts, "UTC"), "100%--|");
    /* A % not followed by a word character stays as it is. */
    assert_string_equal(expand("a%-b%{bad name}%", ts, "UTC"), "a%-b%{bad name}%");
}

static void header_escapes_need_no_timestamp(void **state)
{
    (void)state;
    assert_string_equal(expand("/d/%{app}/%[localhost]", NULL, "UTC"), "/d/billing/web01");
}

static void time_escape_without_timestamp_fails_the_event(void **state)
{
    (void)state;
    assert_null(expand("/d/%Y", NULL, "UTC"));
    assert_non_null(strstr(why, "timestamp"));
    assert_null(expand("/d/%%", NULL, "UTC")); /* even %% needs one, as Flume */
    assert_null(expand("/d/%Y", "12x", "UTC"));
    assert_non_null(strstr(why, "12x"));
}

static void local_timestamp_uses_the_agent_clock(void **state)
{
    (void)state;
    assert_string_equal(expand_tz("%Y%m%d-%H%M%S-%t", NULL, "UTC", 0, 1, true, 1700000000123ULL),
                        "20231114-221320-1700000000123");
}

static void rounding_down_by_second_minute_hour(void **state)
{
    (void)state;
    const char *ts = "1700000000123"; /* 22:13:20.123 UTC */
    assert_string_equal(expand_tz("%H:%M:%S %s %t", ts, "UTC", 1, 15, false, 0),
                        "22:13:15 1699999995 1700000000123"); /* %t is never rounded */
    assert_string_equal(expand_tz("%H:%M:%S", ts, "UTC", 60, 10, false, 0), "22:10:00");
    assert_string_equal(expand_tz("%H:%M:%S", ts, "UTC", 3600, 5, false, 0), "20:00:00");
    assert_string_equal(expand_tz("%d %H:%M", ts, "UTC", 3600, 24, false, 0), "14 00:00");
    /* Hours round in the configured zone: 03:43 at +05:30 -> 00:00 local. */
    assert_string_equal(expand_tz("%d %H:%M", ts, "GMT+05:30", 3600, 6, false, 0), "15 00:00");
    /* Flume's example: 11:54:34 with 10 minute -> 11:50:00. */
    assert_string_equal(expand_tz("%H:%M:%S", "1700049274000", "UTC", 60, 10, false, 0),
                        "11:50:00");
}

static void pattern_check_finds_bad_static_escapes(void **state)
{
    (void)state;
    bool ts;
    assert_int_equal(flm_escape_check("/a/%{h}/%[IP]", &ts, why, sizeof(why)), FLM_OK);
    assert_false(ts);
    assert_int_equal(flm_escape_check("/a/%Y", &ts, why, sizeof(why)), FLM_OK);
    assert_true(ts);
    assert_int_equal(flm_escape_check("/a/%[hostname]", &ts, why, sizeof(why)), FLM_ERR);
    assert_non_null(strstr(why, "%[hostname]"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_time_shorthand_in_utc),
        cmocka_unit_test(named_zone_and_fixed_offsets),
        cmocka_unit_test(headers_hosts_percent_and_unknown),
        cmocka_unit_test(header_escapes_need_no_timestamp),
        cmocka_unit_test(time_escape_without_timestamp_fails_the_event),
        cmocka_unit_test(local_timestamp_uses_the_agent_clock),
        cmocka_unit_test(rounding_down_by_second_minute_hour),
        cmocka_unit_test(pattern_check_finds_bad_static_escapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
