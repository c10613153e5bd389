/* Serving a foreign-Python host through a worker process: the runtime under the code c_shim/forward.py generates.
 *
 * The host's side (the "client"): C_Initialize starts `python -I -c ... c_shim.worker` (the project's Python,
 * where this library embeds normally, as in any same-version host) with one end of a socket pair, the control
 * socket. Each host thread that calls in takes an idle connection or opens one: a new socket pair whose other
 * end travels to the worker over the control socket (SCM_RIGHTS), where a thread of its own serves it. A call is
 * one request (its inputs, and what the caller's output buffers can hold) and one reply (the CK_RV and what the
 * function wrote). When the worker dies its sockets close: a call waiting on it reads end-of-file and answers
 * CKR_DEVICE_ERROR, and so does every later call until C_Finalize. C_Finalize stops the worker; a process that
 * exits without it closes the control socket, which ends the worker too. A forked child drops its parent's
 * worker (PKCS#11 3.0 §5.4.1: the child calls C_Initialize, which starts its own).
 *
 * The worker's side: ks_worker_main accepts connections and serves each on its own thread, calling the same
 * ks_native_C_* functions a same-version host reaches. Every fd is close-on-exec and every send is MSG_NOSIGNAL
 * (a worker that died must not raise SIGPIPE in the host). */

#include <limits.h>
#include <poll.h>
#include <spawn.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#define KS_CKR_DEVICE_ERROR 0x30UL
#define KS_CKR_ATTRIBUTE_SENSITIVE 0x11UL
#define KS_CKR_ATTRIBUTE_TYPE_INVALID 0x12UL
#define KS_CKR_BUFFER_TOO_SMALL 0x150UL
#define KS_CKR_CRYPTOKI_NOT_INITIALIZED 0x190UL
/* C_FindObjects may return fewer handles than asked (§5.7.8: the caller loops until it gets 0) */
#define KS_FIND_MAX 4096UL
#define KS_ROLE_INITIALIZE 1
#define KS_ROLE_FINALIZE 2
#define KS_WORKER_FD 3

/* -- messages ---------------------------------------------------------------------------------------------------- */

/* A message being built or read: CK_ULONG fields and byte runs, in the order the generated code puts them. */
typedef struct {
    unsigned char *data;
    size_t len, cap, pos;
    CK_RV fail; /* why decoding or building stopped: CKR_GENERAL_ERROR (malformed) or CKR_HOST_MEMORY */
} ks_buf;

/* What a worker call allocates (output buffers, rebuilt structures), freed when the call is answered. */
typedef struct {
    void **items;
    size_t count, cap;
} ks_arena;

static unsigned char ks_reserved_marker; /* a non-NULL pReserved, which the provider refuses without reading */
static unsigned char ks_empty[1];        /* a non-NULL pointer to zero bytes */

static void ks_buf_reset(ks_buf *b) { b->len = b->pos = 0; b->fail = KS_CKR_OK; }
static void ks_buf_free(ks_buf *b) { free(b->data); memset(b, 0, sizeof *b); }

static int ks_reserve(ks_buf *b, size_t n) {
    if (b->fail) return 0;
    if (n <= b->cap - b->len) return 1;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - b->len < n) {
        if (cap > SIZE_MAX / 2) { b->fail = KS_CKR_HOST_MEMORY; return 0; }
        cap *= 2;
    }
    unsigned char *data = realloc(b->data, cap);
    if (!data) { b->fail = KS_CKR_HOST_MEMORY; return 0; }
    b->data = data;
    b->cap = cap;
    return 1;
}

