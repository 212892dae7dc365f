/*
 * Haven's compiled send step for forwarded RTP packets: write the rewritten 12-byte header and the
 * payload into one buffer, SRTP-protect it in place with the subscriber's libsrtp context, and send
 * it on the subscriber's socket. It replaces three Python-level steps (struct pack + concatenation,
 * pylibsrtp's cffi protect with its two copies, the event loop's sendto wrapper) and nothing else:
 * every decision (who gets a packet, offsets, key frames, congestion policy) stays in Python, in
 * media/consumer.py, so both paths behave identically.
 *
 * A Sender (one per subscribe slot) queues the protected packet in a module-wide batch, and flush()
 * hands the whole batch to the kernel with one sendmmsg() per run of packets on the same socket: with
 * the shared UDP port (ice.udp_port) an incoming packet's N-1 copies leave in one system call, which
 * is most of what a copy cost (the kernel's own delivery stays per datagram). UDP GSO does not apply: its segments
 * share one destination, and each copy goes to a different subscriber. The producer flushes after
 * its fan-out loop, so nothing waits in the batch across event-loop wake-ups.
 *
 * fan_out() is the per-copy loop of a producer's packet over the Senders of its steady consumers: each
 * Sender holds the numbering of the consumer its slot carries (epoch start, sequence and timestamp
 * offsets, payload type, VP8 counter shifts), which media/producer.py writes whenever that consumer's
 * epoch changes, so a copy costs no Python call. Consumers in any other state (waiting for a key
 * frame, on the pure-Python path) stay in the Python loop, which decides the same way.
 *
 * An Unprotector (one per connection's receive session) is the other direction: SRTP/SRTCP unprotect
 * with one copy, on pylibsrtp's own libsrtp context, in place of pylibsrtp's Python wrapper; a
 * Translator (one per producer) rewrites the header extensions once per incoming packet.
 *
 * libsrtp is not linked: the caller passes the address of srtp_protect() from pylibsrtp's own
 * bundled copy and the address of the subscriber's srtp_ctx (see media/adapter.py), so the
 * module builds with nothing but the Python headers and a C compiler.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

/* sendmmsg() needs _GNU_SOURCE, which pyconfig.h (through Python.h) defines. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

/* libsrtp 2: srtp_err_status_t srtp_protect(srtp_t ctx, void *rtp_hdr, int *len_ptr); */
typedef int (*srtp_protect_fn)(void *ctx, void *rtp_hdr, int *len_ptr);

/* Room after the packet for the SRTP auth tag (at most 16 bytes) plus an MKI. */
#define TRAILER_ROOM 32
#define MAX_PACKET 2048

enum { SENT = 0, WOULD_BLOCK = 1, FAILED = 2, TOO_LARGE = 3 };

/* -- the batch ---------------------------------------------------------------------------------- */

#define BATCH 64 /* a room of 15 fans a packet out 14 times; a full batch is flushed on the spot */

typedef struct {
    PyObject_HEAD
    srtp_protect_fn protect;
    void *ctx;
    int fd;
    struct sockaddr_storage address;
    socklen_t address_len;
    unsigned long ssrc;
    PyObject *path;  /* keeps the SRTP session (and so the libsrtp context at ctx) alive */
    PyObject *owner; /* handed back with a failed send, so Python knows whose it was */
    /* What left through this Sender (queued and not refused at the flush): fixed headers excluded. */
    unsigned long long packets, octets;
    /* fan_out()'s numbering: the consumer's epoch start (extended source number), offsets and type. */
    long long base;
    unsigned long seq_off, ts_off;
    int pt;
    /* ... and, for a simulcast consumer after a layer switch, its VP8 picture id and TL0PICIDX shifts. */
    unsigned long picture_off, tl0_off;
} Sender;

static unsigned char batch_buffers[BATCH][MAX_PACKET + TRAILER_ROOM];
static struct mmsghdr batch_messages[BATCH];
static struct iovec batch_iov[BATCH];
static Sender *batch_senders[BATCH]; /* strong references while queued */
static Py_ssize_t batch_tails[BATCH]; /* the payload length of each, for the caller's octet count */
static int batch_count;
static PyObject *failures; /* list of (owner, status, tail length), collected by failures() */
static unsigned long long batch_calls, batch_packets; /* sendmmsg calls and packets they carried */

static int record_failure(Sender *sender, int status, Py_ssize_t length)
{
    PyObject *item = Py_BuildValue("(Oin)", sender->owner, status, length);
    if (item == NULL)
        return -1;
    int result = PyList_Append(failures, item);
    Py_DECREF(item);
    return result;
}

