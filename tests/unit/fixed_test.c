/*
 * fixed_test.c - exact decimal <-> fixed point (core/fixed.h): parse,
 * format, and the checked arithmetic.
 *
 * A venue's decimal string must become exactly the int64 it denotes at
 * 1e-8, or an error: never a rounding.  The tests pin the accepted grammar,
 * the boundaries (INT64_MAX and INT64_MIN as decimals), the -ERANGE cases
 * (a ninth nonzero decimal, too large), round trips of many values, and
 * rounding toward zero in mul/muldiv.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/fixed.h"

#define S DESK_SCALE

/* Parse s, expect rc and (on success) the value; *out untouched on error. */
static void expect_parse(const char *s, int rc, int64_t want)
{
    int64_t v = 0x5a5a5a5a5a5a5a5all;
    int got = desk_fixed_parse(s, strlen(s), &v);

    if (got != rc)
        fail_msg("parse(\"%s\") returned %d, expected %d", s, got, rc);
    if (rc == 0 && v != want)
        fail_msg("parse(\"%s\") = %lld, expected %lld", s, (long long)v, (long long)want);
    if (rc != 0 && v != 0x5a5a5a5a5a5a5a5all)
        fail_msg("parse(\"%s\") failed but wrote %lld", s, (long long)v);
    /* The C-string form agrees. */
    int64_t v2 = 0;
    assert_int_equal(desk_fixed_parse_cstr(s, &v2), rc);
    if (rc == 0)
        assert_int_equal(v2, want);
}

/* Format v with min_frac, expect exactly `want`. */
static void expect_format(int64_t v, unsigned min_frac, const char *want)
{
    char buf[64];
    int n = desk_fixed_format(v, min_frac, buf, sizeof buf);

    if (n < 0 || strcmp(buf, want) != 0 || (size_t)n != strlen(want))
        fail_msg("format(%lld, %u) = %d \"%s\", expected \"%s\"", (long long)v, min_frac, n,
                 n < 0 ? "" : buf, want);
}

static void test_parse_values(void **state)
{
    (void)state;
    expect_parse("187.2500", 0, 18725000000);
    expect_parse("0.00100000", 0, 100000);
    expect_parse("-3", 0, -3 * S);
    expect_parse(".5", 0, 50000000);
    expect_parse("-.5", 0, -50000000);
    expect_parse("+.5", 0, 50000000);
    expect_parse("5.", 0, 5 * S);
    expect_parse("+1", 0, S);
    expect_parse("0", 0, 0);
    expect_parse("-0", 0, 0);
    expect_parse("-0.0", 0, 0);
    expect_parse("00000000000000000000000000000001.5", 0, 150000000);
    expect_parse("0.00000001", 0, 1);
    expect_parse("-0.00000001", 0, -1);
    expect_parse("1.000000000", 0, S);        /* zeros past 1e-8 are exact */
    expect_parse("1.00000000000000000000", 0, S);
    expect_parse("0.000000010", 0, 1);        /* 1e-8 written with 9 decimals */
    expect_parse("12345678901.23456789", 0, 1234567890123456789);
    expect_parse("92233720368.54775807", 0, INT64_MAX);
    expect_parse("-92233720368.54775807", 0, -INT64_MAX);
    expect_parse("-92233720368.54775808", 0, INT64_MIN);
    expect_parse("92233720368", 0, 9223372036800000000);
    expect_parse("-92233720368.547758080000", 0, INT64_MIN);
}

static void test_parse_rejects(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", "-", "+", ".", "-.", "+.", "1e5", "1E5", " 1", "1 ", "1,000", "1.2.3", "--1",
        "+-1", "1-", "0x10", "abc", "1.5a", "١", "\t1", "1\n", "inf", "nan", "..5", "5..",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_parse(bad[i], -EBADMSG, 0);
    /* Malformed text is -EBADMSG even when its digits are also out of range. */
    expect_parse("99999999999999999999x", -EBADMSG, 0);
    expect_parse("0.0000000019x", -EBADMSG, 0);
    /* A NUL inside the length is not a decimal either. */
    int64_t v;
    assert_int_equal(desk_fixed_parse("1\0" "2", 3, &v), -EBADMSG);
    /* A length shorter than the string parses only the prefix. */
    assert_int_equal(desk_fixed_parse("12.5xyz", 4, &v), 0);
    assert_int_equal(v, 1250000000);
    assert_int_equal(desk_fixed_parse("12.5", 0, &v), -EBADMSG);

    /* Not representable: -ERANGE, never a rounding. */
    expect_parse("0.000000001", -ERANGE, 0);
    expect_parse("-0.000000001", -ERANGE, 0);
    expect_parse("0.0000000010", -ERANGE, 0); /* = 1e-9, ten decimals */
    expect_parse("1.000000005", -ERANGE, 0);
    expect_parse("0.00000000000000000001", -ERANGE, 0);
    expect_parse("92233720368.54775808", -ERANGE, 0);
    expect_parse("-92233720368.54775809", -ERANGE, 0);
    expect_parse("92233720369", -ERANGE, 0);
    expect_parse("-92233720369", -ERANGE, 0);
    expect_parse("100000000000", -ERANGE, 0);
    expect_parse("99999999999999999999999999999999999999999999999999", -ERANGE, 0);
    expect_parse("-18446744073709551616", -ERANGE, 0);
    char huge[4097];
    memset(huge, '9', sizeof huge - 1);
    huge[sizeof huge - 1] = '\0';
    expect_parse(huge, -ERANGE, 0);
    huge[2000] = '.';
    expect_parse(huge, -ERANGE, 0);
}