static void ks_put_raw(ks_buf *b, const void *p, size_t n) {
    if (!n || !ks_reserve(b, n)) return;
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void ks_put_ulong(ks_buf *b, CK_ULONG v) { ks_put_raw(b, &v, sizeof v); }

static const unsigned char *ks_get_raw(ks_buf *b, CK_ULONG n) {
    if (b->fail) return NULL;
    if (n > b->len - b->pos) { b->fail = KS_CKR_GENERAL_ERROR; return NULL; }
    const unsigned char *p = b->data ? b->data + b->pos : ks_empty;
    b->pos += n;
    return p;
}

static CK_ULONG ks_get_ulong(ks_buf *b) {
    CK_ULONG v = 0;
    const unsigned char *p = ks_get_raw(b, sizeof v);
    if (p) memcpy(&v, p, sizeof v);
    return v;
}

static void *ks_alloc(ks_arena *a, ks_buf *q, CK_ULONG count, size_t size) {
    if (q->fail) return NULL;
    if (size && count > SIZE_MAX / size) { q->fail = KS_CKR_HOST_MEMORY; return NULL; }
    if (a->count == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 16;
        void **items = realloc(a->items, cap * sizeof *items);
        if (!items) { q->fail = KS_CKR_HOST_MEMORY; return NULL; }
        a->items = items;
        a->cap = cap;
    }
    size_t bytes = count * size;
    void *p = malloc(bytes ? bytes : 1);
    if (!p) { q->fail = KS_CKR_HOST_MEMORY; return NULL; }
    a->items[a->count++] = p;
    return p;
}

static void ks_arena_clear(ks_arena *a) {
    for (size_t i = 0; i < a->count; i++) free(a->items[i]);
    a->count = 0;
}

/* -- wire kinds: the client puts, the worker gets, calls, replies, the client takes ------------------------------------
 * Outputs are mirrored: the worker's copy of an output starts as the caller's and what it holds after the call is
 * written back, except output bytes, sent only when the function wrote them (CKR_OK; for C_GetAttributeValue the
 * §5.7.5 codes and a length that fits), so the caller's memory is left as it was everywhere else. */

static void ks_put_in(ks_buf *b, const void *p, CK_ULONG n) {
    ks_put_ulong(b, p != NULL);
    ks_put_ulong(b, n);
    if (p) ks_put_raw(b, p, n);
}

static void *ks_get_in(ks_buf *q, CK_ULONG *n) {
    int present = ks_get_ulong(q) != 0;
    *n = ks_get_ulong(q);
    if (!present) return NULL;
    const unsigned char *p = ks_get_raw(q, *n);
    return p ? (void *)p : NULL;
}

static void ks_put_fixed(ks_buf *b, const void *p, CK_ULONG n) {
    ks_put_ulong(b, p != NULL);
    if (p) ks_put_raw(b, p, n);
}

static void *ks_get_fixed(ks_buf *q, CK_ULONG n) { return ks_get_ulong(q) ? (void *)ks_get_raw(q, n) : NULL; }

static void ks_put_out(ks_buf *b, int present, CK_ULONG cap, const CK_ULONG *pul) {
    ks_put_ulong(b, (CK_ULONG)present | (CK_ULONG)(pul != NULL) << 1);
    ks_put_ulong(b, cap);
    ks_put_ulong(b, pul ? *pul : 0);
}

static CK_ULONG *ks_get_out(ks_buf *q, ks_arena *a, void **p, size_t size, CK_ULONG *cap, CK_ULONG *value) {
    CK_ULONG flags = ks_get_ulong(q);
    *cap = ks_get_ulong(q);
    *value = ks_get_ulong(q);
    *p = (flags & 1) ? ks_alloc(a, q, *cap, size) : NULL;
    return (flags & 2) ? value : NULL;
}

static void ks_reply_out(ks_buf *r, CK_RV rv, const void *p, size_t size, CK_ULONG cap, const CK_ULONG *pul) {
    ks_put_ulong(r, pul ? *pul : 0);
    CK_ULONG n = rv == KS_CKR_OK && p ? (pul ? *pul : cap) : 0;
    if (n > cap) n = 0; /* a length beyond the buffer: nothing was written */
    ks_put_ulong(r, n);
    ks_put_raw(r, p, n * size);
}

static void ks_take_out(ks_buf *b, void *p, CK_ULONG cap, CK_ULONG *pul, size_t size) {
    CK_ULONG value = ks_get_ulong(b), n = ks_get_ulong(b);
    const unsigned char *data = ks_get_raw(b, n * size);
    if (b->fail) return;
    if (n > cap || (n && !p)) { b->fail = KS_CKR_GENERAL_ERROR; return; }
    if (n) memcpy(p, data, n * size);
    if (pul) *pul = value;
}

static void ks_put_value_out(ks_buf *b, const CK_ULONG *p) {
    ks_put_ulong(b, p != NULL);
    ks_put_ulong(b, p ? *p : 0);
}

static CK_ULONG *ks_get_value_out(ks_buf *q, CK_ULONG *value) {
    int present = ks_get_ulong(q) != 0;
    *value = ks_get_ulong(q);
    return present ? value : NULL;
}

static void ks_reply_value_out(ks_buf *r, const CK_ULONG *p) { ks_put_ulong(r, p ? *p : 0); }

static void ks_take_value_out(ks_buf *b, CK_ULONG *p) {
    CK_ULONG value = ks_get_ulong(b);
    if (!b->fail && p) *p = value;
}

static void *ks_get_struct_out(ks_buf *q, void *value, size_t size) {
    memset(value, 0, size);
    return ks_get_ulong(q) ? value : NULL;
}

static void ks_reply_struct(ks_buf *r, CK_RV rv, const void *p, size_t size) {
    int written = rv == KS_CKR_OK && p;
    ks_put_ulong(r, written);
    if (written) ks_put_raw(r, p, size);
}

static void ks_take_struct(ks_buf *b, void *p, size_t size) {
    if (!ks_get_ulong(b)) return;
    const unsigned char *data = ks_get_raw(b, size);
    if (!data) return;
    if (!p) { b->fail = KS_CKR_GENERAL_ERROR; return; }
    memcpy(p, data, size);
}

/* Input templates: each attribute's type and value bytes (array attributes' values travel as the bytes they are). */
static void ks_put_template(ks_buf *b, const CK_ATTRIBUTE *t, CK_ULONG count) {
    ks_put_ulong(b, t != NULL);
    ks_put_ulong(b, count);
    for (CK_ULONG i = 0; t && i < count; i++) {
        ks_put_ulong(b, t[i].type);
        ks_put_in(b, t[i].pValue, t[i].ulValueLen);
    }
}

static CK_ATTRIBUTE *ks_get_template(ks_buf *q, ks_arena *a, CK_ULONG *count) {
    int present = ks_get_ulong(q) != 0;
    *count = ks_get_ulong(q);
    if (!present) return NULL;
    if (*count > (q->len - q->pos) / (3 * sizeof(CK_ULONG))) { q->fail = KS_CKR_GENERAL_ERROR; return NULL; }
    CK_ATTRIBUTE *t = ks_alloc(a, q, *count, sizeof *t);
    for (CK_ULONG i = 0; t && i < *count && !q->fail; i++) {
        t[i].type = ks_get_ulong(q);
        t[i].pValue = ks_get_in(q, &t[i].ulValueLen);
    }
    return t;
}

/* C_GetAttributeValue's template: types and buffer sizes out, lengths and values back. */
static void ks_put_query(ks_buf *b, const CK_ATTRIBUTE *t, CK_ULONG count) {
    ks_put_ulong(b, t != NULL);
    ks_put_ulong(b, count);
    for (CK_ULONG i = 0; t && i < count; i++) {
        ks_put_ulong(b, t[i].type);
        ks_put_ulong(b, t[i].pValue != NULL);
        ks_put_ulong(b, t[i].ulValueLen);
    }
}

static CK_ATTRIBUTE *ks_get_query(ks_buf *q, ks_arena *a, CK_ULONG *count, CK_ULONG **caps) {
    int present = ks_get_ulong(q) != 0;
    *count = ks_get_ulong(q);
    *caps = NULL;
    if (!present) return NULL;
    if (*count > (q->len - q->pos) / (3 * sizeof(CK_ULONG))) { q->fail = KS_CKR_GENERAL_ERROR; return NULL; }
    CK_ATTRIBUTE *t = ks_alloc(a, q, *count, sizeof *t);
    *caps = ks_alloc(a, q, *count, sizeof **caps);
    for (CK_ULONG i = 0; t && *caps && i < *count && !q->fail; i++) {
        t[i].type = ks_get_ulong(q);
        int has_buffer = ks_get_ulong(q) != 0;
        t[i].ulValueLen = (*caps)[i] = ks_get_ulong(q);
        t[i].pValue = has_buffer ? ks_alloc(a, q, t[i].ulValueLen, 1) : NULL;
    }
    return t;
}

static int ks_query_wrote(CK_RV rv) {
    return rv == KS_CKR_OK || rv == KS_CKR_ATTRIBUTE_SENSITIVE || rv == KS_CKR_ATTRIBUTE_TYPE_INVALID ||
           rv == KS_CKR_BUFFER_TOO_SMALL;
}

static void ks_reply_query(ks_buf *r, CK_RV rv, const CK_ATTRIBUTE *t, CK_ULONG count, const CK_ULONG *caps) {
    for (CK_ULONG i = 0; t && i < count; i++) {
        CK_ULONG len = t[i].ulValueLen;
        ks_put_ulong(r, len);
        int wrote = ks_query_wrote(rv) && t[i].pValue && len != KS_UNAVAILABLE_INFORMATION && len <= caps[i];
        ks_put_in(r, wrote ? t[i].pValue : NULL, wrote ? len : 0);
    }
}

static void ks_take_query(ks_buf *b, CK_ATTRIBUTE *t, CK_ULONG count) {
    for (CK_ULONG i = 0; t && i < count && !b->fail; i++) {
        CK_ULONG len = ks_get_ulong(b), n;
        const void *value = ks_get_in(b, &n);
        if (b->fail) return;
        if (value) {
            if (!t[i].pValue || n > t[i].ulValueLen) { b->fail = KS_CKR_GENERAL_ERROR; return; }
            memcpy(t[i].pValue, value, n);
        }
        t[i].ulValueLen = len;
    }
}

/* Mechanisms: a parameter whose (mechanism, size) a row declares is the structure plus the bytes each pointer
 * leads to; any other parameter is its bytes. */
static const ks_layout *ks_layout_for(CK_MECHANISM_TYPE mechanism, CK_ULONG size) {
    for (unsigned i = 0; i < KS_LAYOUT_COUNT; i++)
        if (ks_layouts[i].mechanism == mechanism && ks_layouts[i].size == size) return &ks_layouts[i];
    return NULL;
}

static void ks_put_mechanism(ks_buf *b, const CK_MECHANISM *m) {
    ks_put_ulong(b, m != NULL);
    if (!m) return;
    ks_put_ulong(b, m->mechanism);
    const ks_layout *layout = m->pParameter ? ks_layout_for(m->mechanism, m->ulParameterLen) : NULL;
    ks_put_ulong(b, layout ? (CK_ULONG)(layout - ks_layouts) + 1 : 0);
    ks_put_in(b, m->pParameter, m->ulParameterLen);
    for (unsigned i = 0; layout && i < layout->count; i++) {
        const unsigned char *base = m->pParameter;
        void *pointer;
        CK_ULONG length;
        memcpy(&pointer, base + layout->members[i].pointer, sizeof pointer);
        memcpy(&length, base + layout->members[i].length, sizeof length);
        ks_put_in(b, pointer, length);
    }
}

static CK_MECHANISM *ks_get_mechanism(ks_buf *q, ks_arena *a) {
    if (!ks_get_ulong(q)) return NULL;
    CK_MECHANISM *m = ks_alloc(a, q, 1, sizeof *m);
    CK_ULONG type = ks_get_ulong(q), which = ks_get_ulong(q), size;
    const void *raw = ks_get_in(q, &size);
    if (!m || q->fail) return NULL;
    m->mechanism = type;
    m->ulParameterLen = size;
    m->pParameter = NULL;
    if (raw) { /* a copy, aligned for the structure's members */
        m->pParameter = ks_alloc(a, q, size, 1);
        if (!m->pParameter) return NULL;
        memcpy(m->pParameter, raw, size);
    }
    if (!which) return m;
    const ks_layout *layout = which <= KS_LAYOUT_COUNT ? &ks_layouts[which - 1] : NULL;
    if (!layout || !raw || layout->mechanism != type || layout->size != size) {
        q->fail = KS_CKR_GENERAL_ERROR;
        return NULL;
    }
    for (unsigned i = 0; i < layout->count; i++) {
        CK_ULONG length;
        void *pointer = ks_get_in(q, &length);
        memcpy((unsigned char *)m->pParameter + layout->members[i].pointer, &pointer, sizeof pointer);
    }
    return m;
}

/* CK_C_INITIALIZE_ARGS: which members are set and the flags; the worker stands its own mutex functions in for the
 * host's (the provider checks they come all or none, and locks with OS primitives either way). */
static void ks_put_init_args(ks_buf *b, const void *p) {
    const CK_C_INITIALIZE_ARGS *args = p;
    ks_put_ulong(b, args != NULL);
    if (!args) return;
    ks_put_ulong(b, (CK_ULONG)(args->CreateMutex != NULL) | (CK_ULONG)(args->DestroyMutex != NULL) << 1 |
                        (CK_ULONG)(args->LockMutex != NULL) << 2 | (CK_ULONG)(args->UnlockMutex != NULL) << 3 |
                        (CK_ULONG)(args->pReserved != NULL) << 4);
    ks_put_ulong(b, args->flags);
}

static CK_RV ks_create_mutex(CK_VOID_PTR_PTR out) {
    pthread_mutex_t *m = malloc(sizeof *m);
    if (!m) return KS_CKR_HOST_MEMORY;
    pthread_mutex_init(m, NULL);
    *out = m;
    return KS_CKR_OK;
}
static CK_RV ks_destroy_mutex(CK_VOID_PTR m) { pthread_mutex_destroy(m); free(m); return KS_CKR_OK; }
static CK_RV ks_lock_mutex(CK_VOID_PTR m) { return pthread_mutex_lock(m) ? KS_CKR_GENERAL_ERROR : KS_CKR_OK; }
static CK_RV ks_unlock_mutex(CK_VOID_PTR m) { return pthread_mutex_unlock(m) ? KS_CKR_GENERAL_ERROR : KS_CKR_OK; }

static void *ks_get_init_args(ks_buf *q, ks_arena *a) {
    if (!ks_get_ulong(q)) return NULL;
    CK_ULONG members = ks_get_ulong(q), flags = ks_get_ulong(q);
    CK_C_INITIALIZE_ARGS *args = ks_alloc(a, q, 1, sizeof *args);
    if (!args) return NULL;
    args->CreateMutex = (members & 1) ? ks_create_mutex : NULL;
    args->DestroyMutex = (members & 2) ? ks_destroy_mutex : NULL;
    args->LockMutex = (members & 4) ? ks_lock_mutex : NULL;
    args->UnlockMutex = (members & 8) ? ks_unlock_mutex : NULL;
    args->pReserved = (members & 16) ? &ks_reserved_marker : NULL;
    args->flags = flags;
    return args;
}

/* -- sockets --------------------------------------------------------------------------------------------------------- */

static int ks_send_all(int fd, const void *p, size_t n) {
    const unsigned char *at = p;
    while (n) {
        ssize_t sent = send(fd, at, n, MSG_NOSIGNAL);
        if (sent < 0 && errno == EINTR) continue;
        if (sent <= 0) return 0;
        at += sent;
        n -= (size_t)sent;
    }
    return 1;
}

static int ks_recv_all(int fd, void *p, size_t n) {
    unsigned char *at = p;
    while (n) {
        ssize_t got = recv(fd, at, n, 0);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return 0;
        at += got;
        n -= (size_t)got;
    }
    return 1;
}

/* A message is a header (body length, function index) and the body. */
static int ks_send_message(int fd, ks_buf *b, CK_ULONG function) {
    CK_ULONG header[2] = {b->len - 2 * sizeof(CK_ULONG), function};
    memcpy(b->data, header, sizeof header);
    return ks_send_all(fd, b->data, b->len);
}

static int ks_recv_message(int fd, ks_buf *b, CK_ULONG *function) {
    CK_ULONG header[2];
    ks_buf_reset(b);
    if (!ks_reserve(b, 4096)) return 0;
    /* one recv brings the header and, for most calls, the whole body */
    size_t got = 0;
    while (got < sizeof header) {
        ssize_t n = recv(fd, b->data + got, b->cap - got, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return 0;
        got += (size_t)n;
    }
    memcpy(header, b->data, sizeof header);
    size_t total = sizeof header + header[0];
    if (header[0] > SIZE_MAX - sizeof header || got > total) return 0; /* never more than one message in flight */
    if (total > b->cap) {
        b->len = got;
        if (!ks_reserve(b, total - got)) return 0;
    }
    if (!ks_recv_all(fd, b->data + got, total - got)) return 0;
    b->len = total;
    b->pos = sizeof header;
    *function = header[1];
    return 1;
}

/* -- the host's side ------------------------------------------------------------------------------------------------- */

typedef struct ks_conn {
    int fd;
    int busy;
    int outputs;    /* the reply carries the function's outputs */
    int started;    /* this C_Initialize started the worker */
    unsigned generation;
    ks_buf buf;
    struct ks_conn *next;
} ks_conn;

static struct {
    pthread_mutex_t lock;
    int running;         /* a worker is serving this process (C_Initialize..C_Finalize) */
    int dead;            /* it stopped answering: CKR_DEVICE_ERROR until C_Finalize */
    pid_t pid;
    int control;
    unsigned generation; /* one per worker: connections of an earlier one are closed, not reused */
    ks_conn *conns;      /* this generation's connections, idle or busy */
} ks_fwd = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, -1, 0, NULL};

static pthread_once_t ks_fwd_fork_once = PTHREAD_ONCE_INIT;

static void ks_conn_free(ks_conn *c) {
    if (c->fd >= 0) close(c->fd);
    ks_buf_free(&c->buf);
    free(c);
}

/* fork: the prepare handler keeps other threads from holding the lock (or a half-made connection) at the fork */
static void ks_fwd_prepare(void) { pthread_mutex_lock(&ks_fwd.lock); }
static void ks_fwd_parent(void) { pthread_mutex_unlock(&ks_fwd.lock); }
static void ks_fwd_child(void) {
    /* The worker serves the parent; the child's copies of its sockets are closed (so the worker still sees the
     * parent go) and the child starts a worker of its own at C_Initialize. Busy connections belong to threads
     * that do not exist here: their memory is left, their descriptors closed. */
    for (ks_conn *c = ks_fwd.conns, *next; c; c = next) {
        next = c->next;
        if (c->busy) { close(c->fd); c->fd = -1; }
        else ks_conn_free(c);
    }
    if (ks_fwd.control >= 0) close(ks_fwd.control);
    ks_fwd.conns = NULL;
    ks_fwd.control = -1;
    ks_fwd.running = ks_fwd.dead = 0;
    ks_fwd.pid = 0;
    ks_fwd.generation++;
    pthread_mutex_unlock(&ks_fwd.lock);
}
static void ks_fwd_register_fork(void) { pthread_atfork(ks_fwd_prepare, ks_fwd_parent, ks_fwd_child); }

/* Stop the worker (lock held): closing the control socket ends it; it is reaped, killed if it lingers. */
static void ks_fwd_stop(void) {
    for (ks_conn *c = ks_fwd.conns, *next; c; c = next) {
        next = c->next;
        if (!c->busy) ks_conn_free(c); /* a busy one is closed by its thread (its generation is over) */
    }
    ks_fwd.conns = NULL;
    if (ks_fwd.control >= 0) close(ks_fwd.control);
    ks_fwd.control = -1;
    if (ks_fwd.pid > 0) {
        struct timespec tick = {0, 2 * 1000 * 1000};
        int i = 0;
        while (waitpid(ks_fwd.pid, NULL, WNOHANG) == 0) {
            if (++i == KS_WORKER_EXIT_MS / 2) kill(ks_fwd.pid, SIGKILL);
            if (i > KS_WORKER_EXIT_MS / 2) { waitpid(ks_fwd.pid, NULL, 0); break; }
            nanosleep(&tick, NULL);
        }
    }
    ks_fwd.pid = 0;
    ks_fwd.running = ks_fwd.dead = 0;
    ks_fwd.generation++;
}

static const char *ks_library_path(void);

/* Start the worker (lock held) and wait for its greeting: the wire id of the library it loaded. */
static CK_RV ks_fwd_spawn(void) {
    static const char launcher[] =
        "import sys; sys.path.insert(0, sys.argv[1]); from c_shim import worker; sys.exit(worker.main(sys.argv[2:]))";
    const char *library = ks_library_path();
    if (!library) return KS_CKR_GENERAL_ERROR;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return KS_CKR_GENERAL_ERROR;

    extern char **environ;
    size_t count = 0;
    while (environ[count]) count++;
    char **env = calloc(count + 1, sizeof *env);
    if (!env) { close(sv[0]); close(sv[1]); return KS_CKR_HOST_MEMORY; }
    for (size_t i = 0, j = 0; i < count; i++) /* the worker must serve, not forward again */
        if (strncmp(environ[i], "KEYSTEAD_PKCS11_FORCE_BRIDGE=", 29) != 0) env[j++] = environ[i];

    char fd_text[16];
    snprintf(fd_text, sizeof fd_text, "%d", KS_WORKER_FD);
    char *argv[] = {(char *)KS_PYTHON_EXECUTABLE, "-I", "-c", (char *)launcher, (char *)KS_PROJECT_ROOT,
                    (char *)library, fd_text, NULL};
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    sigset_t none;
    sigemptyset(&none);
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, sv[1], KS_WORKER_FD); /* dup2 clears close-on-exec on the copy */
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 34)
    posix_spawn_file_actions_addclosefrom_np(&actions, KS_WORKER_FD + 1); /* nothing else of the host's */