/* Send everything queued; a packet the kernel refused is recorded, the rest still go. */
static int flush_batch(void)
{
    int start = 0, error = 0;
    while (start < batch_count) {
        int fd = batch_senders[start]->fd;
        int end = start + 1;
        while (end < batch_count && batch_senders[end]->fd == fd)
            end++;
        while (start < end) {
            int sent = sendmmsg(fd, batch_messages + start, (unsigned int)(end - start), MSG_DONTWAIT);
            batch_calls++;
            if (sent > 0) {
                batch_packets += (unsigned long long)sent;
                start += sent;
                continue;
            }
            /* The first packet of the run failed: record it and go on with the next one. */
            int status = (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) ? WOULD_BLOCK : FAILED;
            Sender *refused = batch_senders[start];
            refused->packets--;
            refused->octets -= (unsigned long long)batch_tails[start];
            if (record_failure(refused, status, batch_tails[start]) < 0)
                error = -1;
            start++;
        }
    }
    for (int i = 0; i < batch_count; i++)
        Py_DECREF(batch_senders[i]);
    batch_count = 0;
    return error;
}

static PyObject *Sender_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    PyObject *protect_obj, *ctx_obj, *address, *path, *owner;
    int fd;
    unsigned long ssrc;
    if (!PyArg_ParseTuple(args, "OOiSkOO", &protect_obj, &ctx_obj, &fd, &address, &ssrc, &path, &owner))
        return NULL;
    void *protect = PyLong_AsVoidPtr(protect_obj);
    void *ctx = PyLong_AsVoidPtr(ctx_obj);
    if (PyErr_Occurred())
        return NULL;
    if (protect == NULL || ctx == NULL) {
        PyErr_SetString(PyExc_ValueError, "protect and ctx must be addresses");
        return NULL;
    }
    Py_ssize_t address_len = PyBytes_GET_SIZE(address);
    if (address_len <= 0 || (size_t)address_len > sizeof(struct sockaddr_storage)) {
        PyErr_SetString(PyExc_ValueError, "not a socket address");
        return NULL;
    }
    Sender *self = PyObject_GC_New(Sender, type);
    if (self == NULL)
        return NULL;
    self->protect = (srtp_protect_fn)protect;
    self->ctx = ctx;
    self->fd = fd;
    memset(&self->address, 0, sizeof self->address);
    memcpy(&self->address, PyBytes_AS_STRING(address), (size_t)address_len);
    self->address_len = (socklen_t)address_len;
    self->ssrc = ssrc & 0xFFFFFFFFUL;
    Py_INCREF(path);
    self->path = path;
    Py_INCREF(owner);
    self->owner = owner;
    self->packets = self->octets = 0;
    self->base = 0;
    self->seq_off = self->ts_off = 0;
    self->pt = 0;
    self->picture_off = self->tl0_off = 0;
    PyObject_GC_Track(self);
    return (PyObject *)self;
}

static int Sender_traverse(Sender *self, visitproc visit, void *arg)
{
    Py_VISIT(self->path);
    Py_VISIT(self->owner);
    return 0;
}

static int Sender_clear(Sender *self)
{
    Py_CLEAR(self->path);
    Py_CLEAR(self->owner);
    return 0;
}

static void Sender_dealloc(Sender *self)
{
    PyObject_GC_UnTrack(self);
    Sender_clear(self);
    PyObject_GC_Del(self);
}

/*
 * Shift the 15-bit picture id and the TL0PICIDX of the VP8 payload descriptor in ``tail`` (a translated
 * packet's bytes after the fixed header, whose first byte was ``b0``) in place: media/vp8.py ``rewrite``,
 * which is the reference (tests/fuzz/test_vp8.py holds the two to the same bytes). What is too short or
 * carries no such field is left as it is.
 */
static void vp8_shift(unsigned char *tail, Py_ssize_t len, unsigned long b0, unsigned long picture_off,
                      unsigned long tl0_off)
{
    Py_ssize_t off = 4 * (Py_ssize_t)(b0 & 0x0F);
    if (b0 & 0x10) {
        if (off + 4 > len)
            return;
        off += 4 + 4 * (((Py_ssize_t)tail[off + 2] << 8) | tail[off + 3]);
    }
    if (off >= len || !(tail[off] & 0x80) || off + 1 >= len)
        return;
    unsigned char x = tail[off + 1];
    Py_ssize_t i = off + 2;
    if (x & 0x80) {
        if (i >= len)
            return;
        if (tail[i] & 0x80) {
            if (i + 1 >= len)
                return;
            unsigned long picture = ((((unsigned long)(tail[i] & 0x7F) << 8) | tail[i + 1]) + picture_off) & 0x7FFF;
            tail[i] = (unsigned char)(0x80 | (picture >> 8));
            tail[i + 1] = (unsigned char)picture;
            i += 2;
        } else {
            i += 1;
        }
    }
    if ((x & 0x40) && i < len)
        tail[i] = (unsigned char)((tail[i] + tl0_off) & 0xFF);
}