static void test_format(void **state)
{
    char buf[32];

    (void)state;
    expect_format(18725000000, 0, "187.25");
    expect_format(18725000000, 2, "187.25");
    expect_format(18725000000, 4, "187.2500");
    expect_format(18725000000, 8, "187.25000000");
    expect_format(18725000000, 9, "187.25000000"); /* min_frac is capped at 8 */
    expect_format(S, 0, "1");
    expect_format(S, 1, "1.0");
    expect_format(0, 0, "0");
    expect_format(0, 2, "0.00");
    expect_format(1, 0, "0.00000001");
    expect_format(-1, 0, "-0.00000001");
    expect_format(-3 * S, 0, "-3");
    expect_format(-150000000, 0, "-1.5");
    expect_format(100000, 0, "0.001");
    expect_format(100000, 8, "0.00100000");
    expect_format(INT64_MAX, 0, "92233720368.54775807");
    expect_format(INT64_MIN, 0, "-92233720368.54775808");
    expect_format(INT64_MIN + 1, 0, "-92233720368.54775807");

    /* -ENOSPC unless the text and its NUL fit; 32 bytes always suffice. */
    assert_int_equal(desk_fixed_format(18725000000, 0, buf, 6), -ENOSPC);
    assert_int_equal(desk_fixed_format(18725000000, 0, buf, 7), 6);
    assert_string_equal(buf, "187.25");
    assert_int_equal(desk_fixed_format(0, 0, NULL, 0), -ENOSPC);
    assert_int_equal(desk_fixed_format(0, 0, buf, 1), -ENOSPC);
    assert_int_equal(desk_fixed_format(0, 0, buf, 2), 1);
    assert_int_equal(desk_fixed_format(INT64_MIN, 8, buf, 21), -ENOSPC);
    assert_int_equal(desk_fixed_format(INT64_MIN, 8, buf, 22), 21);
    memset(buf, 'x', sizeof buf);
    assert_int_equal(desk_fixed_format(123, 0, buf, 5), -ENOSPC);
    assert_int_equal(buf[0], 'x'); /* nothing written on -ENOSPC */
}

/* xorshift64* for the round-trip sample. */
static uint64_t rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545f4914f6cdd1dull;
}

/* value -> format -> parse -> same value, for every min_frac. */
static void round_trip(int64_t v)
{
    char buf[32];

    for (unsigned mf = 0; mf <= 8; mf++) {
        int64_t back = 0;
        int n = desk_fixed_format(v, mf, buf, sizeof buf);
        assert_true(n > 0 && n < (int)sizeof buf);
        assert_int_equal(desk_fixed_parse(buf, (size_t)n, &back), 0);
        if (back != v)
            fail_msg("%lld -> \"%s\" -> %lld", (long long)v, buf, (long long)back);
        /* The shortest form is canonical: formatting it again is identical. */
        if (mf == 0) {
            char again[32];
            assert_int_equal(desk_fixed_format(back, 0, again, sizeof again), n);
            assert_string_equal(again, buf);
        }
    }
}

static void test_round_trips(void **state)
{
    uint64_t seed = 0x243f6a8885a308d3ull;

    (void)state;
    static const int64_t edge[] = {0, 1, -1, 9, 10, 99999999, 100000000, 100000001,
                                   -100000000, 18725000000, INT64_MAX, INT64_MIN,
                                   INT64_MAX - 1, INT64_MIN + 1, INT64_MAX / 10, INT64_MIN / 10};
    for (size_t i = 0; i < sizeof edge / sizeof edge[0]; i++)
        round_trip(edge[i]);
    /* Powers of ten and their neighbours. */
    for (int64_t p = 1; p <= INT64_MAX / 10; p *= 10) {
        round_trip(p);
        round_trip(-p);
        round_trip(p - 1);
        round_trip(p + 1);
    }
    /* Random values of every magnitude. */
    for (int i = 0; i < 200000; i++) {
        uint64_t r = rnd(&seed);
        int shift = (int)(rnd(&seed) % 64);
        round_trip((int64_t)(r >> shift) * ((r & 1) ? -1 : 1));
    }

    /* string -> parse -> format(min_frac = its decimals) -> the same string. */
    static const char *const canon[] = {"187.2500", "0.00100000", "-3", "1", "0.5", "-0.5",
                                        "92233720368.54775807", "-92233720368.54775808",
                                        "12.34567891", "0.00000001", "100.00"};
    for (size_t i = 0; i < sizeof canon / sizeof canon[0]; i++) {
        const char *dot = strchr(canon[i], '.');
        unsigned mf = dot ? (unsigned)strlen(dot + 1) : 0;
        char buf[32];
        int64_t v;
        assert_int_equal(desk_fixed_parse_cstr(canon[i], &v), 0);
        assert_true(desk_fixed_format(v, mf, buf, sizeof buf) > 0);
        assert_string_equal(buf, canon[i]);
    }
}