#endif
    posix_spawnattr_init(&attr);
    /* its own process group: the terminal's ^C goes to the host, whose exit then ends the worker */
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK);
    pid_t pid;
    int failed = posix_spawn(&pid, KS_PYTHON_EXECUTABLE, &actions, &attr, argv, env);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    free(env);
    close(sv[1]);
    if (failed) {
        close(sv[0]);
        fprintf(stderr, "keystead-pkcs11: cannot start %s: %s\n", KS_PYTHON_EXECUTABLE, strerror(failed));
        return KS_CKR_GENERAL_ERROR;
    }
    ks_fwd.pid = pid;
    ks_fwd.control = sv[0];
    struct pollfd ready = {sv[0], POLLIN, 0};
    uint64_t wire_id = 0;
    int polled;
    do polled = poll(&ready, 1, KS_WORKER_START_MS); while (polled < 0 && errno == EINTR);
    if (polled != 1 || !ks_recv_all(sv[0], &wire_id, sizeof wire_id) || wire_id != KS_WIRE_ID) {
        fprintf(stderr, "keystead-pkcs11: the worker for this foreign-Python host did not start%s\n",
                polled == 1 && wire_id ? " (the library was rebuilt meanwhile)" : "");
        kill(pid, SIGKILL);
        ks_fwd_stop();
        return KS_CKR_GENERAL_ERROR;
    }
    ks_fwd.running = 1;
    ks_fwd.dead = 0;
    return KS_CKR_OK;
}

