/*
 * fixed_fuzz.c - libFuzzer target for desk_fixed_parse() (core/fixed.h).
 *
 * Invariants, checked on every input (not outputs, SQLite fuzzcheck style):
 *   - the result is 0, -EBADMSG or -ERANGE, nothing else;
 *   - on error the output is untouched;
 *   - on success, formatting the value (any min_frac) and parsing the text
 *     again gives the same value, and the text is at most 21 characters;
 *   - the NUL-terminated form agrees with the length form.
 * The checks call abort() rather than assert(): RelWithDebInfo defines
 * NDEBUG, and a replay that cannot fail would be a defect.  Under gcc the
 * committed corpus (corpus/fixed/) is replayed by ctest via replay_main.c.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fixed.h"

#define CHECK(c)                                                                                \
    do {                                                                                        \
        if (!(c)) {                                                                             \
            fprintf(stderr, "fixed_fuzz: %s:%d: check failed: %s\n", __FILE__, __LINE__, #c);  \
            abort();                                                                            \
        }                                                                                       \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    const int64_t canary = 0x5a5a5a5a5a5a5a5a;
    int64_t v = canary;
    int rc = desk_fixed_parse((const char *)data, len, &v);

    CHECK(rc == 0 || rc == -EBADMSG || rc == -ERANGE);
    if (rc != 0) {
        CHECK(v == canary);
    } else {
        for (unsigned mf = 0; mf <= 8; mf++) {
            char buf[32];
            int64_t back = ~v;
            int n = desk_fixed_format(v, mf, buf, sizeof buf);
            CHECK(n > 0 && n <= 21 && (size_t)n == strlen(buf));
            CHECK(desk_fixed_parse(buf, (size_t)n, &back) == 0);
            CHECK(back == v);
        }
    }
    /* Same answer through the C-string entry point when there is no NUL. */
    if (len < 4096 && memchr(data, 0, len) == NULL) {
        char s[4097];
        int64_t w = canary;
        memcpy(s, data, len);
        s[len] = '\0';
        CHECK(desk_fixed_parse_cstr(s, &w) == rc);
        CHECK(rc != 0 || w == v);
    }
    return 0;
}
