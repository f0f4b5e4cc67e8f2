/*
 * toml_shim.h - a small C API over tomlplusplus, enough for config.c to walk
 * a parsed desk.toml.
 *
 * The shim is C++17 (toml_shim.cc) behind `extern "C"`: it parses, exposes
 * every node as an opaque borrowed pointer, and answers questions about it
 * (type, source line, table entries, array elements, scalar values).  It
 * knows nothing of desk's schema; config.c does all of the validation.
 *
 * tomlplusplus is used with exceptions enabled (the installed library is
 * built that way); the shim catches every exception, toml::parse_error and
 * std::bad_alloc included, so none ever crosses into C.
 *
 * Ownership: a desk_toml_t is owned by whoever parsed it and freed with
 * desk_toml_free().  Nodes, keys and strings it hands out are borrowed from
 * the document and stay valid until desk_toml_free().
 *
 * Thread-safety: cold-path code; a document may be read from one thread at
 * a time.  Distinct documents are independent.
 */
#ifndef DESK_TOML_SHIM_H
#define DESK_TOML_SHIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct desk_toml desk_toml_t;           /* a parsed document (owned) */
typedef struct desk_toml_node desk_toml_node_t; /* a node in it (borrowed) */

/* What a node holds (TOML's value kinds). */
typedef enum desk_toml_type {
    DESK_TOML_NONE = 0,     /* not a node (NULL) */
    DESK_TOML_TABLE = 1,    /* [table], inline { } table or [[array]] element */
    DESK_TOML_ARRAY = 2,    /* [ ... ] or an array of tables */
    DESK_TOML_STRING = 3,   /* "text" */
    DESK_TOML_INT = 4,      /* 42 (int64) */
    DESK_TOML_FLOAT = 5,    /* 4.2 (double) */
    DESK_TOML_BOOL = 6,     /* true / false */
    DESK_TOML_DATE = 7,     /* 1979-05-27 */
    DESK_TOML_TIME = 8,     /* 07:32:00 */
    DESK_TOML_DATETIME = 9, /* 1979-05-27T07:32:00Z */
} desk_toml_type_t;

/* One entry of a table, as desk_toml_table_entries() lists it. */
typedef struct desk_toml_kv {
    const char *key;             /* the key's bytes (borrowed; may hold a NUL) */
    size_t keylen;               /* its length in bytes */
    int line;                    /* line of the key in the source, 1-based */
    int column;                  /* column of the key, 1-based */
    const desk_toml_node_t *val; /* its value (borrowed) */
} desk_toml_kv_t;

/*
 * Parse text[0..len) as TOML; `name` (may be NULL) names the source in
 * messages.  On success *out is a new document, owned by the caller.
 * Returns 0, or:
 *   -EBADMSG  syntax error; desk_errmsg() says "name:LINE:COLUMN: what";
 *   -ENOMEM   out of memory.
 * *out is NULL on failure.  Cold; any thread.
 */
int desk_toml_parse(const char *text, size_t len, const char *name, desk_toml_t **out);

/* Free a document and every node of it.  NULL is a no-op.  Cold. */
void desk_toml_free(desk_toml_t *doc);

/* The document's root table (never NULL for a parsed document). */
const desk_toml_node_t *desk_toml_root(const desk_toml_t *doc);

/* The node's type; DESK_TOML_NONE for NULL. */
desk_toml_type_t desk_toml_type(const desk_toml_node_t *n);

/* A static word for a type, for messages: "table", "integer", ... */
const char *desk_toml_type_name(desk_toml_type_t t);

/* The 1-based line where the node starts in the source; 0 if unknown. */
int desk_toml_line(const desk_toml_node_t *n);

/*
 * List the entries of table `t` in source order (by the line and column of
 * each key), writing the first min(count, cap) of them to out[].  Returns
 * the total number of entries (which may exceed cap), or -EINVAL if `t` is
 * not a table, or -ENOMEM.  Cold; allocates temporarily.
 */
int desk_toml_table_entries(const desk_toml_node_t *t, desk_toml_kv_t *out, size_t cap);

/* The number of elements of array `a` (0 if `a` is not an array). */
size_t desk_toml_array_size(const desk_toml_node_t *a);

/* Element i of array `a`, or NULL if `a` is not an array or i is out of range. */
const desk_toml_node_t *desk_toml_array_at(const desk_toml_node_t *a, size_t i);

/*
 * Scalar getters.  Each returns 0 and fills its outputs, or -EINVAL (outputs
 * untouched) if the node is not of that type.  A string is returned as a
 * borrowed pointer plus length; it is NUL-terminated but may also contain a
 * NUL (TOML allows "\u0000"), so callers that need a C string must check.
 */
int desk_toml_get_string(const desk_toml_node_t *n, const char **s, size_t *len);
int desk_toml_get_int(const desk_toml_node_t *n, int64_t *out);
int desk_toml_get_bool(const desk_toml_node_t *n, int *out);
int desk_toml_get_float(const desk_toml_node_t *n, double *out);

#ifdef __cplusplus
}
#endif

#endif /* DESK_TOML_SHIM_H */