/* Hand the worker the other end of a new connection (lock held). */
static ks_conn *ks_fwd_connect(void) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return NULL;
    char byte = 'c';
    union { struct cmsghdr align; char space[CMSG_SPACE(sizeof(int))]; } control;
    struct iovec iov = {&byte, 1};
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.space;
    msg.msg_controllen = sizeof control.space;
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cmsg), &sv[1], sizeof(int));
    ssize_t sent;
    do sent = sendmsg(ks_fwd.control, &msg, MSG_NOSIGNAL); while (sent < 0 && errno == EINTR);
    close(sv[1]);
    if (sent != 1) { close(sv[0]); ks_fwd.dead = 1; return NULL; }
    ks_conn *c = calloc(1, sizeof *c);
    if (!c) { close(sv[0]); return NULL; }
    c->fd = sv[0];
    c->generation = ks_fwd.generation;
    c->next = ks_fwd.conns;
    ks_fwd.conns = c;
    return c;
}

/* Take a connection for one call and start its request; C_Initialize starts the worker first. */
static CK_RV ks_fwd_begin(ks_conn **out, CK_ULONG function, int role) {
    pthread_once(&ks_fwd_fork_once, ks_fwd_register_fork);
    pthread_mutex_lock(&ks_fwd.lock);
    int started = 0;
    if (role == KS_ROLE_INITIALIZE && (!ks_fwd.running || ks_fwd.dead)) {
        if (ks_fwd.running) ks_fwd_stop(); /* a dead worker is replaced */
        CK_RV rv = ks_fwd_spawn();
        if (rv != KS_CKR_OK) { pthread_mutex_unlock(&ks_fwd.lock); return rv; }
        started = 1;
    }
    if (!ks_fwd.running) { pthread_mutex_unlock(&ks_fwd.lock); return KS_CKR_CRYPTOKI_NOT_INITIALIZED; }
    if (ks_fwd.dead) {
        CK_RV rv = KS_CKR_DEVICE_ERROR;
        if (role == KS_ROLE_FINALIZE) { ks_fwd_stop(); rv = KS_CKR_OK; } /* the dead worker is reaped */
        pthread_mutex_unlock(&ks_fwd.lock);
        return rv;
    }
    ks_conn *c = ks_fwd.conns;
    while (c && c->busy) c = c->next;
    if (!c) c = ks_fwd_connect();
    if (!c) {
        CK_RV rv = ks_fwd.dead ? KS_CKR_DEVICE_ERROR : KS_CKR_HOST_MEMORY;
        pthread_mutex_unlock(&ks_fwd.lock);
        return rv;
    }
    c->busy = 1;
    c->started = started;
    c->outputs = 0;
    pthread_mutex_unlock(&ks_fwd.lock);
    ks_buf_reset(&c->buf);
    CK_ULONG header[2] = {0, function};
    ks_put_raw(&c->buf, header, sizeof header);
    *out = c;
    return KS_CKR_OK;
}

