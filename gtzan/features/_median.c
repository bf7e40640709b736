/* Exact medians of 31 values over sliding index windows, 16 lanes at a time: the HPSS median filters.
 *
 * Medians are computed by fixed comparator networks run on 16 lanes at once (adjacent frequency bins,
 * or adjacent frames), unrolled so the values stay in vector registers. Four consecutive windows share
 * 28 of their 31 values: one network (NET28) ranks those shared values 12th to 15th, and each window's
 * median is then the 4th smallest of these four and its own 3 values (fewer than a third of the
 * comparisons of four separate networks, NET31). An optional speed-up of gtzan.features.medians, which
 * falls back to NumPy's partition: a median is an order statistic, so both give the same float.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#define WIDTH 31
#define LANES 16

/* Batcher's odd-even merge sort on 32 wires, without the comparators that touch a wire holding +inf
 * (wires past the real values: such a comparator never moves anything), pruned to the comparators the
 * wanted outputs depend on. NET31: the middle (15th, from 0) of 31 values. NET28: the 12th..15th of 28. */
static const unsigned char NET31[][2] = {
    {0, 1}, {2, 3}, {4, 5}, {6, 7}, {8, 9}, {10, 11}, {12, 13}, {14, 15}, {16, 17}, {18, 19}, {20,
    21}, {22, 23}, {24, 25}, {26, 27}, {28, 29}, {0, 2}, {1, 3}, {4, 6}, {5, 7}, {8, 10}, {9, 11},
    {12, 14}, {13, 15}, {16, 18}, {17, 19}, {20, 22}, {21, 23}, {24, 26}, {25, 27}, {28, 30}, {1,
    2}, {5, 6}, {9, 10}, {13, 14}, {17, 18}, {21, 22}, {25, 26}, {29, 30}, {0, 4}, {1, 5}, {2, 6},
    {3, 7}, {8, 12}, {9, 13}, {10, 14}, {11, 15}, {16, 20}, {17, 21}, {18, 22}, {19, 23}, {24, 28},
    {25, 29}, {26, 30}, {2, 4}, {3, 5}, {10, 12}, {11, 13}, {18, 20}, {19, 21}, {26, 28}, {27, 29},
    {1, 2}, {3, 4}, {5, 6}, {9, 10}, {11, 12}, {13, 14}, {17, 18}, {19, 20}, {21, 22}, {25, 26},
    {27, 28}, {29, 30}, {0, 8}, {1, 9}, {2, 10}, {3, 11}, {4, 12}, {5, 13}, {6, 14}, {7, 15}, {16,
    24}, {17, 25}, {18, 26}, {19, 27}, {20, 28}, {21, 29}, {22, 30}, {4, 8}, {5, 9}, {6, 10}, {7,
    11}, {20, 24}, {21, 25}, {22, 26}, {23, 27}, {2, 4}, {3, 5}, {6, 8}, {7, 9}, {10, 12}, {11, 13},
    {18, 20}, {19, 21}, {22, 24}, {23, 25}, {26, 28}, {27, 29}, {1, 2}, {3, 4}, {5, 6}, {7, 8}, {9,
    10}, {11, 12}, {13, 14}, {17, 18}, {19, 20}, {21, 22}, {23, 24}, {25, 26}, {27, 28}, {29, 30},
    {0, 16}, {1, 17}, {2, 18}, {3, 19}, {4, 20}, {5, 21}, {6, 22}, {7, 23}, {8, 24}, {9, 25}, {10,
    26}, {11, 27}, {12, 28}, {13, 29}, {14, 30}, {8, 16}, {9, 17}, {10, 18}, {11, 19}, {12, 20},
    {13, 21}, {14, 22}, {15, 23}, {12, 16}, {13, 17}, {14, 18}, {15, 19}, {14, 16}, {15, 17}, {15,
    16}
};
static const unsigned char NET28[][2] = {
    {0, 1}, {2, 3}, {4, 5}, {6, 7}, {8, 9}, {10, 11}, {12, 13}, {14, 15}, {16, 17}, {18, 19}, {20,
    21}, {22, 23}, {24, 25}, {26, 27}, {0, 2}, {1, 3}, {4, 6}, {5, 7}, {8, 10}, {9, 11}, {12, 14},
    {13, 15}, {16, 18}, {17, 19}, {20, 22}, {21, 23}, {24, 26}, {25, 27}, {1, 2}, {5, 6}, {9, 10},
    {13, 14}, {17, 18}, {21, 22}, {25, 26}, {0, 4}, {1, 5}, {2, 6}, {3, 7}, {8, 12}, {9, 13}, {10,
    14}, {11, 15}, {16, 20}, {17, 21}, {18, 22}, {19, 23}, {2, 4}, {3, 5}, {10, 12}, {11, 13}, {18,
    20}, {19, 21}, {1, 2}, {3, 4}, {5, 6}, {9, 10}, {11, 12}, {13, 14}, {17, 18}, {19, 20}, {21,
    22}, {25, 26}, {0, 8}, {1, 9}, {2, 10}, {3, 11}, {4, 12}, {5, 13}, {6, 14}, {7, 15}, {16, 24},
    {17, 25}, {18, 26}, {19, 27}, {4, 8}, {5, 9}, {6, 10}, {7, 11}, {20, 24}, {21, 25}, {22, 26},
    {23, 27}, {2, 4}, {3, 5}, {6, 8}, {7, 9}, {10, 12}, {11, 13}, {18, 20}, {19, 21}, {22, 24}, {23,
    25}, {1, 2}, {3, 4}, {5, 6}, {7, 8}, {9, 10}, {11, 12}, {13, 14}, {17, 18}, {19, 20}, {21, 22},
    {23, 24}, {25, 26}, {0, 16}, {1, 17}, {2, 18}, {3, 19}, {4, 20}, {5, 21}, {6, 22}, {7, 23}, {8,
    24}, {9, 25}, {10, 26}, {11, 27}, {8, 16}, {9, 17}, {10, 18}, {11, 19}, {12, 20}, {13, 21}, {14,
    22}, {15, 23}, {6, 10}, {7, 11}, {12, 16}, {13, 17}, {14, 18}, {15, 19}, {10, 12}, {11, 13},
    {14, 16}, {15, 17}, {11, 12}, {13, 14}, {15, 16}
};
#define N_CMP(net) (sizeof net / sizeof net[0])

