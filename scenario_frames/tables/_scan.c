/* The two loops of the fast path that numpy can only do in many passes, in one pass of C.
 *
 * structure(body) -> (events, chars, quotes)
 *     Where a page's JSON structure is.  ``quotes``: the offsets (int32, native order) of every
 *     '"' that opens or closes a string, that is every '"' not escaped by an odd run of
 *     backslashes right before it.  ``events``/``chars``: the offsets (int32) and bytes (uint8)
 *     of every ':' ',' '{' '}' '[' ']' outside strings.  A byte is inside a string when an odd
 *     number of those quotes come before it.  Nothing is validated: the readers that see every
 *     byte later (Arrow, orjson) do that.  ``decode._structure_numpy`` computes the same arrays
 *     with numpy and is the reference the tests compare against.  The loop holds no Python
 *     object, so it runs without the GIL.
 *
 * count_keys(value) -> int
 *     The keys of every dict in a decoded value, counted through dicts and lists (exact types,
 *     as orjson and json build them; anything else counts nothing).  A record whose decoded
 *     keys are fewer than the keys written in its bytes lost a repeated key.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *data;
    Py_ssize_t len, cap; /* in bytes */
} Buf;

static int buf_reserve(Buf *b, Py_ssize_t more) {
    if (b->len + more <= b->cap)
        return 0;
    Py_ssize_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more)
        cap *= 2;
    char *p = realloc(b->data, (size_t)cap);
    if (!p)
        return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

static PyObject *structure(PyObject *self, PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    const unsigned char *s = view.buf;
    Py_ssize_t n = view.len;
    if (n > INT32_MAX) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "body too large for 32-bit offsets");
        return NULL;
    }
    /* Every array gets room for one entry per 8 bytes first; they grow when a body is denser. */
    Buf ev = {0}, ch = {0}, qu = {0};
    int failed = 0;
    Py_BEGIN_ALLOW_THREADS;
    Py_ssize_t guess = n / 8 + 16;
    if (buf_reserve(&ev, guess * 4) || buf_reserve(&ch, guess) || buf_reserve(&qu, guess * 4))
        failed = 1;
    int in_string = 0;
    Py_ssize_t run = 0; /* backslashes right before s[i] */
    for (Py_ssize_t i = 0; i < n && !failed; i++) {
        unsigned char c = s[i];
        if (in_string) {
            /* Inside a string only the next unescaped '"' matters: find it with memchr, and
             * count the backslashes right before it (none, nearly always). */
            for (;;) {
                const unsigned char *q = memchr(s + i, '"', (size_t)(n - i));
                if (!q)
                    goto done;
                Py_ssize_t at = q - s, k = at;
                while (k > i && s[k - 1] == '\\')
                    k--;
                /* a run that starts before i continues one counted in ``run`` */
                Py_ssize_t total = (at - k) + (k == i ? run : 0);
                i = at;
                if (!(total & 1))
                    break;
                run = 0;
                if (++i == n)
                    goto done;
            }
            c = '"';
            run = 0;
        }
        if (c == '\\') {
            run++;
            continue;
        }
        if (c == '"') {
            if (!(run & 1)) {
                if (buf_reserve(&qu, 4)) {
                    failed = 1;
                    break;
                }
                int32_t at = (int32_t)i;
                memcpy(qu.data + qu.len, &at, 4);
                qu.len += 4;
                in_string = !in_string;
            }
        } else if (!in_string && (c == ':' || c == ',' || c == '{' || c == '}' || c == '[' ||
                                  c == ']')) {
            if (buf_reserve(&ev, 4) || buf_reserve(&ch, 1)) {
                failed = 1;
                break;
            }
            int32_t at = (int32_t)i;
            memcpy(ev.data + ev.len, &at, 4);
            ev.len += 4;
            ch.data[ch.len++] = (char)c;
        }
        run = 0;
    }
done:
    Py_END_ALLOW_THREADS;
    PyBuffer_Release(&view);
    PyObject *out = NULL;
    if (failed)
        PyErr_NoMemory();
    else
        out = Py_BuildValue("(y#y#y#)", ev.data ? ev.data : "", ev.len, ch.data ? ch.data : "",
                            ch.len, qu.data ? qu.data : "", qu.len);
    free(ev.data);
    free(ch.data);
    free(qu.data);
    return out;
}

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
    {"structure", structure, METH_O,
     "structure(body) -> (events, chars, quotes): a page's structural bytes outside strings "
     "(int32 offsets and the bytes) and its string quotes (int32 offsets)."},
    {"count_keys", count_keys, METH_O,
     "count_keys(value) -> int: the keys of every dict in a decoded JSON value."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_scan",
    "One-pass C loops for the fast path (see the comment at the top of _scan.c).", -1, methods,
};

PyMODINIT_FUNC PyInit__scan(void) { return PyModule_Create(&module); }