/* Send the request and read the reply: the function's CK_RV, or CKR_DEVICE_ERROR when the worker is gone. */
static CK_RV ks_fwd_exchange(ks_conn *c) {
    ks_buf *b = &c->buf;
    if (b->fail) return b->fail;
    CK_ULONG function = 0;
    memcpy(&function, b->data + sizeof(CK_ULONG), sizeof function);
    if (!ks_send_message(c->fd, b, function) || !ks_recv_message(c->fd, b, &function)) {
        CK_RV failed = b->fail; /* no memory for the reply; else the worker is gone */
        if (!failed) {
            pthread_mutex_lock(&ks_fwd.lock);
            if (c->generation == ks_fwd.generation) ks_fwd.dead = 1;
            pthread_mutex_unlock(&ks_fwd.lock);
        }
        close(c->fd); /* half a message is unusable either way */
        c->fd = -1;
        return failed ? failed : KS_CKR_DEVICE_ERROR;
    }
    CK_RV rv = ks_get_ulong(b);
    c->outputs = ks_get_ulong(b) != 0 && !b->fail;
    return b->fail ? KS_CKR_GENERAL_ERROR : rv;
}

static void ks_fwd_unlink(ks_conn *c) {
    for (ks_conn **at = &ks_fwd.conns; *at; at = &(*at)->next)
        if (*at == c) { *at = c->next; return; }
}

