/*
 * logger_test.c - the logger sink's event rendering matches Flume's
 * EventHelper.dumpEvent byte for byte.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/buf.h"
#include "core/event.h"

#include <string.h>

void flm_logger_format_event(struct flm_buf *b, const struct flm_event *ev, size_t max_bytes);

static char *render(const struct flm_event *ev, size_t max)
{
    static char out[4096];
    struct flm_buf b;
    flm_buf_init(&b, sizeof(out));
    flm_logger_format_event(&b, ev, max);
    assert_true(b.len < sizeof(out));
    memcpy(out, b.p, b.len);
    out[b.len] = '\0';
    flm_buf_free(&b);
    return out;
}

static void hello_world_matches_flume_quick_start(void **state)
{
    (void)state;
    struct flm_event *ev = flm_event_new("Hello world!", 12, NULL, 0);
    assert_string_equal(render(ev, 16),
                        "{ headers:{} body: 48 65 6C 6C 6F 20 77 6F 72 6C 64 21             "
                        "Hello world! }");
    flm_event_free(ev);
}

static void body_is_cut_at_max_bytes_and_nonprintables_are_dots(void **state)
{
    (void)state;
    const char body[] = "0123456789abcdef\x01XYZ";
    struct flm_event *ev = flm_event_new(body, sizeof(body) - 1, NULL, 0);
    assert_string_equal(render(ev, 16), "{ headers:{} body: 30 31 32 33 34 35 36 37 38 39 61 62 "
                                        "63 64 65 66 0123456789abcdef }");
    /* A second row keeps its offset, as commons-io HexDump prints it. */
    /* A second row keeps its offset, as commons-io HexDump prints it; each
     * missing byte is three spaces, then one space before the text. */
    assert_string_equal(render(ev, 18),
                        "{ headers:{} body: 30 31 32 33 34 35 36 37 38 39 61 62 63 64 65 66 012"
                        "3456789abcdef\n00000010 01 58                                           .X }");
    flm_event_free(ev);
}

static void headers_print_as_a_java_map(void **state)
{
    (void)state;
    struct flm_hdr h[2] = {flm_hdr_str("host", "web01"), flm_hdr_str("app", "x")};
    struct flm_event *ev = flm_event_new("", 0, h, 2);
    assert_string_equal(render(ev, 16), "{ headers:{host=web01, app=x} body: }");
    flm_event_free(ev);
}

static void high_bytes_are_dots(void **state)
{
    (void)state;
    struct flm_event *ev = flm_event_new("\xc3\xbc", 2, NULL, 0);
    assert_string_equal(render(ev, 16), "{ headers:{} body: C3 BC                "
                                        "                           .. }");
    flm_event_free(ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hello_world_matches_flume_quick_start),
        cmocka_unit_test(body_is_cut_at_max_bytes_and_nonprintables_are_dots),
        cmocka_unit_test(headers_print_as_a_java_map),
        cmocka_unit_test(high_bytes_are_dots),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