/* 16 float32 lanes as one value: GCC and Clang lower it to the target's vector width. */
typedef float vfloat __attribute__((vector_size(LANES * sizeof(float))));
typedef int vint __attribute__((vector_size(LANES * sizeof(int))));

/* Lane-wise u < v ? u : v and u < v ? v : u: each result is one of the inputs, never a new float. */
static inline __attribute__((always_inline)) vfloat vmin(vfloat u, vfloat v)
{
    vint lt = u < v;
    return (vfloat)(((vint)u & lt) | ((vint)v & ~lt));
}

static inline __attribute__((always_inline)) vfloat vmax(vfloat u, vfloat v)
{
    vint lt = u < v;
    return (vfloat)(((vint)v & lt) | ((vint)u & ~lt));
}

#define COMPARE(r, a, b)                 \
    do {                                 \
        vfloat u_ = (r)[a], v_ = (r)[b]; \
        (r)[a] = vmin(u_, v_);           \
        (r)[b] = vmax(u_, v_);           \
    } while (0)

/* m lanes of a row; a partial vector repeats its last lane (those results are not stored). */
static inline __attribute__((always_inline)) void load(vfloat *dst, const float *src, Py_ssize_t m)
{
    if (m == LANES)
        memcpy(dst, src, sizeof(vfloat));
    else
        for (Py_ssize_t l = 0; l < LANES; l++) (*dst)[l] = src[l < m ? l : m - 1];
}

static inline __attribute__((always_inline)) void store(float *dst, vfloat v, Py_ssize_t m)
{
    if (m == LANES)
        memcpy(dst, &v, sizeof(vfloat));
    else
        for (Py_ssize_t l = 0; l < m; l++) dst[l] = v[l];
}

/* Windows t..t+3 (values idx[t + k], k < 34): the 28 values all four share, idx[t+3 .. t+30], ranked
 * 12th to 15th as c12 <= c13 <= c14 <= c15. Window t+q also has idx[t+q .. t+2] and idx[t+31 .. t+30+q],
 * 3 values e0 <= e1 <= e2 once sorted. Of all 31, c0..c11 rank below 16th whatever e holds, and values
 * above c15 rank above it, so the median (16th smallest) is the 4th smallest of c12..c15 and e0..e2:
 * the smallest of c15, max(c14, e0), max(c13, e1), max(c12, e2). */
static inline __attribute__((always_inline)) void four_medians(const float *x, const long long *idx,
                                                               Py_ssize_t seq, Py_ssize_t m, float *out,
                                                               Py_ssize_t out_stride)
{
    vfloat c[28];
    for (int k = 0; k < 28; k++) load(&c[k], x + idx[3 + k] * seq, m);
#pragma GCC unroll 256
    for (size_t i = 0; i < N_CMP(NET28); i++) COMPARE(c, NET28[i][0], NET28[i][1]);
    for (int q = 0; q < 4; q++) {
        vfloat e[3];
        int j = 0;
        for (int k = q; k < 3; k++) load(&e[j++], x + idx[k] * seq, m);
        for (int k = 31; k < 31 + q; k++) load(&e[j++], x + idx[k] * seq, m);
        COMPARE(e, 0, 1);
        COMPARE(e, 1, 2);
        COMPARE(e, 0, 1);
        vfloat r = vmin(vmin(c[15], vmax(c[14], e[0])), vmin(vmax(c[13], e[1]), vmax(c[12], e[2])));
        store(out + q * out_stride, r, m);
    }
}