/*
 * Queue one packet: write the header and the tail into the batch, protect it in place, count it.
 * Returns SENT, FAILED (protect refused) or TOO_LARGE; -1 with an exception if a full batch's flush
 * could not record a failure. The packet leaves at the next flush(), or now if the batch is full.
 */
static int queue_packet(Sender *self, unsigned long b0, unsigned long b1, unsigned long seq, unsigned long ts,
                        const char *tail, Py_ssize_t tail_len, int shift)
{
    if (tail_len + 12 > MAX_PACKET)
        return TOO_LARGE;
    if (batch_count == BATCH && flush_batch() < 0)
        return -1;

    unsigned char *buffer = batch_buffers[batch_count];
    unsigned long ssrc = self->ssrc;
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
    memcpy(buffer + 12, tail, (size_t)tail_len);
    if (shift && (self->picture_off || self->tl0_off))
        vp8_shift(buffer + 12, tail_len, b0, self->picture_off, self->tl0_off);
    int length = (int)(tail_len + 12);
    if (self->protect(self->ctx, buffer, &length) != 0)
        return FAILED;

    struct iovec *iov = &batch_iov[batch_count];
    iov->iov_base = buffer;
    iov->iov_len = (size_t)length;
    struct msghdr *header = &batch_messages[batch_count].msg_hdr;
    header->msg_name = &self->address;
    header->msg_namelen = self->address_len;
    header->msg_iov = iov;
    header->msg_iovlen = 1;
    header->msg_control = NULL;
    header->msg_controllen = 0;
    header->msg_flags = 0;
    Py_INCREF(self);
    batch_tails[batch_count] = tail_len;
    batch_senders[batch_count++] = self;
    self->packets++;
    self->octets += (unsigned long long)tail_len;
    return SENT;
}

/* emit(b0, b1, seq, ts, tail) -> 0 queued, 2 protect failed, 3 too large. The tail goes as it is. */
static PyObject *Sender_emit(Sender *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "emit() takes exactly 5 arguments");
        return NULL;
    }
    if (!PyBytes_Check(args[4])) {
        PyErr_SetString(PyExc_TypeError, "tail must be bytes");
        return NULL;
    }
    long b0 = PyLong_AsLong(args[0]);
    long b1 = PyLong_AsLong(args[1]);
    long seq = PyLong_AsLong(args[2]);
    unsigned long ts = PyLong_AsUnsignedLong(args[3]);
    if (PyErr_Occurred())
        return NULL;
    int status = queue_packet(self, (unsigned long)b0, (unsigned long)b1, (unsigned long)seq, ts,
                              PyBytes_AS_STRING(args[4]), PyBytes_GET_SIZE(args[4]), 0);
    return status < 0 ? NULL : PyLong_FromLong(status);
}