/* Give the connection back; a C_Finalize that worked, or a C_Initialize that started the worker and failed, ends
 * the worker. */
static CK_RV ks_fwd_end(ks_conn *c, CK_RV rv, int role) {
    if (c->outputs && c->buf.fail) rv = KS_CKR_GENERAL_ERROR; /* a reply that does not parse */
    int started = c->started;
    pthread_mutex_lock(&ks_fwd.lock);
    int current = c->generation == ks_fwd.generation;
    if (!current || c->fd < 0) {
        if (current) ks_fwd_unlink(c);
        ks_conn_free(c);
    } else {
        c->busy = 0;
        if (c->buf.cap > (1 << 20)) ks_buf_free(&c->buf); /* keep no megabytes for an idle connection */
    }
    if (current && role == KS_ROLE_FINALIZE && (rv == KS_CKR_OK || ks_fwd.dead)) {
        ks_fwd_stop();
        rv = KS_CKR_OK; /* finalized: nothing of the worker remains */
    } else if (current && role == KS_ROLE_INITIALIZE && rv != KS_CKR_OK && started) {
        ks_fwd_stop();
    }
    pthread_mutex_unlock(&ks_fwd.lock);
    return rv;
}

/* -- the worker's side ----------------------------------------------------------------------------------------------- */

