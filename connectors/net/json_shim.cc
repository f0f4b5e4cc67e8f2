/*
 * json_shim.cc - simdjson on-demand behind the C API of json.h.
 *
 * Design.  One desk_json owns an ondemand::parser allocated for max_len
 * bytes, a copy buffer of max_len + SIMDJSON_PADDING bytes (simdjson reads up
 * to 64 bytes past the end of the text, so every input is copied into a
 * buffer we own rather than trusting the caller's slack), and an arena for
 * unescaped strings.  desk_json_parse() runs simdjson's stage 1 (structural
 * index) and then walks the whole document once to validate it, because
 * on-demand parsing is lazy: without the walk a truncated message such as
 * {"data":{"b":"1"   would still yield /data/b.  Each getter then rewinds the
 * document and follows the JSON pointer itself (object by object, index by
 * index), so pointer escapes need no std::string and nothing allocates.
 *
 * Errors.  Only simdjson's error-code API is used (every call ends in
 * .get(x) or .error()), and each extern "C" entry point also catches any
 * exception, so nothing can unwind into C.
 */
#include "connectors/net/json.h"

#include <cerrno>
#include <cstring>
#include <new>
#include <string_view>
#include <utility>

#include <simdjson.h>

#include "core/err.h"
#include "core/fixed.h"

namespace od = simdjson::ondemand;
using simdjson::error_code;

struct desk_json {
    od::parser parser; /* simdjson parser, capacity max_len */
    od::document doc;  /* the current document (valid when `valid`) */
    char *buf;         /* owned: cap + SIMDJSON_PADDING bytes, the document copy */
    size_t cap;        /* max_len: largest document accepted */
    size_t len;        /* length of the current document */
    char *arena;       /* owned: cap bytes for unescaped strings */
    size_t arena_used; /* bytes of arena handed out since the last parse */
    bool valid;        /* true after a successful parse */
    bool root_scalar;  /* the root value is not an object or array */

    explicit desk_json(size_t max_len)
        : parser(max_len), buf(nullptr), cap(max_len), len(0), arena(nullptr), arena_used(0),
          valid(false), root_scalar(false)
    {
    }
};

