/* Exact medians of 31 values over sliding index windows, 16 lanes at a time: the HPSS median filters.
 *
 * Each median is a fixed comparator network (see NETWORK) run on 16 lanes at once (adjacent frequency
 * bins, or adjacent frames), unrolled so the 31 values stay in vector registers. An optional speed-up
 * of gtzan.features.medians, which falls back to NumPy's partition: a median is an order statistic, so both
 * give the same float.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#define WIDTH 31
#define LANES 16

/* Batcher's odd-even merge sort on 32 wires, keeping only the comparators the middle wire (15)
 * depends on, and dropping those that touch wire 31 (it would hold +inf and never move). */
static const unsigned char NETWORK[][2] = {
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
#define N_CMP (sizeof NETWORK / sizeof NETWORK[0])

/* 16 float32 lanes as one value: GCC and Clang lower it to the target's vector width. */
typedef float vfloat __attribute__((vector_size(LANES * sizeof(float))));
typedef int vint __attribute__((vector_size(LANES * sizeof(int))));

static inline __attribute__((always_inline)) void median_network(vfloat *r)
{
#pragma GCC unroll 256
    for (size_t c = 0; c < N_CMP; c++) {
        vfloat u = r[NETWORK[c][0]], v = r[NETWORK[c][1]];
        vint lt = u < v;
        vint ui = (vint)u, vi = (vint)v;
        r[NETWORK[c][0]] = (vfloat)((ui & lt) | (vi & ~lt));
        r[NETWORK[c][1]] = (vfloat)((vi & lt) | (ui & ~lt));
    }
}

/* Compiled for AVX-512, AVX2 and the baseline; the loader picks the best the CPU runs. */
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
static void medians(const float *x, const long long *idx, Py_ssize_t n_out, Py_ssize_t lanes,
                    Py_ssize_t seq, float *out, Py_ssize_t out_stride)
{
    vfloat r[WIDTH];
    for (Py_ssize_t l0 = 0; l0 < lanes; l0 += LANES) {
        Py_ssize_t m = lanes - l0 < LANES ? lanes - l0 : LANES;
        for (Py_ssize_t t = 0; t < n_out; t++) {
            for (int k = 0; k < WIDTH; k++) {
                const float *src = x + idx[t + k] * seq + l0;
                if (m == LANES)
                    memcpy(&r[k], src, sizeof(vfloat));
                else
                    for (Py_ssize_t l = 0; l < LANES; l++) r[k][l] = src[l < m ? l : m - 1];
            }
            median_network(r);
            float *dst = out + t * out_stride + l0;
            if (m == LANES)
                memcpy(dst, &r[WIDTH / 2], sizeof(vfloat));
            else
                for (Py_ssize_t l = 0; l < m; l++) dst[l] = r[WIDTH / 2][l];
        }
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

/* The comparator pairs, for the tests. */
static PyObject *network(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    PyObject *list = PyList_New((Py_ssize_t)N_CMP);
    if (list == NULL) return NULL;
    for (size_t c = 0; c < N_CMP; c++) {
        PyObject *pair = Py_BuildValue("(ii)", NETWORK[c][0], NETWORK[c][1]);
        if (pair == NULL) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)c, pair);
    }
    return list;
}

static PyMethodDef methods[] = {
    {"sliding", sliding, METH_VARARGS, "Exact medians of 31 values over sliding index windows."},
    {"network", network, METH_NOARGS, "The comparator network, as (low wire, high wire) pairs."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_median", NULL, -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__median(void) { return PyModule_Create(&module); }
