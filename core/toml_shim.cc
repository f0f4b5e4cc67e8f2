/*
 * toml_shim.cc - tomlplusplus behind a C API; see toml_shim.h.
 *
 * Exceptions: the installed tomlplusplus is compiled with TOML_EXCEPTIONS=1,
 * and a translation unit must match the library (the parse functions live in
 * an ABI namespace chosen by that macro), so toml::parse() throws
 * toml::parse_error on a syntax error.  Every entry point below that can
 * throw (parse, and anything that allocates) wraps its body in try/catch;
 * the others are noexcept by construction (pointer casts and reads).
 *
 * Nodes are handed to C as `const desk_toml_node_t *`, which is a
 * reinterpret_cast of `const toml::node *`; the C side never dereferences
 * them.
 */
#include "core/toml_shim.h"

#include <algorithm>
#include <cerrno>
#include <new>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

#include "core/err.h"

/* The document: the root table that owns every node. */
struct desk_toml {
    toml::table root; /* parsed tree */
};

namespace {

const toml::node *node_of(const desk_toml_node_t *n) noexcept
{
    return reinterpret_cast<const toml::node *>(n);
}

const desk_toml_node_t *handle_of(const toml::node *n) noexcept
{
    return reinterpret_cast<const desk_toml_node_t *>(n);
}

/* Clamp a source index (uint32) to an int for C callers. */
int to_int(toml::source_index v) noexcept
{
    return v > 0x7fffffffu ? 0x7fffffff : static_cast<int>(v);
}

} // namespace