static void ks_serve_call(CK_ULONG function, ks_buf *q, ks_buf *r, ks_arena *a);

static void *ks_serve(void *arg) {
    int fd = (int)(intptr_t)arg;
    /* One thread state for the thread's life: each call then only takes the GIL (cffi's PyGILState_Ensure finds
     * it), instead of making and dropping a thread state per call. */
    PyGILState_STATE gil = PyGILState_Ensure();
    PyThreadState *state = PyEval_SaveThread();
    ks_buf q = {0}, r = {0};
    ks_arena a = {0};
    CK_ULONG function;
    while (ks_recv_message(fd, &q, &function)) {
        ks_buf_reset(&r);
        CK_ULONG header[2] = {0, 0};
        ks_put_raw(&r, header, sizeof header);
        ks_serve_call(function, &q, &r, &a);
        ks_arena_clear(&a);
        if (r.fail || !ks_send_message(fd, &r, 0)) break; /* the client sees the connection close */
        if (q.cap > (1 << 20)) ks_buf_free(&q);
        if (r.cap > (1 << 20)) ks_buf_free(&r);
    }
    close(fd);
    ks_buf_free(&q);
    ks_buf_free(&r);
    free(a.items);
    PyEval_RestoreThread(state);
    PyGILState_Release(gil);
    return NULL;
}