static inline __attribute__((always_inline)) void one_median(const float *x, const long long *idx,
                                                             Py_ssize_t seq, Py_ssize_t m, float *out)
{
    vfloat r[31];
    for (int k = 0; k < 31; k++) load(&r[k], x + idx[k] * seq, m);
#pragma GCC unroll 256
    for (size_t i = 0; i < N_CMP(NET31); i++) COMPARE(r, NET31[i][0], NET31[i][1]);
    store(out, r[WIDTH / 2], m);
}

/* Compiled for AVX-512, AVX2 and the baseline; the loader picks the best the CPU runs. */
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
static void medians(const float *x, const long long *idx, Py_ssize_t n_out, Py_ssize_t lanes,
                    Py_ssize_t seq, float *out, Py_ssize_t out_stride)
{
    for (Py_ssize_t l0 = 0; l0 < lanes; l0 += LANES) {
        Py_ssize_t m = lanes - l0 < LANES ? lanes - l0 : LANES;
        Py_ssize_t t = 0;
        for (; t + 4 <= n_out; t += 4) four_medians(x + l0, idx + t, seq, m, out + t * out_stride + l0, out_stride);
        for (; t < n_out; t++) one_median(x + l0, idx + t, seq, m, out + t * out_stride + l0);
    }
}

/* sliding(x, idx, lanes, seq_stride, out, out_stride)
 *
 * out[t * out_stride + l] = median over k < 31 of x[idx[t + k] * seq_stride + l], for
 * t = 0 .. len(idx) - 31 and lanes l = 0 .. lanes - 1 (contiguous). x and out are float32 buffers,
 * idx an int64 buffer. Values must not be NaN.
 */
static PyObject *sliding(PyObject *self, PyObject *args)
{
    (void)self;
    Py_buffer xb, ib, ob;
    Py_ssize_t lanes, seq, out_stride;
    if (!PyArg_ParseTuple(args, "y*y*nnw*n", &xb, &ib, &lanes, &seq, &ob, &out_stride))
        return NULL;
    PyObject *result = NULL;
    const float *x = (const float *)xb.buf;
    const long long *idx = (const long long *)ib.buf;
    Py_ssize_t nx = xb.len / (Py_ssize_t)sizeof(float);
    Py_ssize_t ni = ib.len / (Py_ssize_t)sizeof(long long);
    Py_ssize_t no = ob.len / (Py_ssize_t)sizeof(float);
    Py_ssize_t n_out = ni - WIDTH + 1;

    if (lanes < 1 || n_out < 1 || seq < 0 || out_stride < lanes) {
        PyErr_SetString(PyExc_ValueError, "bad lane count, stride or index length");
        goto done;
    }
    for (Py_ssize_t k = 0; k < ni; k++)
        if (idx[k] < 0 || idx[k] > (nx - lanes) / (seq ? seq : 1) || (seq == 0 && lanes > nx)) {
            PyErr_SetString(PyExc_IndexError, "index outside the input buffer");
            goto done;
        }
    if ((n_out - 1) * out_stride + lanes > no) {
        PyErr_SetString(PyExc_IndexError, "output buffer too small");
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    medians(x, idx, n_out, lanes, seq, (float *)ob.buf, out_stride);
    Py_END_ALLOW_THREADS
    result = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&xb);
    PyBuffer_Release(&ib);
    PyBuffer_Release(&ob);
    return result;
}

/* A network's comparator pairs, for the tests. */
static PyObject *pairs(const unsigned char (*net)[2], size_t n)
{
    PyObject *list = PyList_New((Py_ssize_t)n);
    if (list == NULL) return NULL;
    for (size_t c = 0; c < n; c++) {
        PyObject *pair = Py_BuildValue("(ii)", net[c][0], net[c][1]);
        if (pair == NULL) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)c, pair);
    }
    return list;
}

static PyObject *network(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return pairs(NET31, N_CMP(NET31));
}

static PyObject *shared_network(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return pairs(NET28, N_CMP(NET28));
}

static PyMethodDef methods[] = {
    {"sliding", sliding, METH_VARARGS, "Exact medians of 31 values over sliding index windows."},
    {"network", network, METH_NOARGS, "The median-of-31 network, as (low wire, high wire) pairs."},
    {"shared_network", shared_network, METH_NOARGS, "The network ranking four windows' 28 shared values."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_median", NULL, -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__median(void) { return PyModule_Create(&module); }