static void test_arith(void **state)
{
    int64_t out;

    (void)state;
    /* 187.25 * 3 = 561.75 */
    assert_int_equal(desk_fixed_mul(18725000000, 3 * S, &out), 0);
    assert_int_equal(out, 56175000000);
    /* 0.00000001 * 0.5 = 5e-9: rounds toward zero to 0, either sign. */
    assert_int_equal(desk_fixed_mul(1, S / 2, &out), 0);
    assert_int_equal(out, 0);
    assert_int_equal(desk_fixed_mul(-1, S / 2, &out), 0);
    assert_int_equal(out, 0);
    /* -1.5 * 0.00000001 = -1.5e-8 -> -1e-8 (toward zero, not -2e-8). */
    assert_int_equal(desk_fixed_mul(-150000000, 1, &out), 0);
    assert_int_equal(out, -1);
    assert_int_equal(desk_fixed_mul(150000000, 1, &out), 0);
    assert_int_equal(out, 1);
    assert_int_equal(desk_fixed_mul(-150000000, -1, &out), 0);
    assert_int_equal(out, 1);
    /* Large but representable: 92233720368 * 1 */
    assert_int_equal(desk_fixed_mul(INT64_MAX, S, &out), 0);
    assert_int_equal(out, INT64_MAX);
    assert_int_equal(desk_fixed_mul(INT64_MIN, S, &out), 0);
    assert_int_equal(out, INT64_MIN);
    /* Overflow: -ERANGE and out untouched. */
    out = 42;
    assert_int_equal(desk_fixed_mul(INT64_MAX, 2 * S, &out), -ERANGE);
    assert_int_equal(desk_fixed_mul(INT64_MIN, 2 * S, &out), -ERANGE);
    assert_int_equal(desk_fixed_mul(INT64_MIN, -S, &out), -ERANGE); /* -INT64_MIN */
    assert_int_equal(desk_fixed_mul(INT64_MAX, INT64_MAX, &out), -ERANGE);
    assert_int_equal(out, 42);

    /* muldiv: fee = notional * bps / 10000, toward zero. */
    assert_int_equal(desk_fixed_muldiv(56175000000, 25, 10000, &out), 0);
    assert_int_equal(out, 140437500);
    assert_int_equal(desk_fixed_muldiv(-7, 1, 2, &out), 0);
    assert_int_equal(out, -3);
    assert_int_equal(desk_fixed_muldiv(7, 1, -2, &out), 0);
    assert_int_equal(out, -3);
    assert_int_equal(desk_fixed_muldiv(7, 1, 2, &out), 0);
    assert_int_equal(out, 3);
    assert_int_equal(desk_fixed_muldiv(INT64_MAX, INT64_MAX, INT64_MAX, &out), 0);
    assert_int_equal(out, INT64_MAX); /* the product is not truncated to 64 bits */
    out = 42;
    assert_int_equal(desk_fixed_muldiv(1, 1, 0, &out), -EINVAL);
    assert_int_equal(desk_fixed_muldiv(INT64_MAX, 2, 1, &out), -ERANGE);
    assert_int_equal(desk_fixed_muldiv(INT64_MIN, -1, 1, &out), -ERANGE);
    assert_int_equal(desk_fixed_muldiv(INT64_MIN, 1, -1, &out), -ERANGE);
    assert_int_equal(out, 42);

    /* add */
    assert_int_equal(desk_fixed_add(INT64_MAX - 1, 1, &out), 0);
    assert_int_equal(out, INT64_MAX);
    assert_int_equal(desk_fixed_add(INT64_MIN, INT64_MAX, &out), 0);
    assert_int_equal(out, -1);
    assert_int_equal(desk_fixed_add(INT64_MAX, 1, &out), -ERANGE);
    assert_int_equal(desk_fixed_add(INT64_MIN, -1, &out), -ERANGE);
    assert_int_equal(desk_fixed_add(INT64_MIN, INT64_MIN, &out), -ERANGE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_values),
        cmocka_unit_test(test_parse_rejects),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_arith),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