static int ks_recv_fd(int control) {
    char byte;
    union { struct cmsghdr align; char space[CMSG_SPACE(sizeof(int))]; } space;
    struct iovec iov = {&byte, 1};
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = space.space;
    msg.msg_controllen = sizeof space.space;
    ssize_t got;
    do got = recvmsg(control, &msg, MSG_CMSG_CLOEXEC); while (got < 0 && errno == EINTR);
    if (got <= 0) return -1;
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
    if (!cmsg || cmsg->cmsg_type != SCM_RIGHTS || cmsg->cmsg_len != CMSG_LEN(sizeof(int))) return -2;
    int fd;
    memcpy(&fd, CMSG_DATA(cmsg), sizeof fd);
    return fd;
}

/* The worker's main loop, called by c_shim.worker in the project's Python: greet, then serve each connection the
 * host sends on its own thread until the host closes the control socket. Returns only on a start-up failure. */
KS_EXPORT int ks_worker_main(int control) {
    if (ks_route() != KS_CKR_OK || ks_mode != KS_NATIVE) {
        fprintf(stderr, "keystead-pkcs11: the worker cannot run the provider in this interpreter\n");
        return 2;
    }
    ks_kept_disabled = 1; /* its calls arrive through ks_native_C_*: no entry point would serve a kept output */
    uint64_t wire_id = KS_WIRE_ID;
    if (!ks_send_all(control, &wire_id, sizeof wire_id)) return 3;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    for (;;) {
        int fd = ks_recv_fd(control);
        if (fd == -2) continue;
        if (fd < 0) break;
        pthread_t thread;
        if (pthread_create(&thread, &attr, ks_serve, (void *)(intptr_t)fd) != 0) close(fd);
    }
    /* The host finalized or is gone. Its calls are answered (C_Finalize ran before the control socket closed);
     * end without unwinding the interpreter under threads that may still be in it. */
    _exit(0);
}
