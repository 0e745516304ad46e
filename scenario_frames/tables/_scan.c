/* The fast path's one pass over a page, in C (see the design note of decode.py).
 *
 * compile_schema(nodes) -> capsule
 *     The known keys, as a tree: ``nodes[i]`` is ``(kind, item, entries)`` with kind 0 for an
 *     object (``entries``: ``(key bytes, child node, python)`` sorted by key), 1 for a list
 *     (``item``: the node of its items) and 2 for a scalar.  Node 0 is a record.
 *
 * scan_page(body, schema) -> str | tuple
 *     Cuts a ``GET /models`` body into the elements of its ``models`` array and their
 *     top-level members, and walks every record against the tree.  A member *needs Python*
 *     when its key is a Python key (and its value is not ``null``), or when somewhere inside
 *     it a key is not in the tree at its place, a key holds a backslash, or an object or a
 *     list stands where the tree has something else.  A record whose own keys hold a
 *     backslash or a control byte is read *whole*.  Returns the reason when the body is not
 *     shaped as expected (decode.py lists them), else the arrays described in decode.py.
 *     Strings are skipped with memchr; the loop holds no Python object and runs without the
 *     GIL.  Nothing is validated beyond that shape: the readers that see every byte (Arrow,
 *     orjson) do that.
 *
 * count_keys(value) -> int
 *     The keys of every dict in a decoded value, counted through dicts and lists (exact
 *     types, as orjson and json build them).  A value that decodes to fewer keys than its
 *     bytes hold lost a repeated key.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ----------------------------------------------------------------------------------------- */
/* The tree of known keys                                                                     */
/* ----------------------------------------------------------------------------------------- */

enum { OBJ = 0, LIST = 1, SCALAR = 2 };
#define NONE (-1) /* no node: nothing below is checked (already decided, or not a record) */

typedef struct {
    const char *key;
    Py_ssize_t len;
    int child;
    int python;
} Entry;

typedef struct {
    int kind;
    int item;
    Entry *entries;
    int n;
} Node;

typedef struct {
    Node *nodes;
    int n;
    char *keys; /* every key's bytes, back to back */
} Schema;

static void schema_free(PyObject *capsule) {
    Schema *s = PyCapsule_GetPointer(capsule, "scenario_frames._scan.schema");
    if (!s)
        return;
    for (int i = 0; i < s->n; i++)
        free(s->nodes[i].entries);
    free(s->nodes);
    free(s->keys);
    free(s);
}

