/*
 * json.h - the product's only JSON parser: simdjson's on-demand API behind a
 * small C API.
 *
 * Use.  Create one desk_json_t per thread at start (cold: it allocates the
 * simdjson parser and a padded copy buffer for documents of up to `max_len`
 * bytes).  For each message call desk_json_parse(), then read the fields you
 * need by JSON pointer (RFC 6901: "/data/b", "/bids/0/1"; "" is the root):
 *
 *     desk_json_parse(j, msg, len);                    -> 0
 *     desk_json_get_fixed(j, "/data/b", &bid_px);      -> 0, 6183763000000
 *     desk_json_get_str(j, "/data/s", &s, &n);         -> 0, "BTCUSDT", 7
 *
 * Validation.  desk_json_parse() checks the whole document (structure,
 * strings, escapes, number and literal grammar, UTF-8, nothing after the
 * root value), so a getter can never read a truncated or malformed message
 * that happened to contain the wanted field: malformed input is -EBADMSG at
 * parse time.  Getters then only report path and type problems.
 *
 * Numbers and decimals.  desk_json_get_fixed() converts the value's own text
 * (a JSON string such as "61837.63000000", or a JSON number such as 0.5 or
 * 1.5e-3) straight to fixed point at 1e-8 with desk_fixed_parse() rules:
 * exact or an error, never a binary double in between.  desk_json_get_i64()
 * accepts only JSON integers (no fraction, no exponent, no quotes).
 *
 * Pointers.  Keys are matched against the raw (still escaped) key text, as
 * simdjson does; "~0" and "~1" escapes in the pointer are honoured.  Array
 * indices are decimal without leading zeros.  A pointer longer than
 * DESK_JSON_PTR_MAX bytes is -EINVAL.
 *
 * Costs.  No allocation after create: the document is copied into the
 * preallocated padded buffer, and every getter walks the document from its
 * start (documents are venue messages of a few hundred bytes; read the
 * fields in document order for the shortest walks).  No exception leaves
 * the shim.  Strings without escapes are returned in place (zero copy); a
 * string with escapes is unescaped into a per-handle arena of `max_len`
 * bytes that is reset by each parse.
 *
 * Thread-safety: a desk_json_t belongs to one thread; different handles may
 * be used concurrently on different threads.
 */
#ifndef DESK_JSON_H
#define DESK_JSON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DESK_JSON_MAX_DEPTH 64 /* deepest nesting accepted by desk_json_parse() */
#define DESK_JSON_PTR_MAX 256  /* longest JSON pointer accepted, in bytes */

typedef struct desk_json desk_json_t;

/* JSON value types, as desk_json_type() reports them. */
typedef enum desk_json_type {
    DESK_JSON_OBJECT = 1,
    DESK_JSON_ARRAY = 2,
    DESK_JSON_STRING = 3,
    DESK_JSON_NUMBER = 4,
    DESK_JSON_BOOL = 5,
    DESK_JSON_NULL = 6,
} desk_json_type_t;

/*
 * Create a parser for documents of at most max_len bytes (1 <= max_len <=
 * 1 GiB).  Allocates the simdjson parser, a copy buffer of max_len plus
 * simdjson's padding, and the string arena; nothing is allocated after this.
 * On success *out owns the handle (free it with desk_json_destroy()).
 * Returns 0, -EINVAL (max_len out of range or out NULL) or -ENOMEM; details
 * through desk_errmsg().  Cold; any thread.
 */
int desk_json_create(size_t max_len, desk_json_t **out);

/* Free a handle made by desk_json_create().  NULL is a no-op.  Cold. */
void desk_json_destroy(desk_json_t *j);