static PyMethodDef Sender_methods[] = {
    {"emit", (PyCFunction)(void (*)(void))Sender_emit, METH_FASTCALL,
     "emit(b0, b1, seq, ts, tail) -> 0 queued, 2 protect failed, 3 too large"},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef Sender_members[] = {
    {"packets", T_ULONGLONG, offsetof(Sender, packets), READONLY, "packets sent (queued, not refused)"},
    {"octets", T_ULONGLONG, offsetof(Sender, octets), READONLY, "of those packets, bytes after the fixed header"},
    {"base", T_LONGLONG, offsetof(Sender, base), 0, "fan_out: extended source number the epoch opened at"},
    {"seq_off", T_ULONG, offsetof(Sender, seq_off), 0, "fan_out: sequence number offset"},
    {"ts_off", T_ULONG, offsetof(Sender, ts_off), 0, "fan_out: timestamp offset"},
    {"pt", T_INT, offsetof(Sender, pt), 0, "fan_out: the slot's payload type"},
    {"picture_off", T_ULONG, offsetof(Sender, picture_off), 0, "fan_out: VP8 picture id shift (15 bits)"},
    {"tl0_off", T_ULONG, offsetof(Sender, tl0_off), 0, "fan_out: VP8 TL0PICIDX shift"},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject SenderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "media._fastsend.Sender",
    .tp_basicsize = sizeof(Sender),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Sender(protect, ctx, fd, sockaddr, ssrc, path, owner): one subscribe slot's batched send step",
    .tp_new = Sender_new,
    .tp_dealloc = (destructor)Sender_dealloc,
    .tp_traverse = (traverseproc)Sender_traverse,
    .tp_clear = (inquiry)Sender_clear,
    .tp_methods = Sender_methods,
    .tp_members = Sender_members,
};

/*
 * fan_out(senders, b0, marker, seq, ts, tail, ext) -> how many copies were late (ext older than the
 * Sender's epoch; not sent). For each Sender of the tuple: the Python ``Consumer.send`` of a steady
 * consumer, in C: payload type, sequence number and timestamp rewritten with the Sender's numbering,
 * the VP8 counters shifted where the Sender says so (``ShiftedConsumer.send``), then queued like
 * emit(). A copy that cannot be queued (protect failed, too large) is recorded as a failed send, which
 * the next flush() reports.
 */
static PyObject *fastsend_fan_out(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 7) {
        PyErr_SetString(PyExc_TypeError, "fan_out() takes exactly 7 arguments");
        return NULL;
    }
    PyObject *senders = args[0];
    if (!PyTuple_Check(senders) || !PyBytes_Check(args[5])) {
        PyErr_SetString(PyExc_TypeError, "fan_out(tuple of Sender, int, int, int, int, bytes, int)");
        return NULL;
    }
    long b0 = PyLong_AsLong(args[1]);
    long marker = PyLong_AsLong(args[2]);
    long seq = PyLong_AsLong(args[3]);
    unsigned long ts = PyLong_AsUnsignedLong(args[4]);
    long long ext = PyLong_AsLongLong(args[6]);
    if (PyErr_Occurred())
        return NULL;
    const char *tail = PyBytes_AS_STRING(args[5]);
    Py_ssize_t tail_len = PyBytes_GET_SIZE(args[5]);
    Py_ssize_t count = PyTuple_GET_SIZE(senders);
    long late = 0;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *item = PyTuple_GET_ITEM(senders, i);
        if (!Py_IS_TYPE(item, &SenderType)) {
            PyErr_SetString(PyExc_TypeError, "fan_out() takes Senders");
            return NULL;
        }
        Sender *sender = (Sender *)item;
        if (ext < sender->base) {
            late++;
            continue;
        }
        int status = queue_packet(sender, (unsigned long)b0, (unsigned long)(marker | sender->pt),
                                  ((unsigned long)seq + sender->seq_off) & 0xFFFFUL,
                                  (ts + sender->ts_off) & 0xFFFFFFFFUL, tail, tail_len, 1);
        if (status < 0 || (status != SENT && record_failure(sender, FAILED, tail_len) < 0))
            return NULL;
    }
    return PyLong_FromLong(late);
}

/* -- the receive step ------------------------------------------------------------------------ */

/* libsrtp 2: srtp_unprotect(ctx, hdr, &len) and srtp_unprotect_rtcp(ctx, hdr, &len), same shape. */
typedef int (*srtp_unprotect_fn)(void *ctx, void *hdr, int *len_ptr);

typedef struct {
    PyObject_HEAD
    srtp_unprotect_fn unprotect;
    srtp_unprotect_fn unprotect_rtcp;
    void *ctx;
    PyObject *session; /* keeps the libsrtp context alive */
} Unprotector;

static PyObject *Unprotector_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    PyObject *rtp_obj, *rtcp_obj, *ctx_obj, *session;
    if (!PyArg_ParseTuple(args, "OOOO", &rtp_obj, &rtcp_obj, &ctx_obj, &session))
        return NULL;
    void *rtp = PyLong_AsVoidPtr(rtp_obj);
    void *rtcp = PyLong_AsVoidPtr(rtcp_obj);
    void *ctx = PyLong_AsVoidPtr(ctx_obj);
    if (PyErr_Occurred())
        return NULL;
    if (rtp == NULL || rtcp == NULL || ctx == NULL) {
        PyErr_SetString(PyExc_ValueError, "unprotect, unprotect_rtcp and ctx must be addresses");
        return NULL;
    }
    Unprotector *self = (Unprotector *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->unprotect = (srtp_unprotect_fn)rtp;
    self->unprotect_rtcp = (srtp_unprotect_fn)rtcp;
    self->ctx = ctx;
    Py_INCREF(session);
    self->session = session;
    return (PyObject *)self;
}

