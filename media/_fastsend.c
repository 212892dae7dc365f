/*
 * Haven's compiled send step for one forwarded RTP packet: write the rewritten 12-byte header and
 * the payload into one buffer, SRTP-protect it in place with the subscriber's libsrtp context, and
 * sendto() it on the subscriber's socket. It replaces three Python-level steps (struct pack +
 * concatenation, pylibsrtp's cffi protect with its two copies, the event loop's sendto wrapper)
 * and nothing else: every decision (who gets a packet, offsets, key frames, congestion policy)
 * stays in Python, in media/consumer.py, so both paths behave identically.
 *
 * libsrtp is not linked: the caller passes the address of srtp_protect() from pylibsrtp's own
 * bundled copy and the address of the subscriber's srtp_ctx (see media/adapter.py), so the
 * module builds with nothing but the Python headers and a C compiler.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

/* libsrtp 2: srtp_err_status_t srtp_protect(srtp_t ctx, void *rtp_hdr, int *len_ptr); */
typedef int (*srtp_protect_fn)(void *ctx, void *rtp_hdr, int *len_ptr);

/* Room after the packet for the SRTP auth tag (at most 16 bytes) plus an MKI. */
#define TRAILER_ROOM 32
#define MAX_PACKET 2048

enum { SENT = 0, WOULD_BLOCK = 1, FAILED = 2, TOO_LARGE = 3 };

/*
 * send(protect, ctx, fd, sockaddr, ssrc, b0, b1, seq, ts, tail) -> 0 sent, 1 would block,
 * 2 protect or sendto failed, 3 too large. Never raises for network conditions.
 */
static PyObject *fastsend_send(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    unsigned char buffer[MAX_PACKET + TRAILER_ROOM];

    if (nargs != 10) {
        PyErr_SetString(PyExc_TypeError, "send() takes exactly 10 arguments");
        return NULL;
    }
    if (!PyBytes_Check(args[3]) || !PyBytes_Check(args[9])) {
        PyErr_SetString(PyExc_TypeError, "sockaddr and tail must be bytes");
        return NULL;
    }
    srtp_protect_fn protect = (srtp_protect_fn)PyLong_AsVoidPtr(args[0]);
    void *ctx = PyLong_AsVoidPtr(args[1]);
    long fd = PyLong_AsLong(args[2]);
    unsigned long ssrc = PyLong_AsUnsignedLong(args[4]);
    long b0 = PyLong_AsLong(args[5]);
    long b1 = PyLong_AsLong(args[6]);
    long seq = PyLong_AsLong(args[7]);
    unsigned long ts = PyLong_AsUnsignedLong(args[8]);
    if (PyErr_Occurred())
        return NULL;
    if (protect == NULL || ctx == NULL) {
        PyErr_SetString(PyExc_ValueError, "protect and ctx must be addresses");
        return NULL;
    }

    Py_ssize_t tail_len = PyBytes_GET_SIZE(args[9]);
    if (tail_len + 12 > MAX_PACKET)
        return PyLong_FromLong(TOO_LARGE);

    buffer[0] = (unsigned char)b0;
    buffer[1] = (unsigned char)b1;
    buffer[2] = (unsigned char)(seq >> 8);
    buffer[3] = (unsigned char)seq;
    buffer[4] = (unsigned char)(ts >> 24);
    buffer[5] = (unsigned char)(ts >> 16);
    buffer[6] = (unsigned char)(ts >> 8);
    buffer[7] = (unsigned char)ts;
    buffer[8] = (unsigned char)(ssrc >> 24);
    buffer[9] = (unsigned char)(ssrc >> 16);
    buffer[10] = (unsigned char)(ssrc >> 8);
    buffer[11] = (unsigned char)ssrc;
    memcpy(buffer + 12, PyBytes_AS_STRING(args[9]), (size_t)tail_len);

    int length = (int)(tail_len + 12);
    if (protect(ctx, buffer, &length) != 0)
        return PyLong_FromLong(FAILED);

    const struct sockaddr *address = (const struct sockaddr *)PyBytes_AS_STRING(args[3]);
    socklen_t address_len = (socklen_t)PyBytes_GET_SIZE(args[3]);
    /* The GIL is kept: a non-blocking UDP sendto is shorter than releasing and taking it back. */
    ssize_t sent = sendto((int)fd, buffer, (size_t)length, MSG_DONTWAIT, address, address_len);
    if (sent < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)
            return PyLong_FromLong(WOULD_BLOCK);
        return PyLong_FromLong(FAILED);
    }
    return PyLong_FromLong(SENT);
}

/* sockaddr(host, port) -> bytes of a struct sockaddr_in or sockaddr_in6 for send(). */
static PyObject *fastsend_sockaddr(PyObject *module, PyObject *args)
{
    const char *host;
    int port;
    if (!PyArg_ParseTuple(args, "si", &host, &port))
        return NULL;
    if (port < 0 || port > 65535) {
        PyErr_SetString(PyExc_ValueError, "port out of range");
        return NULL;
    }
    struct sockaddr_in v4;
    memset(&v4, 0, sizeof v4);
    if (inet_pton(AF_INET, host, &v4.sin_addr) == 1) {
        v4.sin_family = AF_INET;
        v4.sin_port = htons((unsigned short)port);
        return PyBytes_FromStringAndSize((const char *)&v4, sizeof v4);
    }
    struct sockaddr_in6 v6;
    memset(&v6, 0, sizeof v6);
    if (inet_pton(AF_INET6, host, &v6.sin6_addr) == 1) {
        v6.sin6_family = AF_INET6;
        v6.sin6_port = htons((unsigned short)port);
        return PyBytes_FromStringAndSize((const char *)&v6, sizeof v6);
    }
    PyErr_Format(PyExc_ValueError, "not an IP address: %s", host);
    return NULL;
}

static PyMethodDef fastsend_methods[] = {
    {"send", (PyCFunction)(void (*)(void))fastsend_send, METH_FASTCALL,
     "send(protect, ctx, fd, sockaddr, ssrc, b0, b1, seq, ts, tail) -> 0 sent, 1 would block, 2 failed, 3 too large"},
    {"sockaddr", fastsend_sockaddr, METH_VARARGS, "sockaddr(host, port) -> bytes for send()"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef fastsend_module = {
    PyModuleDef_HEAD_INIT, "media._fastsend", "Compiled SRTP protect + sendto for forwarded packets.", -1,
    fastsend_methods,
};

PyMODINIT_FUNC PyInit__fastsend(void)
{
    PyObject *module = PyModule_Create(&fastsend_module);
    if (module == NULL)
        return NULL;
    if (PyModule_AddIntConstant(module, "SENT", SENT) < 0 ||
        PyModule_AddIntConstant(module, "WOULD_BLOCK", WOULD_BLOCK) < 0 ||
        PyModule_AddIntConstant(module, "FAILED", FAILED) < 0 ||
        PyModule_AddIntConstant(module, "TOO_LARGE", TOO_LARGE) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
