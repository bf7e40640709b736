/* Per-frame statistics of the analysis frames in one pass each: RMS and zero-crossing rate of the
 * samples; power, spectral centroid, bandwidth, roll-off and the mel spectrum of the magnitudes; the
 * spectral peaks piptrack interpolates; the harmonic part of STFT frames under HPSS's soft mask; the
 * overlap-add of inverse-transformed frames under the synthesis window; and the power spectra of the
 * tempo estimate's autocorrelation frames.
 *
 * An optional speed-up of gtzan.features.frames, whose NumPy code computes the same values in about
 * forty passes over each batch of frames. Every value is the float NumPy gives: the sums follow
 * NumPy's own order (pairwise summation for np.add.reduce and np.mean, the first element plus the
 * pairwise sum of the rest for np.add.reduceat, left to right for np.cumsum), each product and
 * quotient is the one NumPy evaluates, and the build turns off contraction into fused multiply-adds.
 * tests/test_spectral_kernel.py holds both paths to bit-for-bit equality.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <float.h>
#include <math.h>

#define BLOCK 128 /* NumPy's PW_BLOCKSIZE */

/* Compiled for AVX-512, AVX2 and the baseline; the loader picks the best the CPU runs. Vector widths
 * change no result: no loop here is reassociated, and fused multiply-adds are off. */
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
#define CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define CLONES
#endif

/* NumPy's pairwise sum of a float64 array (numpy/_core/src/umath/loops_utils.h.src). */
static CLONES double pairwise_sum(const double *a, Py_ssize_t n)
{
    if (n < 8) {
        double res = 0.;
        for (Py_ssize_t i = 0; i < n; i++) res += a[i];
        return res;
    }
    if (n <= BLOCK) {
        double r[8];
        Py_ssize_t i;
        for (int j = 0; j < 8; j++) r[j] = a[j];
        for (i = 8; i < n - (n % 8); i += 8)
            for (int j = 0; j < 8; j++) r[j] += a[i + j];
        double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++) res += a[i];
        return res;
    }
    Py_ssize_t n2 = n / 2;
    n2 -= n2 % 8;
    return pairwise_sum(a, n2) + pairwise_sum(a + n2, n - n2);
}

static CLONES void frame_times(const double *x, const float *z, Py_ssize_t n, Py_ssize_t len, float threshold,
                               double *sq, double *rms, double *zcr)
{
    const float below = -threshold;
    for (Py_ssize_t f = 0; f < n; f++, x += len, z += len) {
        for (Py_ssize_t i = 0; i < len; i++) sq[i] = x[i] * x[i];
        rms[f] = sqrt(pairwise_sum(sq, len) / (double)len);
        Py_ssize_t changes = 0;
        for (Py_ssize_t i = 1; i < len; i++) changes += (z[i] < below) != (z[i - 1] < below);
        zcr[f] = (double)changes / (double)len;
    }
}

/* time_stats(x, zc_frames, frame_len, zc_threshold, rms, zcr)
 *
 * For each frame: rms = sqrt(mean(x**2)) of its float64 samples x, and the zero-crossing rate of its
 * edge-padded float32 copy: the fraction of adjacent pairs whose samples lie on different sides of
 * -zc_threshold (librosa's zeroing of tiny samples and sign-bit comparison).
 */