/*
 * Copy buf[0..len) into the handle and validate it as one complete JSON
 * document (see Validation above).  buf is borrowed only for the call.
 * Invalidates every view returned by earlier getters.  Returns 0,
 * -EMSGSIZE if len exceeds the handle's max_len (nothing is parsed: no
 * silent truncation), or -EBADMSG if the text is not valid JSON (empty input,
 * bad syntax, bad UTF-8, trailing content, nesting deeper than
 * DESK_JSON_MAX_DEPTH).  After an error every getter returns -EBADMSG until
 * the next successful parse.  Owner thread; no allocation, no syscall.
 */
int desk_json_parse(desk_json_t *j, const char *buf, size_t len);

/*
 * The string at `ptr` (NUL-terminated JSON pointer).  On success *s points
 * at its unescaped bytes (NOT NUL-terminated; may contain NUL if the JSON had
 * \u0000) and *len is their count; the view stays valid until the next
 * desk_json_parse() or desk_json_destroy() on this handle.  Returns 0,
 * -ENOENT (no such member or index), -EINVAL (not a string, or a bad
 * pointer), -ENOBUFS (the escaped-string arena is exhausted: only possible
 * when the same escaped strings are read many times after one parse), or
 * -EBADMSG (no valid document parsed).  Owner thread.
 */
int desk_json_get_str(desk_json_t *j, const char *ptr, const char **s, size_t *len);

/*
 * The JSON integer at `ptr` as int64 (for ids and epoch milliseconds).
 * Returns 0, -ENOENT (missing), -EINVAL (not an integer number: a string,
 * a fraction or exponent, another type, or a bad pointer), -ERANGE (outside
 * int64), or -EBADMSG (no valid document).  *out is untouched on error.
 * Owner thread.
 */
int desk_json_get_i64(desk_json_t *j, const char *ptr, int64_t *out);

/*
 * The JSON boolean at `ptr`: *out = 1 for true, 0 for false.  Returns 0,
 * -ENOENT, -EINVAL (not a boolean, or a bad pointer) or -EBADMSG.
 * Owner thread.
 */
int desk_json_get_bool(desk_json_t *j, const char *ptr, int *out);

/*
 * The decimal at `ptr` as fixed point at 1e-8 (DESK_SCALE), exactly: the
 * value may be a JSON string holding a decimal ("0.00100000", "-3", ".5")
 * or a JSON number (12, 0.25, 1.5e3).  Returns 0, -ENOENT, -EINVAL (another
 * type, a string that is not a plain decimal, or a bad pointer), -ERANGE
 * (a magnitude beyond about 9.2e10, or a nonzero digit past the 8th decimal
 * place: never rounded), or -EBADMSG.  *out is untouched on error.
 * Owner thread; no allocation.
 */
int desk_json_get_fixed(desk_json_t *j, const char *ptr, int64_t *out);

/*
 * Presence test: 1 if `ptr` names a value (of any type, null included),
 * 0 if it does not, -EINVAL for a bad pointer, -EBADMSG if no valid document
 * is parsed.  Owner thread.
 */
int desk_json_has(desk_json_t *j, const char *ptr);

/*
 * The type of the value at `ptr`, a desk_json_type_t (> 0), or -ENOENT,
 * -EINVAL (bad pointer) or -EBADMSG.  Owner thread.
 */
int desk_json_type(desk_json_t *j, const char *ptr);

/*
 * The number of elements of the array, or members of the object, at `ptr`
 * (>= 0), or -ENOENT, -EINVAL (a scalar, or a bad pointer) or -EBADMSG.
 * Owner thread.
 */
int desk_json_count(desk_json_t *j, const char *ptr);

/*
 * Convert the text of a JSON number (grammar of RFC 8259, e.g. "-1.25e-3")
 * to fixed point at 1e-8, exactly.  Returns 0, -EINVAL if s[0..len) is not a
 * JSON number, or -ERANGE if the value is not representable (too large, or
 * finer than 1e-8).  Pure; any thread.  Exposed for tests and other shims.
 */
int desk_json_number_to_fixed(const char *s, size_t len, int64_t *out);

#ifdef __cplusplus
}
#endif

#endif /* DESK_JSON_H */
