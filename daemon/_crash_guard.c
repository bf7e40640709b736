/* A crash while PortAudio starts, reported as gtzan-listen's one-line error instead of a silent death.

alsa-lib calls abort() while PortAudio starts when the ALSA configuration defines no default PCM
(ALSA_CONFIG_PATH naming a missing or empty file, an ~/.asoundrc that replaces `pcm`). No Python code
runs between that abort and the end of the process, so while armed, this handler writes a line prepared
beforehand to the terminal and ends the process with the listener's error status. It stands in for a
probe process that started PortAudio first and cost the capture's start 30-60 ms.

Only the thread that armed it is covered: a fatal signal on any other thread goes to the handler that
was installed before, as if the guard were not there. The handler calls only async-signal-safe
functions (write, sigaction, raise, _exit) and pthread_self.
*/
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static const int SIGNALS[] = {SIGABRT, SIGSEGV, SIGBUS, SIGILL, SIGFPE};
static const char *const NAMES[] = {"SIGABRT", "SIGSEGV", "SIGBUS", "SIGILL", "SIGFPE"};
#define N_SIGNALS ((int)(sizeof(SIGNALS) / sizeof(SIGNALS[0])))

static struct sigaction previous[N_SIGNALS];
static int armed = 0;
static int out_fd = 2;
static int exit_status = 1;
static pthread_t guarded;
static char *head = NULL, *tail = NULL;
static size_t head_len = 0, tail_len = 0;

static void write_all(const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(out_fd, p, n);
        if (w <= 0) return;
        p += w;
        n -= (size_t)w;
    }
}

static void on_fatal_signal(int sig) {
    int i = 0;
    while (i < N_SIGNALS - 1 && SIGNALS[i] != sig) i++;
    if (!pthread_equal(pthread_self(), guarded)) {
        /* not PortAudio's start: the previous handler gets it once this one returns */
        sigaction(sig, &previous[i], NULL);
        raise(sig);
        return;
    }
    write_all(head, head_len);
    write_all(NAMES[i], strlen(NAMES[i]));
    write_all(tail, tail_len);
    _exit(exit_status);
}

static void drop_text(void) {
    PyMem_RawFree(head);
    PyMem_RawFree(tail);
    head = tail = NULL;
}

static char *copy(const char *s, Py_ssize_t n) {
    char *c = PyMem_RawMalloc((size_t)n + 1);
    if (c != NULL) memcpy(c, s, (size_t)n + 1);
    return c;
}

static PyObject *arm(PyObject *self, PyObject *args) {
    int fd, status;
    const char *h, *t;
    Py_ssize_t hn, tn;
    if (!PyArg_ParseTuple(args, "iy#y#i:arm", &fd, &h, &hn, &t, &tn, &status)) return NULL;
    if (armed) {
        PyErr_SetString(PyExc_RuntimeError, "the crash guard is already armed");
        return NULL;
    }
    head = copy(h, hn);
    tail = copy(t, tn);
    if (head == NULL || tail == NULL) {
        drop_text();
        return PyErr_NoMemory();
    }
    head_len = (size_t)hn;
    tail_len = (size_t)tn;
    out_fd = fd;
    exit_status = status;
    guarded = pthread_self();
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_handler = on_fatal_signal;
    sigemptyset(&action.sa_mask);
    for (int i = 0; i < N_SIGNALS; i++) {
        if (sigaction(SIGNALS[i], &action, &previous[i]) != 0) {
            for (int j = 0; j < i; j++) sigaction(SIGNALS[j], &previous[j], NULL);
            drop_text();
            return PyErr_SetFromErrno(PyExc_OSError);
        }
    }
    armed = 1;
    Py_RETURN_NONE;
}

static PyObject *disarm(PyObject *self, PyObject *unused) {
    if (armed) {
        for (int i = 0; i < N_SIGNALS; i++) sigaction(SIGNALS[i], &previous[i], NULL);
        armed = 0;
        drop_text();
    }
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"arm", arm, METH_VARARGS,
     "arm(fd, head, tail, status): on a fatal signal in this thread, write head + the signal's name + tail "
     "to fd and _exit(status)."},
    {"disarm", disarm, METH_NOARGS, "disarm(): put back the handlers that arm() replaced."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_crash_guard", NULL, -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__crash_guard(void) { return PyModule_Create(&module); }