static PyObject *compile_schema(PyObject *self, PyObject *arg) {
    PyObject *nodes = PySequence_Fast(arg, "nodes must be a sequence");
    if (!nodes)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(nodes);
    Schema *s = calloc(1, sizeof(Schema));
    Py_ssize_t total = 0;
    if (!s)
        goto nomem;
    s->nodes = calloc((size_t)(n ? n : 1), sizeof(Node));
    if (!s->nodes)
        goto nomem;
    s->n = (int)n;
    for (Py_ssize_t i = 0; i < n; i++) { /* room for the keys */
        PyObject *entries = PyTuple_GetItem(PySequence_Fast_GET_ITEM(nodes, i), 2);
        if (!entries)
            goto fail;
        for (Py_ssize_t j = 0; j < PyTuple_Size(entries); j++) {
            PyObject *key = PyTuple_GetItem(PyTuple_GetItem(entries, j), 0);
            if (!key || !PyBytes_Check(key)) {
                PyErr_SetString(PyExc_TypeError, "keys must be bytes");
                goto fail;
            }
            total += PyBytes_GET_SIZE(key);
        }
    }
    s->keys = malloc((size_t)(total ? total : 1));
    if (!s->keys)
        goto nomem;
    char *at = s->keys;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *node = PySequence_Fast_GET_ITEM(nodes, i);
        PyObject *entries = PyTuple_GetItem(node, 2);
        Node *nd = &s->nodes[i];
        nd->kind = (int)PyLong_AsLong(PyTuple_GetItem(node, 0));
        nd->item = (int)PyLong_AsLong(PyTuple_GetItem(node, 1));
        nd->n = (int)PyTuple_Size(entries);
        nd->entries = calloc((size_t)(nd->n ? nd->n : 1), sizeof(Entry));
        if (!nd->entries)
            goto nomem;
        for (int j = 0; j < nd->n; j++) {
            PyObject *e = PyTuple_GetItem(entries, j);
            PyObject *key = PyTuple_GetItem(e, 0);
            Py_ssize_t len = PyBytes_GET_SIZE(key);
            memcpy(at, PyBytes_AS_STRING(key), (size_t)len);
            nd->entries[j].key = at;
            nd->entries[j].len = len;
            nd->entries[j].child = (int)PyLong_AsLong(PyTuple_GetItem(e, 1));
            nd->entries[j].python = PyObject_IsTrue(PyTuple_GetItem(e, 2));
            at += len;
        }
    }
    if (PyErr_Occurred())
        goto fail;
    for (int i = 0; i < s->n; i++) { /* every reference must point at a node */
        Node *nd = &s->nodes[i];
        int bad = (nd->kind == LIST && (nd->item < 0 || nd->item >= s->n));
        for (int j = 0; j < nd->n; j++)
            bad |= nd->entries[j].child < 0 || nd->entries[j].child >= s->n;
        if (bad) {
            PyErr_SetString(PyExc_ValueError, "a node refers to no node");
            goto fail;
        }
    }
    Py_DECREF(nodes);
    PyObject *capsule = PyCapsule_New(s, "scenario_frames._scan.schema", schema_free);
    if (!capsule) {
        for (int i = 0; i < s->n; i++)
            free(s->nodes[i].entries);
        free(s->nodes);
        free(s->keys);
        free(s);
    }
    return capsule;
nomem:
    PyErr_NoMemory();
fail:
    if (s) {
        if (s->nodes)
            for (int i = 0; i < s->n; i++)
                free(s->nodes[i].entries);
        free(s->nodes);
        free(s->keys);
        free(s);
    }
    Py_DECREF(nodes);
    return NULL;
}