static void Unprotector_dealloc(Unprotector *self)
{
    Py_CLEAR(self->session);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/*
 * One copy: the datagram goes into a new bytes object, libsrtp decrypts and authenticates it in place,
 * and the object is cut to the plaintext's length. None when libsrtp refuses it (authentication,
 * replay, unknown stream): the caller counts the drop. pylibsrtp's Session does the same with two
 * copies, a buffer slice and several Python-level calls per packet.
 */
static PyObject *unprotect_with(srtp_unprotect_fn fn, void *ctx, PyObject *data)
{
    if (!PyBytes_Check(data)) {
        PyErr_SetString(PyExc_TypeError, "data must be bytes");
        return NULL;
    }
    Py_ssize_t n = PyBytes_GET_SIZE(data);
    if (n > MAX_PACKET)
        Py_RETURN_NONE;
    PyObject *packet = PyBytes_FromStringAndSize(PyBytes_AS_STRING(data), n);
    if (packet == NULL)
        return NULL;
    int length = (int)n;
    if (fn(ctx, PyBytes_AS_STRING(packet), &length) != 0 || length < 0 || length > n) {
        Py_DECREF(packet);
        Py_RETURN_NONE;
    }
    if (length != n && _PyBytes_Resize(&packet, length) < 0)
        return NULL;
    return packet;
}

static PyObject *Unprotector_rtp(Unprotector *self, PyObject *data)
{
    return unprotect_with(self->unprotect, self->ctx, data);
}

static PyObject *Unprotector_rtcp(Unprotector *self, PyObject *data)
{
    return unprotect_with(self->unprotect_rtcp, self->ctx, data);
}

static PyMethodDef Unprotector_methods[] = {
    {"rtp", (PyCFunction)Unprotector_rtp, METH_O, "rtp(datagram) -> plaintext RTP, or None if refused"},
    {"rtcp", (PyCFunction)Unprotector_rtcp, METH_O, "rtcp(datagram) -> plaintext RTCP, or None if refused"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject UnprotectorType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "media._fastsend.Unprotector",
    .tp_basicsize = sizeof(Unprotector),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Unprotector(srtp_unprotect, srtp_unprotect_rtcp, ctx, session): one connection's SRTP receive step",
    .tp_new = Unprotector_new,
    .tp_dealloc = (destructor)Unprotector_dealloc,
    .tp_methods = Unprotector_methods,
};

/* -- header extensions ---------------------------------------------------------------------- */

/*
 * The compiled form of media/rtp.py ExtensionTranslator.translate (the reference, which the tests
 * hold this to byte for byte): the publisher's one-byte header extensions (RFC 8285 4.2) rewritten
 * into the ids every subscriber negotiated, CSRCs dropped. table[publisher id] is the subscriber id,
 * 0 to drop the element. Any other extension profile goes to ``general(p, end)`` in Python.
 *
 * A kept 3-byte element of the publisher's abs-send-time id gets this hop's send time instead of the
 * publisher's: CLOCK_MONOTONIC (what Python's time.monotonic_ns reads) as 6.18 fixed-point seconds,
 * 24 bits. The copies leave in the same event-loop turn, so that is the send time of every copy.
 * ``clock``, when given (tests only), is called for the time in ns instead.
 */
typedef struct {
    PyObject_HEAD
    unsigned char table[16];
    int level_id; /* the publisher's audio-level id, -1 if none */
    int abs_id;   /* the publisher's abs-send-time id, -1 if none */
    PyObject *general;
    PyObject *clock; /* NULL: CLOCK_MONOTONIC */
} Translator;

static PyObject *refused_translation;  /* (-1, b"", -1), shared */

static PyObject *Translator_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    Py_buffer table;
    int level_id, abs_id;
    PyObject *general, *clock = Py_None;
    if (!PyArg_ParseTuple(args, "y*iiO|O", &table, &level_id, &abs_id, &general, &clock))
        return NULL;
    if (table.len != 16) {
        PyBuffer_Release(&table);
        PyErr_SetString(PyExc_ValueError, "the id table has 16 entries");
        return NULL;
    }
    Translator *self = PyObject_GC_New(Translator, type);
    if (self == NULL) {
        PyBuffer_Release(&table);
        return NULL;
    }
    memcpy(self->table, table.buf, 16);
    PyBuffer_Release(&table);
    self->level_id = level_id;
    self->abs_id = abs_id;
    Py_INCREF(general);
    self->general = general;
    self->clock = clock == Py_None ? NULL : Py_NewRef(clock);
    PyObject_GC_Track(self);
    return (PyObject *)self;
}

static int Translator_traverse(Translator *self, visitproc visit, void *arg)
{
    Py_VISIT(self->general);
    Py_VISIT(self->clock);
    return 0;
}

static int Translator_clear(Translator *self)
{
    Py_CLEAR(self->general);
    Py_CLEAR(self->clock);
    return 0;
}

static void Translator_dealloc(Translator *self)
{
    PyObject_GC_UnTrack(self);
    Translator_clear(self);
    PyObject_GC_Del(self);
}

static PyObject *translation(long first, const unsigned char *tail, Py_ssize_t length, long level)
{
    PyObject *bytes = PyBytes_FromStringAndSize((const char *)tail, length);
    if (bytes == NULL)
        return NULL;
    PyObject *result = PyTuple_New(3);
    if (result == NULL) {
        Py_DECREF(bytes);
        return NULL;
    }
    PyTuple_SET_ITEM(result, 0, PyLong_FromLong(first));
    PyTuple_SET_ITEM(result, 1, bytes);
    PyTuple_SET_ITEM(result, 2, PyLong_FromLong(level));
    if (PyTuple_GET_ITEM(result, 0) == NULL || PyTuple_GET_ITEM(result, 2) == NULL) {
        Py_DECREF(result);
        return NULL;
    }
    return result;
}

/* Write this hop's abs-send-time, floor(ns * 2^18 / 1e9) mod 2^24, big-endian into out[0..2]. */
static int write_send_time(Translator *self, unsigned char *out)
{
    unsigned long long sec, nsec;
    if (self->clock == NULL) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        sec = (unsigned long long)now.tv_sec;
        nsec = (unsigned long long)now.tv_nsec;
    } else {
        PyObject *value = PyObject_CallNoArgs(self->clock);
        if (value == NULL)
            return -1;
        unsigned long long ns = PyLong_AsUnsignedLongLong(value);
        Py_DECREF(value);
        if (ns == (unsigned long long)-1 && PyErr_Occurred())
            return -1;
        sec = ns / 1000000000ULL;
        nsec = ns % 1000000000ULL;
    }
    /* Split so that nothing overflows: sec * 2^18 wraps only in bits the mask drops. */
    unsigned long stamp = (unsigned long)(((sec << 18) + (nsec << 18) / 1000000000ULL) & 0xFFFFFF);
    out[0] = (unsigned char)(stamp >> 16);
    out[1] = (unsigned char)(stamp >> 8);
    out[2] = (unsigned char)stamp;
    return 0;
}