namespace
{

inline bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* simdjson's raw tokens run up to the next structural character, so they
 * carry the whitespace that follows the value: drop it. */
inline std::string_view trim_right(std::string_view t)
{
    while (!t.empty() && is_ws(t.back()))
        t.remove_suffix(1);
    return t;
}

inline bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* The raw token of a value, or of a scalar document (their APIs differ). */
inline int raw_token(od::value &v, std::string_view *t)
{
    *t = v.raw_json_token();
    return 0;
}

inline int raw_token(od::document &d, std::string_view *t)
{
    return d.raw_json_token().get(*t) ? -EBADMSG : 0;
}

/* RFC 8259 number grammar: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)? */
bool number_grammar(std::string_view t)
{
    size_t i = 0, n = t.size();

    if (i < n && t[i] == '-')
        i++;
    if (i >= n || !is_digit(t[i]))
        return false;
    if (t[i] == '0') {
        i++;
    } else {
        while (i < n && is_digit(t[i]))
            i++;
    }
    if (i < n && t[i] == '.') {
        i++;
        if (i >= n || !is_digit(t[i]))
            return false;
        while (i < n && is_digit(t[i]))
            i++;
    }
    if (i < n && (t[i] == 'e' || t[i] == 'E')) {
        i++;
        if (i < n && (t[i] == '+' || t[i] == '-'))
            i++;
        if (i >= n || !is_digit(t[i]))
            return false;
        while (i < n && is_digit(t[i]))
            i++;
    }
    return i == n;
}

/* Validate one value and everything below it.  Scalars other than strings
 * are checked on their raw token (simdjson's iterators skip a value that was
 * only peeked at); strings are unescaped, which checks their escapes. */
int walk(od::value &v, int depth)
{
    od::json_type t;
    std::string_view tok;

    if (depth > DESK_JSON_MAX_DEPTH)
        return -EBADMSG;
    if (v.type().get(t))
        return -EBADMSG;
    switch (t) {
    case od::json_type::object: {
        od::object o;
        if (v.get_object().get(o))
            return -EBADMSG;
        for (auto f : o) {
            od::field fld;
            std::string_view key;
            if (std::move(f).get(fld))
                return -EBADMSG;
            if (fld.unescaped_key().get(key))
                return -EBADMSG;
            od::value cv = fld.value();
            int rc = walk(cv, depth + 1);
            if (rc != 0)
                return rc;
        }
        return 0;
    }
    case od::json_type::array: {
        od::array a;
        if (v.get_array().get(a))
            return -EBADMSG;
        for (auto e : a) {
            od::value ev;
            if (std::move(e).get(ev))
                return -EBADMSG;
            int rc = walk(ev, depth + 1);
            if (rc != 0)
                return rc;
        }
        return 0;
    }
    case od::json_type::string: {
        std::string_view s;
        return v.get_string().get(s) ? -EBADMSG : 0;
    }
    case od::json_type::number:
        if (raw_token(v, &tok))
            return -EBADMSG;
        return number_grammar(trim_right(tok)) ? 0 : -EBADMSG;
    case od::json_type::boolean:
        if (raw_token(v, &tok))
            return -EBADMSG;
        tok = trim_right(tok);
        return (tok == "true" || tok == "false") ? 0 : -EBADMSG;
    case od::json_type::null:
        if (raw_token(v, &tok))
            return -EBADMSG;
        return trim_right(tok) == "null" ? 0 : -EBADMSG;
    }
    return -EBADMSG;
}

/* Validate the whole current document (see the file comment). */
int validate(desk_json *j)
{
    od::json_type t;

    if (j->doc.type().get(t))
        return -EBADMSG;
    if (t == od::json_type::object || t == od::json_type::array) {
        od::value root;
        if (j->doc.get_value().get(root))
            return -EBADMSG;
        int rc = walk(root, 1);
        if (rc != 0)
            return rc;
        /* The walk consumed the root; anything left is trailing content
         * ({"a":1}} or {} []).  current_location() is OUT_OF_BOUNDS at the end. */
        const char *rest;
        return j->doc.current_location().get(rest) == simdjson::OUT_OF_BOUNDS ? 0 : -EBADMSG;
    }
    /* A scalar document: the token must be the whole (trimmed) input. */
    std::string_view tok;
    if (j->doc.raw_json_token().get(tok))
        return -EBADMSG;
    tok = trim_right(tok);
    std::string_view all = trim_right(std::string_view(j->buf, j->len));
    if (tok.data() + tok.size() != all.data() + all.size())
        return -EBADMSG; /* trailing content: "1 2" */
    j->root_scalar = true;
    switch (t) {
    case od::json_type::string: {
        std::string_view s;
        return j->doc.get_string().get(s) ? -EBADMSG : 0;
    }
    case od::json_type::number:
        return number_grammar(tok) ? 0 : -EBADMSG;
    case od::json_type::boolean:
        return (tok == "true" || tok == "false") ? 0 : -EBADMSG;
    case od::json_type::null:
        return tok == "null" ? 0 : -EBADMSG;
    default:
        return -EBADMSG;
    }
}

/* Path errors: a missing member or index is -ENOENT; anything else after a
 * validated parse means simdjson disagreed with the walk: malformed. */
inline int path_err(error_code e)
{
    switch (e) {
    case simdjson::NO_SUCH_FIELD:
    case simdjson::INDEX_OUT_OF_BOUNDS:
        return -ENOENT;
    default:
        return -EBADMSG;
    }
}

/* Parse an RFC 6901 array index token: "0" or [1-9][0-9]*; false otherwise. */
bool array_index(std::string_view k, size_t *out)
{
    size_t v = 0;

    if (k.empty() || (k.size() > 1 && k[0] == '0') || k.size() > 18)
        return false;
    for (char c : k) {
        if (!is_digit(c))
            return false;
        v = v * 10 + (size_t)(c - '0');
    }
    *out = v;
    return true;
}

/*
 * Follow the non-empty pointer `ptr` from the root into *v.  Returns 0,
 * -EINVAL (bad pointer), -ENOENT (a member or index is missing, or the path
 * goes through a scalar) or -EBADMSG.
 */
int resolve(desk_json *j, const char *ptr, od::value *v)
{
    char key[DESK_JSON_PTR_MAX];
    const char *p = ptr;
    bool at_root = true;

    j->doc.rewind();
    while (*p != '\0') {
        size_t kl = 0;
        od::json_type t;
        error_code e;

        if (*p != '/')
            return -EINVAL;
        p++;
        while (*p != '\0' && *p != '/') {
            if (*p == '~') {
                if (p[1] == '0')
                    key[kl++] = '~';
                else if (p[1] == '1')
                    key[kl++] = '/';
                else
                    return -EINVAL;
                p += 2;
            } else {
                key[kl++] = *p++;
            }
        }
        std::string_view k(key, kl);
        e = at_root ? j->doc.type().get(t) : v->type().get(t);
        if (e)
            return -EBADMSG;
        if (t == od::json_type::object) {
            od::object o;
            e = at_root ? j->doc.get_object().get(o) : v->get_object().get(o);
            if (e)
                return -EBADMSG;
            e = o.find_field_unordered(k).get(*v);
            if (e)
                return path_err(e);
        } else if (t == od::json_type::array) {
            od::array a;
            size_t idx;
            if (!array_index(k, &idx))
                return -ENOENT; /* "-" (past the end) or not a number */
            e = at_root ? j->doc.get_array().get(a) : v->get_array().get(a);
            if (e)
                return -EBADMSG;
            e = a.at(idx).get(*v);
            if (e)
                return path_err(e);
        } else {
            return -ENOENT; /* the path continues below a scalar */
        }
        at_root = false;
    }
    return 0;
}

/*
 * Run fn on the value at ptr: a generic lambda taking od::value& or, for ""
 * on a scalar document, od::document&.  Checks the handle state and the
 * pointer, and turns any exception into -EBADMSG.
 */
template <class F> int with_value(desk_json *j, const char *ptr, F &&fn) noexcept
{
    try {
        if (j == nullptr || ptr == nullptr)
            return -EINVAL;
        if (!j->valid)
            return -EBADMSG;
        if (strnlen(ptr, DESK_JSON_PTR_MAX) >= DESK_JSON_PTR_MAX)
            return -EINVAL;
        if (ptr[0] == '\0') {
            j->doc.rewind();
            if (j->root_scalar)
                return fn(j->doc);
            od::value v;
            if (j->doc.get_value().get(v))
                return -EBADMSG;
            return fn(v);
        }
        od::value v;
        int rc = resolve(j, ptr, &v);
        if (rc != 0)
            return rc;
        return fn(v);
    } catch (...) {
        return -EBADMSG;
    }
}

/* The string value v as a view valid until the next parse (see json.h). */
template <class V> int string_view_of(desk_json *j, V &v, const char **s, size_t *len)
{
    od::json_type t;
    std::string_view tok;

    if (v.type().get(t))
        return -EBADMSG;
    if (t != od::json_type::string)
        return -EINVAL;
    if (raw_token(v, &tok))
        return -EBADMSG;
    tok = trim_right(tok);
    if (tok.size() < 2)
        return -EBADMSG;
    std::string_view body = tok.substr(1, tok.size() - 2);
    if (memchr(body.data(), '\\', body.size()) == nullptr) {
        *s = body.data(); /* zero copy: the text in our buffer is the value */
        *len = body.size();
        return 0;
    }
    std::string_view u;
    if (v.get_string().get(u))
        return -EBADMSG;
    if (u.size() > j->cap - j->arena_used)
        return -ENOBUFS;
    char *dst = j->arena + j->arena_used;
    memcpy(dst, u.data(), u.size());
    j->arena_used += u.size();
    *s = dst;
    *len = u.size();
    return 0;
}

/* The trimmed raw text of a number value, or -EINVAL for another type. */
template <class V> int number_token(V &v, std::string_view *tok)
{
    od::json_type t;

    if (v.type().get(t))
        return -EBADMSG;
    if (t != od::json_type::number)
        return -EINVAL;
    if (raw_token(v, tok))
        return -EBADMSG;
    *tok = trim_right(*tok);
    return 0;
}

} // namespace