/* The entry of ``key`` in object node ``nd``, or NULL (binary search, bytes order). */
static const Entry *lookup(const Node *nd, const unsigned char *key, Py_ssize_t len) {
    int lo = 0, hi = nd->n;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        const Entry *e = &nd->entries[mid];
        Py_ssize_t m = e->len < len ? e->len : len;
        int c = memcmp(e->key, key, (size_t)m);
        if (c == 0)
            c = (e->len > len) - (e->len < len);
        if (c == 0)
            return e;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* ----------------------------------------------------------------------------------------- */
/* Growing arrays                                                                             */
/* ----------------------------------------------------------------------------------------- */

typedef struct {
    char *data;
    Py_ssize_t len, cap; /* in bytes */
    int failed;
} Buf;

static void put(Buf *b, const void *v, Py_ssize_t size) {
    if (b->len + size > b->cap) {
        Py_ssize_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->len + size)
            cap *= 2;
        char *p = realloc(b->data, (size_t)cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, v, (size_t)size);
    b->len += size;
}

static void put64(Buf *b, int64_t v) { put(b, &v, 8); }
static void put8(Buf *b, uint8_t v) { put(b, &v, 1); }

/* ----------------------------------------------------------------------------------------- */
/* The page                                                                                   */
/* ----------------------------------------------------------------------------------------- */

#define MAX_TRACKED 512 /* nesting levels whose nodes are kept; deeper records are refused */
#define HUGE_DIGITS 290 /* a number with this many digits plus exponent may overflow a double */

enum {
    E_START, E_END, E_OBJECT, E_COLONS, E_DEPTH, E_LAX, E_NEED, E_WHOLE, /* per element */
    M_ROW, M_KEY_LO, M_KEY_HI, M_VAL_LO, M_VAL_HI, M_COLONS, M_NEED,     /* per member */
    N_BUFS
};

typedef struct {
    const unsigned char *s;
    Py_ssize_t n;
    const Schema *schema;
    Buf out[N_BUFS];
    /* the element being read */
    int64_t el_lo, el_first_pos, el_colons, el_max_depth, members_at_start;
    unsigned char el_first_char;
    int el_object, el_lax, el_need, el_whole;
    int64_t n_elements, separators;
    /* the member being read (of an object element, at depth 3) */
    int in_member;
    int64_t m_key_lo, m_key_hi, m_val_lo, m_colons_at;
    int m_need;
    const char *error;
} Page;

static int blank(unsigned char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

static int blanks_only(const unsigned char *s, Py_ssize_t lo, Py_ssize_t hi) {
    for (Py_ssize_t i = lo; i < hi; i++)
        if (!blank(s[i]))
            return 0;
    return 1;
}

static void start_element(Page *p, int64_t lo) {
    p->el_lo = lo;
    p->el_first_pos = -1;
    p->el_first_char = 0;
    p->el_colons = 0;
    p->el_max_depth = 2;
    p->el_lax = p->el_need = p->el_whole = 0;
    p->el_object = 0;
    p->in_member = 0;
}

static void end_member(Page *p, int64_t at) {
    if (!p->in_member)
        return;
    put64(&p->out[M_ROW], p->n_elements);
    put64(&p->out[M_KEY_LO], p->m_key_lo);
    put64(&p->out[M_KEY_HI], p->m_key_hi);
    put64(&p->out[M_VAL_LO], p->m_val_lo);
    put64(&p->out[M_VAL_HI], at);
    put64(&p->out[M_COLONS], p->el_colons - p->m_colons_at);
    put8(&p->out[M_NEED], (uint8_t)p->m_need);
    p->el_need |= p->m_need;
    p->in_member = 0;
}

/* Ends the element that ends at ``hi`` (a ',' or the closing bracket). */
static void end_element(Page *p, int64_t hi) {
    end_member(p, hi);
    int64_t lo = p->el_lo, end = hi;
    while (lo < end && blank(p->s[lo]))
        lo++;
    while (end > lo && blank(p->s[end - 1]))
        end--;
    if (end <= lo) {
        if (!p->error)
            p->error = "an element of models is empty";
        return;
    }
    put64(&p->out[E_START], lo);
    put64(&p->out[E_END], end);
    put8(&p->out[E_OBJECT], (uint8_t)(p->el_first_char == '{' && p->el_first_pos == lo));
    put64(&p->out[E_COLONS], p->el_colons);
    put64(&p->out[E_DEPTH], p->el_max_depth - 2);
    put8(&p->out[E_LAX], (uint8_t)p->el_lax);
    put8(&p->out[E_NEED], (uint8_t)(p->el_need | p->el_lax));
    put8(&p->out[E_WHOLE], (uint8_t)p->el_whole);
    p->n_elements++;
}

/* A key (the bytes between its quotes) that raw bytes can be matched against? */
static int plain_key(const unsigned char *k, Py_ssize_t len) {
    for (Py_ssize_t i = 0; i < len; i++)
        if (k[i] == '\\' || k[i] < 32)
            return 0;
    return 1;
}

static PyObject *scan_page(PyObject *self, PyObject *args) {
    Py_buffer view;
    PyObject *capsule;
    if (!PyArg_ParseTuple(args, "y*O", &view, &capsule))
        return NULL;
    const Schema *schema = PyCapsule_GetPointer(capsule, "scenario_frames._scan.schema");
    if (!schema) {
        PyBuffer_Release(&view);
        return NULL;
    }
    Page p;
    memset(&p, 0, sizeof p);
    p.s = view.buf;
    p.n = view.len;
    p.schema = schema;
    const unsigned char *s = p.s;
    Py_ssize_t n = p.n;
    int64_t models_open = -1, models_close = -1;

    Py_BEGIN_ALLOW_THREADS;
    /* Nodes of the open containers, and of the value after the last key, by depth. */
    int node_at[MAX_TRACKED + 2], pending[MAX_TRACKED + 2];
    unsigned char obj_at[MAX_TRACKED + 2];
    int64_t depth = 0, first_pos = -1, last_pos = -1;
    unsigned char first_char = 0;
    int negative = 0, in_string = 0, in_models = 0, models_keys = 0, expect_models = 0;
    int64_t models_colon = -1;
    int64_t q_open = -1, q_close = -1; /* quotes of the last string */
    const char *key_error = NULL, *models_error = NULL, *close_error = NULL;
    Py_ssize_t run = 0; /* backslashes right before s[i] */
    int64_t digits = 0; /* digits of the number being read */

    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (in_string) { /* the next '"' not escaped by an odd run of backslashes */
            for (;;) {
                const unsigned char *q = memchr(s + i, '"', (size_t)(n - i));
                if (!q) {
                    i = n;
                    break;
                }
                Py_ssize_t at = q - s, k = at;
                while (k > i && s[k - 1] == '\\')
                    k--;
                i = at;
                if (!((at - k) & 1))
                    break;
                if (++i == n)
                    break;
            }
            if (i >= n)
                break;
            in_string = 0;
            q_close = i;
            run = 0;
            continue;
        }
        if (c == '\\') {
            run++;
            digits = 0;
            continue;
        }
        if (c == '"') {
            digits = 0;
            if (!(run & 1)) {
                in_string = 1;
                q_open = i;
            }
            run = 0;
            continue;
        }
        run = 0;
        if (!(c == ':' || c == ',' || c == '{' || c == '}' || c == '[' || c == ']')) {
            /* A number too large for a double: Arrow reads it as infinity, orjson refuses it
             * (decode.py, 5.).  Flagged from its digits and its exponent, conservatively. */
            if (c >= '0' && c <= '9') {
                if (++digits >= HUGE_DIGITS && in_models)
                    p.el_lax = 1;
            } else if ((c == 'e' || c == 'E') && digits) {
                Py_ssize_t j = i + 1;
                int negative_exp = j < n && s[j] == '-';
                if (j < n && (s[j] == '-' || s[j] == '+'))
                    j++;
                int64_t exp = 0;
                while (j < n && s[j] >= '0' && s[j] <= '9' && exp < HUGE_DIGITS)
                    exp = exp * 10 + (s[j++] - '0');
                if (!negative_exp && digits + exp >= HUGE_DIGITS && in_models)
                    p.el_lax = 1;
            } else if (c != '.' && c != '-' && c != '+') {
                digits = 0;
            }
            continue;
        }
        digits = 0;
        if (negative)
            continue; /* only the strings still matter (an open one is reported first) */
        if (first_pos < 0) {
            first_pos = i;
            first_char = c;
        }
        last_pos = i;
        if (expect_models) { /* the first structure after "models": must be its '[' */
            expect_models = 0;
            if (c == '[' && blanks_only(s, models_colon + 1, i)) {
                models_open = i;
                in_models = 1;
                start_element(&p, i + 1);
            } else if (!models_error) {
                models_error = "models is not an array";
            }
        }
        int in_element = in_models && depth >= 2 && i != models_open;
        int separator = in_models && depth == 2 && c == ',';
        if (separator) {
            p.separators++;
            end_element(&p, i);
            start_element(&p, i + 1);
        } else if (in_element && p.el_first_pos < 0) {
            p.el_first_pos = i;
            p.el_first_char = c;
        }
        if ((c == ':' || c == ',' || c == '[') && in_models && i + 1 < n) {
            /* NaN, -NaN, Infinity, -Infinity or a blank hiding the next byte (decode.py, 5.) */
            unsigned char d = s[i + 1];
            if (d == 'N' || d == 'I' || d <= 32 ||
                (d == '-' && i + 2 < n && (s[i + 2] == 'I' || s[i + 2] == 'N')))
                p.el_lax = 1;
        }
        switch (c) {
        case '{':
        case '[': {
            int node = NONE;
            if (in_element && depth == 2) {
                node = c == '{' ? 0 : NONE; /* a record */
                p.el_object = c == '{';
            } else if (in_element && depth >= 3 && depth <= MAX_TRACKED) {
                int parent = node_at[depth];
                int want = NONE;
                if (parent != NONE) {
                    if (obj_at[depth])
                        want = pending[depth];
                    else if (schema->nodes[parent].kind == LIST)
                        want = schema->nodes[parent].item;
                }
                if (want != NONE) {
                    int kind = schema->nodes[want].kind;
                    if ((c == '{' && kind == OBJ) || (c == '[' && kind == LIST))
                        node = want;
                    else if (p.in_member)
                        p.m_need = 1; /* not the shape the tree has: Arrow refuses it */
                }
            }
            depth++;
            if (depth <= MAX_TRACKED) {
                node_at[depth] = node;
                pending[depth] = NONE;
                obj_at[depth] = c == '{';
            }
            if (in_models && depth > p.el_max_depth)
                p.el_max_depth = depth;
            break;
        }
        case '}':
        case ']':
            if (in_element && depth == 3 && c == '}' && p.el_object)
                end_member(&p, i); /* the record's own '}' */
            if (in_models && depth == 2) { /* the models array ends */
                if (c != ']' && !close_error)
                    close_error = "models is not closed";
                if (p.n_elements || p.separators || !blanks_only(s, p.el_lo, i))
                    end_element(&p, i); /* else the array is empty */
                models_close = i;
                in_models = 0;
            }
            depth--;
            if (depth < 0)
                negative = 1;
            break;
        case ',':
            if (in_element && depth == 3 && p.el_object)
                end_member(&p, i);
            break;
        case ':': {
            const unsigned char *key = s + q_open + 1;
            Py_ssize_t klen = q_close > q_open ? q_close - q_open - 1 : 0;
            if (depth == 1) { /* a key of the page */
                if (q_close < 0 || !blanks_only(s, q_close + 1, i)) {
                    if (!key_error)
                        key_error = "a key is not a string";
                } else if (memchr(key, '\\', (size_t)klen)) {
                    if (!key_error)
                        key_error = "a key of the page is escaped";
                } else if (klen == 6 && !memcmp(key, "models", 6)) {
                    if (models_keys++ == 0) {
                        expect_models = 1;
                        models_colon = i;
                    }
                }
                break;
            }
            if (!in_element)
                break;
            p.el_colons++;
            if (depth > MAX_TRACKED)
                break;
            int here = node_at[depth];
            if (depth == 3 && p.el_object) { /* a member of the record */
                p.in_member = 1;
                p.m_key_lo = q_open + 1;
                p.m_key_hi = q_close;
                p.m_val_lo = i + 1;
                p.m_colons_at = p.el_colons;
                p.m_need = 0;
            }
            pending[depth] = NONE;
            if (here == NONE || !obj_at[depth])
                break;
            if (!plain_key(key, klen)) {
                p.m_need = 1;
                if (depth == 3)
                    p.el_whole = 1; /* its member cannot be matched by its bytes */
                break;
            }
            const Entry *e = lookup(&schema->nodes[here], key, klen);
            if (!e) {
                p.m_need = 1; /* a key the tree does not know */
            } else if (e->python) {
                Py_ssize_t v = i + 1;
                while (v < n && blank(s[v]))
                    v++;
                if (!(v + 4 <= n && !memcmp(s + v, "null", 4)))
                    p.m_need = 1;
            } else {
                pending[depth] = e->child;
            }
            break;
        }
        }
        if (in_models && depth > p.el_max_depth)
            p.el_max_depth = depth;
    }

    if (in_string)
        p.error = "a string is not closed";
    else if (negative || depth != 0 || first_pos < 0)
        p.error = "brackets do not balance";
    else if (first_char != '{' || !blanks_only(s, 0, first_pos) ||
             !blanks_only(s, last_pos + 1, n))
        p.error = "the page is not one JSON object";
    else if (key_error)
        p.error = key_error;
    else if (models_keys != 1)
        p.error = "no single models key";
    else if (models_error)
        p.error = models_error;
    else if (close_error)
        p.error = close_error;
    /* else: p.error may hold "an element of models is empty" */
    Py_END_ALLOW_THREADS;
    PyBuffer_Release(&view);

    PyObject *result = NULL;
    int failed = 0;
    for (int b = 0; b < N_BUFS; b++)
        failed |= p.out[b].failed;
    if (failed) {
        PyErr_NoMemory();
    } else if (p.error) {
        result = PyUnicode_FromString(p.error);
    } else {
        result = PyTuple_New(N_BUFS + 2);
        for (int b = 0; result && b < N_BUFS; b++) {
            PyObject *v = PyBytes_FromStringAndSize(p.out[b].data ? p.out[b].data : "",
                                                    p.out[b].len);
            if (!v) {
                Py_CLEAR(result);
                break;
            }
            PyTuple_SET_ITEM(result, b, v);
        }
        if (result) {
            PyTuple_SET_ITEM(result, N_BUFS, PyLong_FromLongLong(models_open));
            PyTuple_SET_ITEM(result, N_BUFS + 1, PyLong_FromLongLong(models_close));
        }
    }
    for (int b = 0; b < N_BUFS; b++)
        free(p.out[b].data);
    return result;
}

/* ----------------------------------------------------------------------------------------- */
/* Keys of a decoded value                                                                    */
/* ----------------------------------------------------------------------------------------- */

/* Deep enough for any value orjson or json decodes (both stop far earlier). */
#define MAX_NESTING 10000

static Py_ssize_t keys_in(PyObject *v, int depth) {
    if (depth > MAX_NESTING) {
        PyErr_SetString(PyExc_RecursionError, "value nested too deeply to count its keys");
        return -1;
    }
    Py_ssize_t total = 0;
    if (PyDict_CheckExact(v)) {
        PyObject *key, *value;
        Py_ssize_t pos = 0;
        total = PyDict_GET_SIZE(v);
        while (PyDict_Next(v, &pos, &key, &value)) {
            Py_ssize_t k = keys_in(value, depth + 1);
            if (k < 0)
                return -1;
            total += k;
        }
    } else if (PyList_CheckExact(v)) {
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(v); i++) {
            Py_ssize_t k = keys_in(PyList_GET_ITEM(v, i), depth + 1);
            if (k < 0)
                return -1;
            total += k;
        }
    }
    return total;
}

static PyObject *count_keys(PyObject *self, PyObject *arg) {
    Py_ssize_t n = keys_in(arg, 0);
    return n < 0 ? NULL : PyLong_FromSsize_t(n);
}

static PyMethodDef methods[] = {
    {"compile_schema", compile_schema, METH_O,
     "compile_schema(nodes) -> capsule: the tree of known keys scan_page walks records by."},
    {"scan_page", scan_page, METH_VARARGS,
     "scan_page(body, schema) -> str | tuple: a page's elements and members, and which of "
     "them need Python (see _scan.c)."},
    {"count_keys", count_keys, METH_O,
     "count_keys(value) -> int: the keys of every dict in a decoded JSON value."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_scan",
    "The fast path's one pass over a page, in C (see the comment at the top of _scan.c).", -1,
    methods,
};

PyMODINIT_FUNC PyInit__scan(void) { return PyModule_Create(&module); }