/* translate(p) -> (first byte, tail, audio level); first byte -1 for a packet that must not be forwarded. */
static PyObject *Translator_translate(Translator *self, PyObject *arg)
{
    if (!PyBytes_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "the packet must be bytes");
        return NULL;
    }
    const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(arg);
    Py_ssize_t n = PyBytes_GET_SIZE(arg);
    if (n < 12)
        return Py_NewRef(refused_translation);
    long b0 = p[0];
    if (!(b0 & 0x1F))
        return translation(b0, p + 12, n - 12, -1);
    Py_ssize_t off = 12 + 4 * (b0 & 0x0F);
    if (!(b0 & 0x10))
        return off <= n ? translation(b0 & 0xE0, p + off, n - off, -1) : Py_NewRef(refused_translation);
    if (off + 4 > n)
        return Py_NewRef(refused_translation);
    Py_ssize_t end = off + 4 + 4 * (((Py_ssize_t)p[off + 2] << 8) | p[off + 3]);
    if (end > n)
        return Py_NewRef(refused_translation);
    /* The kept elements fit in the block they come from (an element never grows); a block longer than
     * any that fits in a datagram goes the general way too. */
    unsigned char body[4 + 4096];
    if (((p[off] << 8) | p[off + 1]) != 0xBEDE || end - off - 4 > 4096)
        return PyObject_CallFunction(self->general, "On", arg, end);

    Py_ssize_t kept = 0;
    long level = -1;
    Py_ssize_t i = off + 4;
    while (i < end) {
        unsigned char b = p[i];
        if (b == 0) {
            i++;
            continue;
        }
        int xid = b >> 4;
        if (xid == 15)
            break;
        Py_ssize_t j = i + 2 + (b & 0x0F);
        if (j > end)
            break;
        if (xid == self->level_id)
            level = p[i + 1] & 0x7F;
        unsigned char new_id = self->table[xid];
        if (new_id) {
            body[4 + kept] = (unsigned char)((new_id << 4) | (b & 0x0F));
            if (xid == self->abs_id && j - i == 4) {
                if (write_send_time(self, body + 4 + kept + 1) < 0)
                    return NULL;
            } else {
                memcpy(body + 4 + kept + 1, p + i + 1, (size_t)(j - i - 1));
            }
            kept += j - i;
        }
        i = j;
    }
    if (!kept)
        return translation(b0 & 0xE0, p + end, n - end, level);
    Py_ssize_t pad = (4 - kept % 4) % 4;
    Py_ssize_t words = (kept + pad) >> 2;
    Py_ssize_t length = 4 + kept + pad + (n - end);
    PyObject *tail = PyBytes_FromStringAndSize(NULL, length);
    if (tail == NULL)
        return NULL;
    unsigned char *out = (unsigned char *)PyBytes_AS_STRING(tail);
    body[0] = 0xBE;
    body[1] = 0xDE;
    body[2] = (unsigned char)(words >> 8);
    body[3] = (unsigned char)words;
    memcpy(out, body, (size_t)(4 + kept));
    memset(out + 4 + kept, 0, (size_t)pad);
    memcpy(out + 4 + kept + pad, p + end, (size_t)(n - end));
    PyObject *result = PyTuple_New(3);
    PyObject *first = PyLong_FromLong((b0 & 0xE0) | 0x10);
    PyObject *level_obj = PyLong_FromLong(level);
    if (result == NULL || first == NULL || level_obj == NULL) {
        Py_XDECREF(result);
        Py_XDECREF(first);
        Py_XDECREF(level_obj);
        Py_DECREF(tail);
        return NULL;
    }
    PyTuple_SET_ITEM(result, 0, first);
    PyTuple_SET_ITEM(result, 1, tail);
    PyTuple_SET_ITEM(result, 2, level_obj);
    return result;
}