static PyObject *time_stats(PyObject *self, PyObject *args)
{
    (void)self;
    Py_buffer xb, zb, rb, cb;
    Py_ssize_t len;
    float threshold;
    if (!PyArg_ParseTuple(args, "y*y*nfw*w*", &xb, &zb, &len, &threshold, &rb, &cb)) return NULL;
    PyObject *result = NULL;
    double *sq = NULL;
    Py_ssize_t n = len > 0 ? xb.len / (Py_ssize_t)sizeof(double) / len : 0;
    if (len < 2 || xb.len != n * len * (Py_ssize_t)sizeof(double) || zb.len != n * len * (Py_ssize_t)sizeof(float) ||
        rb.len != n * (Py_ssize_t)sizeof(double) || cb.len != rb.len) {
        PyErr_SetString(PyExc_ValueError, "buffer sizes do not match the frame length");
        goto done;
    }
    sq = PyMem_RawMalloc((size_t)len * sizeof(double));
    if (sq == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    frame_times(xb.buf, zb.buf, n, len, threshold, sq, rb.buf, cb.buf);
    Py_END_ALLOW_THREADS
    result = Py_NewRef(Py_None);
done:
    PyMem_RawFree(sq);
    PyBuffer_Release(&xb);
    PyBuffer_Release(&zb);
    PyBuffer_Release(&rb);
    PyBuffer_Release(&cb);
    return result;
}

static CLONES void frame_spectra(const float *mag, Py_ssize_t n, Py_ssize_t nb, const double *freqs,
                                 const long long *cols, const double *vals, Py_ssize_t n_cols,
                                 const long long *starts, Py_ssize_t n_mels, double *buf, float *power,
                                 double *centroid, double *bandwidth, double *rolloff, float *mel)
{
    double *m = buf, *mf = buf + nb, *mff = buf + 2 * nb, *prod = buf + 3 * nb;
    for (Py_ssize_t f = 0; f < n; f++, mag += nb, power += nb, mel += n_mels) {
        for (Py_ssize_t i = 0; i < nb; i++) {
            power[i] = mag[i] * mag[i];
            m[i] = (double)mag[i];
            mf[i] = m[i] * freqs[i];
            mff[i] = mf[i] * freqs[i];
        }
        double tot = pairwise_sum(m, nb);
        double scale = 1.0 / (tot < (double)FLT_MIN ? 1.0 : tot);
        double c = pairwise_sum(mf, nb) * scale;
        double s2 = pairwise_sum(mff, nb) * scale;
        double var = s2 - c * c * (2.0 - tot * scale);
        centroid[f] = c;
        bandwidth[f] = sqrt(var > 0.0 ? var : 0.0);
        /* np.cumsum runs left to right; the threshold is 0.85 of its last value */
        double cum = 0.0;
        for (Py_ssize_t i = 0; i < nb; i++) {
            cum += m[i];
            mf[i] = cum;
        }
        double threshold = 0.85 * mf[nb - 1];
        Py_ssize_t at = 0;
        for (Py_ssize_t i = 0; i < nb; i++)
            if (mf[i] >= threshold) {
                at = i;
                break;
            }
        rolloff[f] = freqs[at];
        for (Py_ssize_t j = 0; j < n_cols; j++) prod[j] = (double)power[cols[j]] * vals[j];
        for (Py_ssize_t k = 0; k < n_mels; k++) {
            Py_ssize_t a = starts[k], b = k + 1 < n_mels ? starts[k + 1] : n_cols;
            mel[k] = (float)(prod[a] + pairwise_sum(prod + a + 1, b - a - 1));
        }
    }
}

/* spectral_stats(mag, n_bins, freqs, mel_cols, mel_vals, mel_starts, power, centroid, bandwidth,
 *                rolloff, mel)
 *
 * For each magnitude frame (float32 rows of n_bins): power = mag * mag (float32); librosa's spectral
 * centroid and bandwidth (p=2) from the sums of m, m * f and m * f * f (as
 * frames._centroid_bandwidth); the 85% roll-off frequency; and the mel spectrum, sum over each filter's
 * nonzero bins of power * weight in float64, rounded to float32 (as frames.mel_spectrum: filter k has
 * the bins mel_cols[mel_starts[k] : mel_starts[k + 1]] and their weights mel_vals).
 */
static PyObject *spectral_stats(PyObject *self, PyObject *args)
{
    (void)self;
    Py_buffer mb, fb, colb, valb, stb, pb, ceb, bwb, rob, melb;
    Py_ssize_t nb;
    if (!PyArg_ParseTuple(args, "y*ny*y*y*y*w*w*w*w*w*", &mb, &nb, &fb, &colb, &valb, &stb, &pb, &ceb, &bwb, &rob,
                          &melb))
        return NULL;
    PyObject *result = NULL;
    double *buf = NULL;
    Py_ssize_t n = nb > 0 ? mb.len / (Py_ssize_t)sizeof(float) / nb : 0;
    Py_ssize_t n_cols = colb.len / (Py_ssize_t)sizeof(long long);
    Py_ssize_t n_mels = stb.len / (Py_ssize_t)sizeof(long long);
    const long long *cols = colb.buf, *starts = stb.buf;
    if (nb < 1 || mb.len != n * nb * (Py_ssize_t)sizeof(float) || fb.len != nb * (Py_ssize_t)sizeof(double) ||
        valb.len != n_cols * (Py_ssize_t)sizeof(double) || pb.len != mb.len ||
        ceb.len != n * (Py_ssize_t)sizeof(double) || bwb.len != ceb.len || rob.len != ceb.len ||
        melb.len != n * n_mels * (Py_ssize_t)sizeof(float)) {
        PyErr_SetString(PyExc_ValueError, "buffer sizes do not match the frame and filter counts");
        goto done;
    }
    for (Py_ssize_t k = 0; k < n_cols; k++)
        if (cols[k] < 0 || cols[k] >= nb) {
            PyErr_SetString(PyExc_IndexError, "mel filter bin outside the spectrum");
            goto done;
        }
    for (Py_ssize_t k = 0; k < n_mels; k++)
        if (starts[k] < 0 || starts[k] >= n_cols || (k > 0 && starts[k] <= starts[k - 1])) {
            PyErr_SetString(PyExc_ValueError, "mel filter runs must start in order, each non-empty");
            goto done;
        }
    buf = PyMem_RawMalloc((size_t)(3 * nb + n_cols) * sizeof(double));
    if (buf == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    frame_spectra(mb.buf, n, nb, fb.buf, cols, valb.buf, n_cols, starts, n_mels, buf, pb.buf, ceb.buf, bwb.buf, rob.buf,
                  melb.buf);
    Py_END_ALLOW_THREADS
    result = Py_NewRef(Py_None);
done:
    PyMem_RawFree(buf);
    PyBuffer_Release(&mb);
    PyBuffer_Release(&fb);
    PyBuffer_Release(&colb);
    PyBuffer_Release(&valb);
    PyBuffer_Release(&stb);
    PyBuffer_Release(&pb);
    PyBuffer_Release(&ceb);
    PyBuffer_Release(&bwb);
    PyBuffer_Release(&rob);
    PyBuffer_Release(&melb);
    return result;
}

/* peaks(power, n_bins, k0, k1, threshold, sr, n_fft, rows, pitch, mag) -> count
 *
 * librosa.piptrack's peaks in bins k0 .. k1-1 of each power frame (float32 rows of n_bins), in row-major
 * order: bins above threshold * the frame's maximum that exceed their left neighbour and are not below
 * their right one (neighbours under the threshold count as 0), and their parabolic interpolation in
 * float32: the frame index, the frequency (float64 arithmetic, rounded to float32) and the magnitude.
 * The outputs hold at least (frames) * (k1 - k0) entries.
 */
static PyObject *peaks(PyObject *self, PyObject *args)
{
    (void)self;
    Py_buffer sb, rb, pb, mb;
    Py_ssize_t nb, k0, k1;
    float factor;
    double sr;
    Py_ssize_t n_fft;
    if (!PyArg_ParseTuple(args, "y*nnnfdnw*w*w*", &sb, &nb, &k0, &k1, &factor, &sr, &n_fft, &rb, &pb, &mb))
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t n = nb > 0 ? sb.len / (Py_ssize_t)sizeof(float) / nb : 0;
    Py_ssize_t cap = n * (k1 - k0);
    if (nb < 1 || sb.len != n * nb * (Py_ssize_t)sizeof(float) || k0 < 1 || k1 > nb - 1 || k1 <= k0 || n_fft < 1 ||
        rb.len < cap * (Py_ssize_t)sizeof(long long) || pb.len < cap * (Py_ssize_t)sizeof(float) ||
        mb.len < cap * (Py_ssize_t)sizeof(float)) {
        PyErr_SetString(PyExc_ValueError, "bad bin range or output buffers too small");
        goto done;
    }
    Py_ssize_t count = 0;
    Py_BEGIN_ALLOW_THREADS
    const float *S = sb.buf;
    long long *rows = rb.buf;
    float *pitch = pb.buf, *mag = mb.buf;
    for (Py_ssize_t f = 0; f < n; f++, S += nb) {
        float peak = S[0];
        for (Py_ssize_t i = 1; i < nb; i++)
            if (S[i] > peak) peak = S[i];
        const float threshold = factor * peak;
#define X(k) (S[k] > threshold ? S[k] : 0.0f)
        for (Py_ssize_t k = k0; k < k1; k++) {
            float c = X(k);
            if (!(c > X(k - 1) && c >= X(k + 1))) continue;
            float left = S[k - 1], mid = S[k], right = S[k + 1];
            float a = (right + left) - 2.0f * mid;
            float b = (right - left) / 2.0f;
            float shift = fabsf(b) < fabsf(a) ? -b / a : 0.0f;
            rows[count] = f;
            pitch[count] = (float)(((double)k + (double)shift) * sr / (double)n_fft);
            mag[count] = mid + (0.5f * b) * shift;
            count++;
        }
#undef X
    }
    Py_END_ALLOW_THREADS
    result = PyLong_FromSsize_t(count);
done:
    PyBuffer_Release(&sb);
    PyBuffer_Release(&rb);
    PyBuffer_Release(&pb);
    PyBuffer_Release(&mb);
    return result;
}

/* harmonic_spectrum(D, harm, perc, out)
 *
 * out = D * softmask(harm, perc) for complex64 STFT frames D and float32 time and frequency medians:
 * librosa.util.softmask(harm, perc, power=2) in float32 (0 where both medians are below float32's
 * tiny), applied as NumPy multiplies a complex64 by a real promoted to complex (the real part
 * a*m - b*0, the imaginary part a*0 + b*m).
 */
static CLONES void mask_spectrum(const float *D, const float *harm, const float *perc, float *out, Py_ssize_t n)
{
    const float zero = 0.0f;
    for (Py_ssize_t i = 0; i < n; i++) { /* branch-free, so that it vectorises */
        float x = harm[i], ref = perc[i];
        float z = x > ref ? x : ref;
        int silent = z < FLT_MIN;
        z = silent ? 1.0f : z;
        float m = x / z, r = ref / z;
        m *= m;
        r *= r;
        r += m;
        float q = m / r;
        float mask = silent ? 0.0f : q;
        float a = D[2 * i], b = D[2 * i + 1];
        out[2 * i] = a * mask - b * zero;
        out[2 * i + 1] = a * zero + b * mask;
    }
}

static PyObject *harmonic_spectrum(PyObject *self, PyObject *args)
{
    (void)self;
    Py_buffer db, hb, pb, ob;
    if (!PyArg_ParseTuple(args, "y*y*y*w*", &db, &hb, &pb, &ob)) return NULL;
    PyObject *result = NULL;
    Py_ssize_t n = hb.len / (Py_ssize_t)sizeof(float);
    if (pb.len != hb.len || db.len != 2 * hb.len || ob.len != db.len) {
        PyErr_SetString(PyExc_ValueError, "the spectra and medians must have the same shape");
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    mask_spectrum(db.buf, hb.buf, pb.buf, ob.buf, n);
    Py_END_ALLOW_THREADS
    result = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&db);
    PyBuffer_Release(&hb);
    PyBuffer_Release(&pb);
    PyBuffer_Release(&ob);
    return result;
}

static CLONES void add_frames(const float *td, Py_ssize_t n, Py_ssize_t len, const double *window, Py_ssize_t hop,
                              double *out)
{
    Py_ssize_t parts = len / hop;
    for (Py_ssize_t b = 0; b < n + parts - 1; b++) {
        double *dst = out + b * hop;
        for (Py_ssize_t j = 0; j < parts; j++) { /* frame b first, then b-1, b-2, ...: NumPy's order */
            Py_ssize_t f = b - j;
            if (f < 0 || f >= n) continue;
            const float *src = td + f * len + j * hop;
            const double *w = window + j * hop;
            for (Py_ssize_t i = 0; i < hop; i++) dst[i] += w[i] * (double)src[i];
        }
    }
}

/* overlap_add(td, window, hop, out)
 *
 * out (zero-filled, n + len/hop - 1 rows of hop float64) += each float32 frame of td (n rows of len,
 * len a multiple of hop) times the float64 window, frame f at row f: row b adds frames b, b-1, ... in
 * that order, as frames.ola_blocks does with NumPy.
 */
static PyObject *overlap_add(PyObject *self, PyObject *args)
{
    (void)self;
    Py_buffer tb, wb, ob;
    Py_ssize_t hop;
    if (!PyArg_ParseTuple(args, "y*y*nw*", &tb, &wb, &hop, &ob)) return NULL;
    PyObject *result = NULL;
    Py_ssize_t len = wb.len / (Py_ssize_t)sizeof(double);
    Py_ssize_t n = len > 0 ? tb.len / (Py_ssize_t)sizeof(float) / len : 0;
    if (hop < 1 || len < hop || len % hop || tb.len != n * len * (Py_ssize_t)sizeof(float) ||
        ob.len != (n + len / hop - 1) * hop * (Py_ssize_t)sizeof(double)) {
        PyErr_SetString(PyExc_ValueError, "buffer sizes do not match the window and hop");
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    add_frames(tb.buf, n, len, wb.buf, hop, ob.buf);
    Py_END_ALLOW_THREADS
    result = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&tb);
    PyBuffer_Release(&wb);
    PyBuffer_Release(&ob);
    return result;
}

static CLONES void row_powers(const double *spec, Py_ssize_t n, Py_ssize_t m, double *power, double *sums)
{
    for (Py_ssize_t f = 0; f < n; f++, spec += 2 * m, power += m) {
        for (Py_ssize_t k = 0; k < m; k++) {
            double re = spec[2 * k], im = spec[2 * k + 1];
            power[k] = re * re + im * im;
        }
        sums[f] = pairwise_sum(power, m);
    }
}

/* power_sums(spec, power, sums)
 *
 * The power of complex128 spectra (n rows of m bins), spec.real**2 + spec.imag**2, into power (n, m)
 * float64, and each row's sum (np.add.reduce along the row) into sums (n,): the tempo estimate's
 * autocorrelation spectra in one pass instead of four NumPy passes and three temporaries.
 */
static PyObject *power_sums(PyObject *self, PyObject *args)
{
    (void)self;
    Py_buffer sb, pb, ub;
    if (!PyArg_ParseTuple(args, "y*w*w*", &sb, &pb, &ub)) return NULL;
    PyObject *result = NULL;
    Py_ssize_t n = ub.len / (Py_ssize_t)sizeof(double);
    Py_ssize_t m = n > 0 ? pb.len / (Py_ssize_t)sizeof(double) / n : 0;
    if (n < 1 || m < 1 || pb.len != n * m * (Py_ssize_t)sizeof(double) || sb.len != 2 * pb.len) {
        PyErr_SetString(PyExc_ValueError, "the spectra, powers and sums must have matching shapes");
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    row_powers(sb.buf, n, m, pb.buf, ub.buf);
    Py_END_ALLOW_THREADS
    result = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&sb);
    PyBuffer_Release(&pb);
    PyBuffer_Release(&ub);
    return result;
}

static PyMethodDef methods[] = {
    {"time_stats", time_stats, METH_VARARGS, "RMS and zero-crossing rate of float32 frames."},
    {"spectral_stats", spectral_stats, METH_VARARGS, "Power, centroid, bandwidth, roll-off and mel of magnitude frames."},
    {"peaks", peaks, METH_VARARGS, "piptrack's interpolated peaks of power frames."},
    {"harmonic_spectrum", harmonic_spectrum, METH_VARARGS, "STFT frames under HPSS's harmonic soft mask."},
    {"overlap_add", overlap_add, METH_VARARGS, "Overlap-add of float32 frames under a float64 window."},
    {"power_sums", power_sums, METH_VARARGS, "Power of complex128 spectra and each row's sum."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_spectral", NULL, -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__spectral(void) { return PyModule_Create(&module); }