extern "C" {

DESK_COLD int desk_json_create(size_t max_len, desk_json_t **out)
{
    desk_json *j = nullptr;

    if (out == nullptr)
        return DESK_ERR(-EINVAL, "out is NULL");
    *out = nullptr;
    if (max_len == 0 || max_len > (size_t)1 << 30)
        return DESK_ERR(-EINVAL, "max_len=%zu outside 1..1GiB", max_len);
    try {
        j = new (std::nothrow) desk_json(max_len);
        if (j == nullptr)
            return DESK_ERR(-ENOMEM, "no memory for the JSON handle");
        j->buf = new (std::nothrow) char[max_len + simdjson::SIMDJSON_PADDING];
        j->arena = new (std::nothrow) char[max_len];
        if (j->buf == nullptr || j->arena == nullptr)
            goto fail_nomem;
        if (j->parser.allocate(max_len, DESK_JSON_MAX_DEPTH + 1) != simdjson::SUCCESS)
            goto fail_nomem;
    } catch (...) {
        goto fail_nomem;
    }
    memset(j->buf, 0, max_len + simdjson::SIMDJSON_PADDING);
    *out = j;
    return 0;

fail_nomem:
    desk_json_destroy(j);
    return DESK_ERR(-ENOMEM, "cannot allocate a JSON parser for %zu bytes", max_len);
}

DESK_COLD void desk_json_destroy(desk_json_t *j)
{
    if (j == nullptr)
        return;
    delete[] j->buf;
    delete[] j->arena;
    delete j;
}

int desk_json_parse(desk_json_t *j, const char *buf, size_t len)
{
    try {
        if (j == nullptr || (buf == nullptr && len > 0))
            return -EINVAL;
        j->valid = false;
        j->root_scalar = false;
        j->arena_used = 0;
        if (len > j->cap)
            return -EMSGSIZE;
        if (len > 0)
            memcpy(j->buf, buf, len);
        /* Zero the padding we expose so stage 1 sees the same bytes each time. */
        memset(j->buf + len, 0, simdjson::SIMDJSON_PADDING);
        j->len = len;
        if (j->parser.iterate(j->buf, len, len + simdjson::SIMDJSON_PADDING).get(j->doc))
            return -EBADMSG;
        int rc = validate(j);
        if (rc != 0)
            return rc;
        j->valid = true;
        return 0;
    } catch (...) {
        return -EBADMSG;
    }
}

int desk_json_get_str(desk_json_t *j, const char *ptr, const char **s, size_t *len)
{
    if (s == nullptr || len == nullptr)
        return -EINVAL;
    return with_value(j, ptr, [&](auto &v) -> int { return string_view_of(j, v, s, len); });
}

int desk_json_get_i64(desk_json_t *j, const char *ptr, int64_t *out)
{
    if (out == nullptr)
        return -EINVAL;
    return with_value(j, ptr, [&](auto &v) -> int {
        std::string_view tok;
        int rc = number_token(v, &tok);
        if (rc != 0)
            return rc;
        size_t i = 0;
        bool neg = false;
        uint64_t mag = 0;
        if (i < tok.size() && tok[i] == '-') {
            neg = true;
            i++;
        }
        if (i >= tok.size())
            return -EINVAL;
        for (; i < tok.size(); i++) {
            if (!is_digit(tok[i]))
                return -EINVAL; /* fraction or exponent: not an integer */
            unsigned d = (unsigned)(tok[i] - '0');
            if (mag > (UINT64_MAX - d) / 10)
                return -ERANGE;
            mag = mag * 10 + d;
        }
        if (neg ? mag > (uint64_t)INT64_MAX + 1 : mag > (uint64_t)INT64_MAX)
            return -ERANGE;
        *out = neg ? (int64_t)(0 - mag) : (int64_t)mag;
        return 0;
    });
}

int desk_json_get_bool(desk_json_t *j, const char *ptr, int *out)
{
    if (out == nullptr)
        return -EINVAL;
    return with_value(j, ptr, [&](auto &v) -> int {
        od::json_type t;
        std::string_view tok;
        if (v.type().get(t))
            return -EBADMSG;
        if (t != od::json_type::boolean)
            return -EINVAL;
        if (raw_token(v, &tok))
            return -EBADMSG;
        *out = trim_right(tok) == "true" ? 1 : 0;
        return 0;
    });
}

int desk_json_get_fixed(desk_json_t *j, const char *ptr, int64_t *out)
{
    if (out == nullptr)
        return -EINVAL;
    return with_value(j, ptr, [&](auto &v) -> int {
        od::json_type t;
        if (v.type().get(t))
            return -EBADMSG;
        if (t == od::json_type::string) {
            const char *s;
            size_t n;
            int rc = string_view_of(j, v, &s, &n);
            if (rc != 0)
                return rc;
            rc = desk_fixed_parse(s, n, out);
            return rc == -EBADMSG ? -EINVAL : rc; /* well-formed JSON, not a decimal */
        }
        if (t == od::json_type::number) {
            std::string_view tok;
            int rc = number_token(v, &tok);
            if (rc != 0)
                return rc;
            return desk_json_number_to_fixed(tok.data(), tok.size(), out);
        }
        return -EINVAL;
    });
}

int desk_json_has(desk_json_t *j, const char *ptr)
{
    int rc = with_value(j, ptr, [&](auto &) -> int { return 0; });
    if (rc == 0)
        return 1;
    return rc == -ENOENT ? 0 : rc;
}

int desk_json_type(desk_json_t *j, const char *ptr)
{
    return with_value(j, ptr, [&](auto &v) -> int {
        od::json_type t;
        if (v.type().get(t))
            return -EBADMSG;
        switch (t) {
        case od::json_type::object:
            return DESK_JSON_OBJECT;
        case od::json_type::array:
            return DESK_JSON_ARRAY;
        case od::json_type::string:
            return DESK_JSON_STRING;
        case od::json_type::number:
            return DESK_JSON_NUMBER;
        case od::json_type::boolean:
            return DESK_JSON_BOOL;
        case od::json_type::null:
            return DESK_JSON_NULL;
        }
        return -EBADMSG;
    });
}

int desk_json_count(desk_json_t *j, const char *ptr)
{
    return with_value(j, ptr, [&](auto &v) -> int {
        od::json_type t;
        size_t n = 0;
        if (v.type().get(t))
            return -EBADMSG;
        if (t == od::json_type::object) {
            od::object o;
            if (v.get_object().get(o) || o.count_fields().get(n))
                return -EBADMSG;
        } else if (t == od::json_type::array) {
            od::array a;
            if (v.get_array().get(a) || a.count_elements().get(n))
                return -EBADMSG;
        } else {
            return -EINVAL;
        }
        return n > (size_t)INT32_MAX ? -ERANGE : (int)n;
    });
}

int desk_json_number_to_fixed(const char *s, size_t len, int64_t *out)
{
    std::string_view t(s, len);
    size_t i = 0;
    bool neg = false;

    if (s == nullptr || out == nullptr || !number_grammar(t))
        return -EINVAL;
    /* Fast path: no exponent means the text already is a plain decimal. */
    if (t.find_first_of("eE") == std::string_view::npos) {
        int rc = desk_fixed_parse(s, len, out);
        return rc == -EBADMSG ? -EINVAL : rc;
    }
    /* Significant digits d[0..nd) with the point after `point` of them;
     * zeros after the last nonzero digit are counted in `pending` and only
     * stored when a nonzero digit follows, so 1.000...0e2 stays short. */
    char d[64];
    size_t nd = 0, pending = 0;
    long long point = 0;
    bool seen_point = false;
    if (t[i] == '-') {
        neg = true;
        i++;
    }
    for (; i < len && t[i] != 'e' && t[i] != 'E'; i++) {
        if (t[i] == '.') {
            seen_point = true;
            continue;
        }
        if (nd == 0 && t[i] == '0') { /* leading zero: only moves the point */
            if (seen_point)
                point--;
            continue;
        }
        if (!seen_point)
            point++;
        if (t[i] == '0') {
            pending++;
            continue;
        }
        if (nd + pending + 1 > sizeof d)
            return -ERANGE; /* over 64 significant digits: beyond int64 at 1e-8 */
        for (; pending > 0; pending--)
            d[nd++] = '0';
        d[nd++] = t[i];
    }
    /* Exponent, saturated: anything past +-10^6 is far out of range anyway. */
    i++;
    bool eneg = false;
    long long ex = 0;
    if (t[i] == '+' || t[i] == '-') {
        eneg = t[i] == '-';
        i++;
    }
    for (; i < len; i++)
        if (ex < 1000000)
            ex = ex * 10 + (t[i] - '0');
    point += eneg ? -ex : ex;
    if (nd == 0) {
        *out = 0;
        return 0;
    }
    /* Now the value is 0.d[0..nd) * 10^point with d[0] and d[nd-1] nonzero. */
    if (point > 11 || (long long)nd - point > 8)
        return -ERANGE; /* 12+ integer digits, or a digit finer than 1e-8 */
    char txt[40];
    size_t n = 0;
    if (neg)
        txt[n++] = '-';
    if (point <= 0) {
        txt[n++] = '0';
        txt[n++] = '.';
        for (long long z = point; z < 0; z++)
            txt[n++] = '0';
        memcpy(txt + n, d, nd);
        n += nd;
    } else if ((size_t)point >= nd) {
        memcpy(txt + n, d, nd);
        n += nd;
        for (size_t z = nd; z < (size_t)point; z++)
            txt[n++] = '0';
    } else {
        memcpy(txt + n, d, (size_t)point);
        n += (size_t)point;
        txt[n++] = '.';
        memcpy(txt + n, d + point, nd - (size_t)point);
        n += nd - (size_t)point;
    }
    int rc = desk_fixed_parse(txt, n, out);
    return rc == -EBADMSG ? -EINVAL : rc;
}

} // extern "C"