static PyMethodDef Translator_methods[] = {
    {"translate", (PyCFunction)Translator_translate, METH_O, "translate(p) -> (first byte, tail, audio level)"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject TranslatorType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "media._fastsend.Translator",
    .tp_basicsize = sizeof(Translator),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Translator(id table, audio-level id, general): a producer's header-extension rewrite",
    .tp_new = Translator_new,
    .tp_dealloc = (destructor)Translator_dealloc,
    .tp_traverse = (traverseproc)Translator_traverse,
    .tp_clear = (inquiry)Translator_clear,
    .tp_methods = Translator_methods,
};

/* -- the receive batch ------------------------------------------------------------------------ */

#define RECV_BATCH 32

static unsigned char recv_buffers[RECV_BATCH][MAX_PACKET];
static struct mmsghdr recv_messages[RECV_BATCH];
static struct iovec recv_iov[RECV_BATCH];
static struct sockaddr_storage recv_addresses[RECV_BATCH];

/* The address as CPython's socket module (and so asyncio and aioice) spells it. */
static PyObject *new_address_tuple(const struct sockaddr_storage *address)
{
    char host[INET6_ADDRSTRLEN];
    if (address->ss_family == AF_INET) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)address;
        if (inet_ntop(AF_INET, &v4->sin_addr, host, sizeof host) == NULL)
            Py_RETURN_NONE;
        return Py_BuildValue("(si)", host, ntohs(v4->sin_port));
    }
    if (address->ss_family == AF_INET6) {
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)address;
        if (inet_ntop(AF_INET6, &v6->sin6_addr, host, sizeof host) == NULL)
            Py_RETURN_NONE;
        return Py_BuildValue("(siII)", host, ntohs(v6->sin6_port), ntohl(v6->sin6_flowinfo), v6->sin6_scope_id);
    }
    Py_RETURN_NONE;
}

/*
 * The same peer sends every packet of its connection from one address, so the tuples are kept in a
 * small direct-mapped cache: a datagram from a known peer reuses the tuple (and its string, whose hash
 * the mux's address lookup then finds already computed) instead of formatting a new one.
 */
#define ADDRESS_CACHE 256

static struct {
    struct sockaddr_storage address;
    socklen_t length;
    PyObject *tuple;
} address_cache[ADDRESS_CACHE];

static PyObject *address_tuple(const struct sockaddr_storage *address, socklen_t length)
{
    if (length > sizeof(struct sockaddr_storage))
        length = sizeof(struct sockaddr_storage);
    const unsigned char *bytes = (const unsigned char *)address;
    unsigned int hash = 2166136261u; /* FNV-1a over the bytes that name the peer */
    for (socklen_t i = 0; i < length; i++)
        hash = (hash ^ bytes[i]) * 16777619u;
    unsigned int index = hash % ADDRESS_CACHE;
    if (address_cache[index].tuple != NULL && address_cache[index].length == length &&
        memcmp(&address_cache[index].address, address, length) == 0)
        return Py_NewRef(address_cache[index].tuple);
    PyObject *tuple = new_address_tuple(address);
    if (tuple == NULL || tuple == Py_None)
        return tuple;
    Py_XSETREF(address_cache[index].tuple, Py_NewRef(tuple));
    memcpy(&address_cache[index].address, address, length);
    address_cache[index].length = length;
    return tuple;
}

/*
 * recv_batch(fd) -> [(datagram, address)], at most 32, from one recvmmsg(MSG_DONTWAIT); [] when nothing
 * waits. A datagram longer than MAX_PACKET arrives cut (MSG_TRUNC); it is returned MAX_PACKET long,
 * longer than the receive guard takes, so it is dropped as oversize. Raises OSError for a socket
 * error other than "nothing to read".
 */