extern "C" {

int desk_toml_parse(const char *text, size_t len, const char *name, desk_toml_t **out)
{
    const char *src = name != nullptr ? name : "<string>";

    *out = nullptr;
    try {
        std::string_view doc(text != nullptr ? text : "", text != nullptr ? len : 0);
        desk_toml_t *d = new desk_toml_t{toml::parse(doc, std::string_view(src))};
        *out = d;
        return 0;
    } catch (const toml::parse_error &e) {
        const toml::source_position &p = e.source().begin;
        std::string_view what = e.description();
        return DESK_ERR(-EBADMSG, "%s:%d:%d: %.*s", src, to_int(p.line), to_int(p.column),
                        static_cast<int>(std::min<size_t>(what.size(), 400)), what.data());
    } catch (const std::bad_alloc &) {
        return DESK_ERR(-ENOMEM, "%s: out of memory parsing TOML", src);
    } catch (...) {
        /* Nothing else is documented to be thrown; never let it reach C. */
        return DESK_ERR(-EBADMSG, "%s: TOML parser failed", src);
    }
}

void desk_toml_free(desk_toml_t *doc)
{
    delete doc; /* ~table() is noexcept */
}

const desk_toml_node_t *desk_toml_root(const desk_toml_t *doc)
{
    return handle_of(&doc->root);
}

desk_toml_type_t desk_toml_type(const desk_toml_node_t *h)
{
    const toml::node *n = node_of(h);

    if (n == nullptr)
        return DESK_TOML_NONE;
    switch (n->type()) {
    case toml::node_type::table:
        return DESK_TOML_TABLE;
    case toml::node_type::array:
        return DESK_TOML_ARRAY;
    case toml::node_type::string:
        return DESK_TOML_STRING;
    case toml::node_type::integer:
        return DESK_TOML_INT;
    case toml::node_type::floating_point:
        return DESK_TOML_FLOAT;
    case toml::node_type::boolean:
        return DESK_TOML_BOOL;
    case toml::node_type::date:
        return DESK_TOML_DATE;
    case toml::node_type::time:
        return DESK_TOML_TIME;
    case toml::node_type::date_time:
        return DESK_TOML_DATETIME;
    case toml::node_type::none:
        break;
    }
    return DESK_TOML_NONE;
}

const char *desk_toml_type_name(desk_toml_type_t t)
{
    switch (t) {
    case DESK_TOML_TABLE:
        return "table";
    case DESK_TOML_ARRAY:
        return "array";
    case DESK_TOML_STRING:
        return "string";
    case DESK_TOML_INT:
        return "integer";
    case DESK_TOML_FLOAT:
        return "float";
    case DESK_TOML_BOOL:
        return "boolean";
    case DESK_TOML_DATE:
        return "date";
    case DESK_TOML_TIME:
        return "time";
    case DESK_TOML_DATETIME:
        return "date-time";
    case DESK_TOML_NONE:
        break;
    }
    return "nothing";
}

int desk_toml_line(const desk_toml_node_t *h)
{
    const toml::node *n = node_of(h);

    return n != nullptr ? to_int(n->source().begin.line) : 0;
}

int desk_toml_table_entries(const desk_toml_node_t *h, desk_toml_kv_t *out, size_t cap)
{
    const toml::node *n = node_of(h);
    const toml::table *t = n != nullptr ? n->as_table() : nullptr;

    if (t == nullptr)
        return -EINVAL;
    try {
        std::vector<desk_toml_kv_t> v;

        v.reserve(t->size());
        for (auto &&[k, val] : *t) {
            const toml::source_position &p = k.source().begin;
            v.push_back(desk_toml_kv_t{k.data(), k.length(), to_int(p.line), to_int(p.column),
                                       handle_of(&val)});
        }
        /* toml::table is ordered by key; messages read better in file order.
         * Keys without a position (none in parsed documents) sort first. */
        std::stable_sort(v.begin(), v.end(), [](const desk_toml_kv_t &a, const desk_toml_kv_t &b) {
            return a.line != b.line ? a.line < b.line : a.column < b.column;
        });
        size_t m = std::min(cap, v.size());
        std::copy(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(m), out);
        return v.size() > 0x7fffffffu ? 0x7fffffff : static_cast<int>(v.size());
    } catch (...) {
        return -ENOMEM; /* only std::bad_alloc can be thrown here */
    }
}

size_t desk_toml_array_size(const desk_toml_node_t *h)
{
    const toml::node *n = node_of(h);
    const toml::array *a = n != nullptr ? n->as_array() : nullptr;

    return a != nullptr ? a->size() : 0;
}

const desk_toml_node_t *desk_toml_array_at(const desk_toml_node_t *h, size_t i)
{
    const toml::node *n = node_of(h);
    const toml::array *a = n != nullptr ? n->as_array() : nullptr;

    return a != nullptr ? handle_of(a->get(i)) : nullptr; /* get() is bounds-checked */
}

int desk_toml_get_string(const desk_toml_node_t *h, const char **s, size_t *len)
{
    const toml::node *n = node_of(h);
    const toml::value<std::string> *v = n != nullptr ? n->as_string() : nullptr;

    if (v == nullptr)
        return -EINVAL;
    *s = v->get().c_str();
    *len = v->get().size();
    return 0;
}

int desk_toml_get_int(const desk_toml_node_t *h, int64_t *out)
{
    const toml::node *n = node_of(h);
    const toml::value<int64_t> *v = n != nullptr ? n->as_integer() : nullptr;

    if (v == nullptr)
        return -EINVAL;
    *out = v->get();
    return 0;
}

int desk_toml_get_bool(const desk_toml_node_t *h, int *out)
{
    const toml::node *n = node_of(h);
    const toml::value<bool> *v = n != nullptr ? n->as_boolean() : nullptr;

    if (v == nullptr)
        return -EINVAL;
    *out = v->get() ? 1 : 0;
    return 0;
}

int desk_toml_get_float(const desk_toml_node_t *h, double *out)
{
    const toml::node *n = node_of(h);
    const toml::value<double> *v = n != nullptr ? n->as_floating_point() : nullptr;

    if (v == nullptr)
        return -EINVAL;
    *out = v->get();
    return 0;
}

} /* extern "C" */