static PyObject *fastsend_recv_batch(PyObject *module, PyObject *arg)
{
    long fd = PyLong_AsLong(arg);
    if (fd == -1 && PyErr_Occurred())
        return NULL;
    for (int i = 0; i < RECV_BATCH; i++) {
        recv_iov[i].iov_base = recv_buffers[i];
        recv_iov[i].iov_len = MAX_PACKET;
        struct msghdr *header = &recv_messages[i].msg_hdr;
        header->msg_name = &recv_addresses[i];
        header->msg_namelen = sizeof recv_addresses[i];
        header->msg_iov = &recv_iov[i];
        header->msg_iovlen = 1;
        header->msg_control = NULL;
        header->msg_controllen = 0;
        header->msg_flags = 0;
    }
    int count = recvmmsg((int)fd, recv_messages, RECV_BATCH, MSG_DONTWAIT, NULL);
    if (count < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return PyList_New(0);
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    PyObject *result = PyList_New(count);
    if (result == NULL)
        return NULL;
    for (int i = 0; i < count; i++) {
        Py_ssize_t length = (Py_ssize_t)recv_messages[i].msg_len;
        if (recv_messages[i].msg_hdr.msg_flags & MSG_TRUNC)
            length = MAX_PACKET; /* cut: longer than libsrtp or the mux take, so it is dropped as such */
        PyObject *item = Py_BuildValue("(y#N)", recv_buffers[i], length,
                                       address_tuple(&recv_addresses[i], recv_messages[i].msg_hdr.msg_namelen));
        if (item == NULL) {
            Py_DECREF(result);
            return NULL;
        }
        PyList_SET_ITEM(result, i, item);
    }
    return result;
}

/* flush() -> failures recorded and not yet collected (0 almost always). */
static PyObject *fastsend_flush(PyObject *module, PyObject *unused)
{
    if (batch_count && flush_batch() < 0)
        return NULL;
    return PyLong_FromSsize_t(PyList_GET_SIZE(failures));
}

/* failures() -> [(owner, status, tail length)] of the sends the kernel refused since the last call. */
static PyObject *fastsend_failures(PyObject *module, PyObject *unused)
{
    PyObject *collected = failures;
    failures = PyList_New(0);
    if (failures == NULL) {
        failures = collected;
        return NULL;
    }
    return collected;
}

/* counters() -> (sendmmsg calls, packets they carried) since the process started. */
static PyObject *fastsend_counters(PyObject *module, PyObject *unused)
{
    return Py_BuildValue("(KK)", batch_calls, batch_packets);
}

/* sockaddr(host, port) -> bytes of a struct sockaddr_in or sockaddr_in6 for Sender(). */
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
    {"sockaddr", fastsend_sockaddr, METH_VARARGS, "sockaddr(host, port) -> bytes for Sender()"},
    {"flush", fastsend_flush, METH_NOARGS, "flush() -> failures not yet collected: send the queued packets"},
    {"failures", fastsend_failures, METH_NOARGS, "failures() -> [(owner, status, tail length)] since the last call"},
    {"fan_out", (PyCFunction)(void (*)(void))fastsend_fan_out, METH_FASTCALL,
     "fan_out(senders, b0, marker, seq, ts, tail, ext) -> copies too late for their epoch"},
    {"recv_batch", fastsend_recv_batch, METH_O, "recv_batch(fd) -> [(datagram, address)] from one recvmmsg"},
    {"counters", fastsend_counters, METH_NOARGS, "counters() -> (sendmmsg calls, packets sent by them)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef fastsend_module = {
    PyModuleDef_HEAD_INIT, "media._fastsend", "Compiled SRTP protect + batched sendmmsg for forwarded packets.", -1,
    fastsend_methods,
};

PyMODINIT_FUNC PyInit__fastsend(void)
{
    if (PyType_Ready(&SenderType) < 0 || PyType_Ready(&UnprotectorType) < 0 || PyType_Ready(&TranslatorType) < 0)
        return NULL;
    if (refused_translation == NULL && (refused_translation = Py_BuildValue("(iyi)", -1, "", -1)) == NULL)
        return NULL;
    if (failures == NULL && (failures = PyList_New(0)) == NULL)
        return NULL;
    PyObject *module = PyModule_Create(&fastsend_module);
    if (module == NULL)
        return NULL;
    if (PyModule_AddType(module, &SenderType) < 0 || PyModule_AddType(module, &UnprotectorType) < 0 ||
        PyModule_AddType(module, &TranslatorType) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    if (PyModule_AddIntConstant(module, "SENT", SENT) < 0 ||
        PyModule_AddIntConstant(module, "WOULD_BLOCK", WOULD_BLOCK) < 0 ||
        PyModule_AddIntConstant(module, "FAILED", FAILED) < 0 ||
        PyModule_AddIntConstant(module, "TOO_LARGE", TOO_LARGE) < 0 ||
        PyModule_AddIntConstant(module, "RECV_BATCH", RECV_BATCH) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
