/* Keystead PKCS#11 shim: the C side of libkeystead_pkcs11.so.
 *
 * The entry points only marshal into Python (cffi extern "Python" functions bound in c_shim/_marshal.py), which
 * reads and writes CK_ATTRIBUTE arrays through the helpers of marshal.c (a template per call instead of a cffi
 * operation per field). What else has to be C is what must happen before Python may run:
 *  - foreign-Python hosts: a process that already runs another Python version must not get a second interpreter
 *    (3.11 embedded in 3.12 hangs; symbols of our libpython bind to the host's). Such hosts are served by a
 *    worker process running the project's Python, every C_* call forwarded over a Unix socket (forward.c, and
 *    the code c_shim/forward.py generates).
 *  - starting the interpreter ourselves in C hosts, with a sys.path recorded at build time (the host's working
 *    directory and environment must not matter) and libpython promoted to global scope, since a host that
 *    dlopen()s us RTLD_LOCAL leaves libpython's symbols invisible to extension modules such as _cffi_backend.
 *
 * One thing is served here without Python: the second call of a §5.2 length query. python-pkcs11 (and most
 * callers) make each C_Encrypt, C_Decrypt and C_Sign twice, first with a NULL output buffer for the length, then
 * with a buffer, on the same input. The provider does the work once and keeps the output for the second call
 * (provider/operations.py); when that first call was single-part it also gives this file a copy (ks_kept_put,
 * called from c_shim/_marshal.py), and the entry point of the second call hands it over itself when the call is
 * exactly the one it was kept for: same session, same function, the same input bytes, an output buffer large enough
 * (ks_kept_serve, in the generated C_Encrypt / C_Decrypt / C_Sign). That ends the operation, as the provider would
 * have: the entry is marked served, and Python, still the authority on operation state, ends its operation the next
 * time it looks at it (operations.active / operations.start: the entry's ticket in ks_kept_served, read without a
 * call, else ks_kept_take). Any other call (a different
 * input, too small a buffer, another length query, an Update or Final) goes to Python as before, which first takes
 * the entry back; every path that ends operations in Python (C_SessionCancel, C_CloseSession, C_CloseAllSessions,
 * C_Logout, C_Finalize, C_Initialize) forgets the entries of the sessions concerned (ks_kept_forget,
 * ks_kept_clear), and the provider checks after each put that the session and its operation are still current. The
 * table is behind one mutex; a forked child starts with an empty one. A worker serving a foreign-Python host keeps
 * nothing here (its calls arrive through ks_native_C_*, not the entry points).
 * The build script (c_shim/build.py) defines the KS_* macros and generates the entry points and lists. */

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KS_EXPORT __attribute__((visibility("default")))
#define KS_UNLIKELY(x) __builtin_expect(!!(x), 0)

#define KS_CKR_OK 0x00UL
#define KS_CKR_HOST_MEMORY 0x02UL
#define KS_CKR_GENERAL_ERROR 0x05UL
#define KS_CKR_ARGUMENTS_BAD 0x07UL
#define KS_CKR_FUNCTION_NOT_SUPPORTED 0x54UL
#define KS_CKF_INTERFACE_FORK_SAFE 0x01UL
#define KS_UNAVAILABLE_INFORMATION (~0UL)

enum { KS_UNDECIDED = 0, KS_NATIVE = 1, KS_FOREIGN = 2 };

static int ks_mode = KS_UNDECIDED;
static CK_RV ks_route_rv = KS_CKR_OK;
static pthread_once_t ks_once = PTHREAD_ONCE_INIT;

static const char *const ks_sys_path[] = {KS_SYS_PATH, NULL};

/* Whether this process already runs a Python interpreter other than the one we were built for. Looked up by
 * name so that nothing of libpython is called: with a foreign interpreter present our Py_* references may bind
 * to the host's symbols. */
static int ks_foreign_python(void) {
    const char *forced = getenv("KEYSTEAD_PKCS11_FORCE_BRIDGE");
    if (forced && forced[0] == '1') return 1;
    const char *(*get_version)(void) = (const char *(*)(void))dlsym(RTLD_DEFAULT, "Py_GetVersion");
    if (!get_version) return 0;
    const char *version = get_version();
    size_t n = strlen(KS_PY_VERSION);
    return !(strncmp(version, KS_PY_VERSION, n) == 0 && (version[n] == '.' || version[n] == '+' || version[n] == ' '));
}

/* Python's own fork protocol for C hosts that fork after C_Initialize (os.fork does the same for Python hosts):
 * without it the child inherits a runtime whose thread states belong to threads that no longer exist. */
static PyGILState_STATE ks_fork_gil;
static void ks_before_fork(void) { ks_fork_gil = PyGILState_Ensure(); PyOS_BeforeFork(); }
static void ks_after_fork_parent(void) { PyOS_AfterFork_Parent(); PyGILState_Release(ks_fork_gil); }
static void ks_after_fork_child(void) { PyOS_AfterFork_Child(); PyGILState_Release(ks_fork_gil); }

static CK_RV ks_start_python(void) {
    if (Py_IsInitialized()) return KS_CKR_OK; /* same-version Python host: share its interpreter */
    if (!dlopen(KS_LIBPYTHON_SONAME, RTLD_NOW | RTLD_NOLOAD | RTLD_GLOBAL))
        dlopen(KS_LIBPYTHON_PATH, RTLD_NOW | RTLD_NOLOAD | RTLD_GLOBAL);
    PyConfig config;
    /* Isolated: the host's PYTHONPATH/PYTHONHOME (maybe another Python's) must not reach us; no signal handlers
     * either, the host owns its signals. */
    PyConfig_InitIsolatedConfig(&config);
    config.install_signal_handlers = 0;
    config.parse_argv = 0;
    PyStatus status = PyConfig_SetBytesString(&config, &config.home, KS_PYTHON_HOME);
    if (!PyStatus_Exception(status)) status = PyConfig_SetBytesString(&config, &config.program_name, "keystead-pkcs11");
    config.module_search_paths_set = 1;
    for (const char *const *p = ks_sys_path; *p && !PyStatus_Exception(status); p++) {
        wchar_t *wide = Py_DecodeLocale(*p, NULL);
        if (!wide) { status = PyStatus_NoMemory(); break; }
        status = PyWideStringList_Append(&config.module_search_paths, wide);
        PyMem_RawFree(wide);
    }
    if (!PyStatus_Exception(status)) status = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(status)) {
        fprintf(stderr, "keystead-pkcs11: cannot start Python: %s\n", status.err_msg ? status.err_msg : "?");
        return KS_CKR_GENERAL_ERROR;
    }
    pthread_atfork(ks_before_fork, ks_after_fork_parent, ks_after_fork_child);
    PyEval_SaveThread(); /* let any host thread take the GIL through PyGILState_Ensure (cffi does) */
    return KS_CKR_OK;
}

static const char *ks_library_path(void) {
    static char path[4096];
    Dl_info info;
    if (!dladdr((void *)&ks_library_path, &info) || !info.dli_fname || !realpath(info.dli_fname, path)) return NULL;
    return path;
}

/* -- outputs kept for the second call of a length query (see the header comment) ------------------------------- */

typedef struct ks_kept {
    struct ks_kept *next;
    CK_SESSION_HANDLE session;
    int kind;   /* which entry point serves it: c_shim.functions.KEPT_OUTPUT_KINDS */
    int served; /* handed over: the operation has ended; Python learns it from ks_kept_served or ks_kept_take */
    unsigned long ticket;
    CK_ULONG in_len, out_len;
    unsigned char *data; /* the input, then the output (NULL once served) */
} ks_kept;

#define KS_KEPT_BUCKETS 64
static ks_kept *ks_kept_table[KS_KEPT_BUCKETS];
static pthread_mutex_t ks_kept_lock = PTHREAD_MUTEX_INITIALIZER;
static long ks_kept_live;    /* entries not yet served, read without the lock to skip it when there are none */
static int ks_kept_disabled; /* set in the worker process: its calls never pass through the entry points */
static unsigned long ks_kept_tickets; /* the last ticket given (under the lock) */
#define KS_KEPT_SERVED 256
/* The tickets of served entries, each at its ticket modulo the size: Python reads them without the lock or a call
 * (an aligned word: it sees the old or the new ticket); a ticket found there was served, one not found (overwritten
 * by a later one, or not served) is asked with ks_kept_take. A served entry stays in the table until taken, replaced
 * by the next put of its session and kind, or forgotten. */
static unsigned long ks_kept_served[KS_KEPT_SERVED];

static inline ks_kept **ks_kept_slot(CK_SESSION_HANDLE session, int kind) {
    ks_kept **slot = &ks_kept_table[session % KS_KEPT_BUCKETS];
    while (*slot && ((*slot)->session != session || (*slot)->kind != kind)) slot = &(*slot)->next;
    return slot;
}

static void ks_kept_unlink(ks_kept **slot) {
    ks_kept *entry = *slot;
    *slot = entry->next;
    if (!entry->served) __atomic_sub_fetch(&ks_kept_live, 1, __ATOMIC_RELAXED);
    free(entry->data);
    free(entry);
}

/* Keep ``out`` as the answer to the next call of ``kind`` on ``session`` with input ``in`` (replacing any entry of
 * that session and kind). Its ticket when kept; 0 when not (the worker, or no memory): the call goes to Python. */
static unsigned long ks_kept_put(CK_SESSION_HANDLE session, int kind, const char *in, CK_ULONG in_len, const char *out,
                       CK_ULONG out_len) {
    if (ks_kept_disabled) return 0;
    ks_kept *entry = malloc(sizeof *entry);
    unsigned char *data = malloc(in_len + out_len ? in_len + out_len : 1);
    if (!entry || !data) { free(entry); free(data); return 0; }
    if (in_len) memcpy(data, in, in_len);
    if (out_len) memcpy(data + in_len, out, out_len);
    *entry = (ks_kept){NULL, session, kind, 0, 0, in_len, out_len, data};
    pthread_mutex_lock(&ks_kept_lock);
    unsigned long ticket = entry->ticket = ++ks_kept_tickets;
    ks_kept **slot = ks_kept_slot(session, kind);
    if (*slot) ks_kept_unlink(slot);
    entry->next = ks_kept_table[session % KS_KEPT_BUCKETS];
    ks_kept_table[session % KS_KEPT_BUCKETS] = entry;
    __atomic_add_fetch(&ks_kept_live, 1, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&ks_kept_lock);
    return ticket;
}

/* Take back the entry of ``session`` and ``kind``: 1 if the entry point had served it (the operation has ended),
 * 0 if not, -1 if there was none. */
static int ks_kept_take(CK_SESSION_HANDLE session, int kind) {
    pthread_mutex_lock(&ks_kept_lock);
    ks_kept **slot = ks_kept_slot(session, kind);
    int served = -1;
    if (*slot) {
        served = (*slot)->served;
        ks_kept_unlink(slot);
    }
    pthread_mutex_unlock(&ks_kept_lock);
    return served;
}

/* Forget every entry of ``session`` (its operations ended in Python, or it closed). */
static void ks_kept_forget(CK_SESSION_HANDLE session) {
    pthread_mutex_lock(&ks_kept_lock);
    for (ks_kept **slot = &ks_kept_table[session % KS_KEPT_BUCKETS]; *slot;) {
        if ((*slot)->session == session) ks_kept_unlink(slot);
        else slot = &(*slot)->next;
    }
    pthread_mutex_unlock(&ks_kept_lock);
}

static void ks_kept_drop_all(void) {
    for (int i = 0; i < KS_KEPT_BUCKETS; i++)
        while (ks_kept_table[i]) ks_kept_unlink(&ks_kept_table[i]);
}

/* Forget every entry (C_Logout, C_Finalize, C_Initialize: every session's operations ended). */
static void ks_kept_clear(void) {
    pthread_mutex_lock(&ks_kept_lock);
    ks_kept_drop_all();
    pthread_mutex_unlock(&ks_kept_lock);
}

/* The entry point's side: hand over the kept output if this call is the one it was kept for (same input bytes, a
 * buffer large enough); 1 when served (the caller returns CKR_OK), 0 to let Python answer the call. */
static inline int ks_kept_serve(int kind, CK_SESSION_HANDLE session, CK_BYTE_PTR in, CK_ULONG in_len,
                                CK_BYTE_PTR out, CK_ULONG_PTR out_len) {
    if (__atomic_load_n(&ks_kept_live, __ATOMIC_RELAXED) == 0 || !out || !out_len || (!in && in_len)) return 0;
    int served = 0;
    pthread_mutex_lock(&ks_kept_lock);
    ks_kept *entry = *ks_kept_slot(session, kind);
    if (entry && !entry->served && entry->in_len == in_len && *out_len >= entry->out_len &&
        (!in_len || memcmp(entry->data, in, in_len) == 0)) {
        if (entry->out_len) memcpy(out, entry->data + in_len, entry->out_len);
        *out_len = entry->out_len;
        entry->served = served = 1;
        __atomic_store_n(&ks_kept_served[entry->ticket % KS_KEPT_SERVED], entry->ticket, __ATOMIC_RELEASE);
        free(entry->data);
        entry->data = NULL;
        __atomic_sub_fetch(&ks_kept_live, 1, __ATOMIC_RELAXED);
    }
    pthread_mutex_unlock(&ks_kept_lock);
    return served;
}

/* -- attribute values kept for the second call of a C_GetAttributeValue length query -------------------------------
 * §5.7.5's two-call idiom (python-pkcs11 reads ten attributes of every object it makes, a NULL-pValue call then
 * one with buffers): for a session key this library holds in memory (whose values change only through this
 * library), the provider answers the length query with the values at hand and gives them here with the generation
 * it read before computing them (ks_answers_put); the next C_GetAttributeValue of that session on that object asking
 * exactly the attributes that had a length, in the same order, each into a large enough buffer, is answered from
 * them by the entry point (ks_answers_serve), once. Anything the provider does that could change what such a call
 * answers (C_SetAttributeValue or C_DestroyObject of a held key, a session closing, C_Logout, C_Finalize,
 * C_Initialize) calls ks_answers_clear after the change: it drops every entry and moves the generation on, so that a
 * put of values computed before the change (another thread's, racing with it) is refused. One entry per session
 * slot (a direct-mapped table: a collision replaces), one mutex; empty in a forked child and in the worker. */

typedef struct ks_answer {
    CK_SESSION_HANDLE session;
    CK_OBJECT_HANDLE object;
    CK_ULONG count;
    CK_ULONG *kinds; /* count types, then count lengths, then the values end to end */
} ks_answer;

#define KS_ANSWER_SLOTS 64
static ks_answer ks_answers[KS_ANSWER_SLOTS];
static pthread_mutex_t ks_answers_lock = PTHREAD_MUTEX_INITIALIZER;
static long ks_answers_live; /* entries held, read without the lock to skip it when there are none */
/* The generation (moved on by every clear), read by Python without a call before it computes the values. */
static unsigned long ks_answers_generation[1];

static void ks_answer_drop(ks_answer *entry) {
    if (!entry->kinds) return;
    free(entry->kinds);
    entry->kinds = NULL;
    __atomic_sub_fetch(&ks_answers_live, 1, __ATOMIC_RELAXED);
}

static void ks_answers_drop_all(void) {
    for (int i = 0; i < KS_ANSWER_SLOTS; i++) ks_answer_drop(&ks_answers[i]);
}

/* Keep the answer to a length query of ``count`` attributes (``fields``: ks_read_query's type, pValue-set, length
 * triples; ``lengths``: the provider's ulValueLen per attribute; ``data``: the values of those with a length, end to
 * end) for the session's next call, if nothing changed since ``generation`` was read. 1 if kept. */
static int ks_answers_put(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object, unsigned long generation,
                          const CK_ULONG *fields, CK_ULONG count, const CK_ULONG *lengths, const char *data,
                          CK_ULONG size) {
    if (ks_kept_disabled || count == 0 || count > 4096) return 0;
    CK_ULONG kept = 0, total = 0;
    for (CK_ULONG i = 0; i < count; i++) {
        if (lengths[i] == KS_UNAVAILABLE_INFORMATION) continue;
        if (lengths[i] > size - total) return 0;
        total += lengths[i];
        kept++;
    }
    if (kept == 0 || total != size) return 0;
    CK_ULONG *kinds = malloc(2 * kept * sizeof(CK_ULONG) + (size ? size : 1));
    if (!kinds) return 0;
    for (CK_ULONG i = 0, j = 0; i < count; i++) {
        if (lengths[i] == KS_UNAVAILABLE_INFORMATION) continue;
        kinds[j] = fields[3 * i];
        kinds[kept + j] = lengths[i];
        j++;
    }
    if (size) memcpy(kinds + 2 * kept, data, size);
    int done = 0;
    pthread_mutex_lock(&ks_answers_lock);
    if (ks_answers_generation[0] == generation) {
        ks_answer *entry = &ks_answers[session % KS_ANSWER_SLOTS];
        ks_answer_drop(entry);
        *entry = (ks_answer){session, object, kept, kinds};
        __atomic_add_fetch(&ks_answers_live, 1, __ATOMIC_RELAXED);
        done = 1;
    }
    pthread_mutex_unlock(&ks_answers_lock);
    if (!done) free(kinds);
    return done;
}

/* Drop every entry and move the generation on (see above). */
static void ks_answers_clear(void) {
    pthread_mutex_lock(&ks_answers_lock);
    __atomic_add_fetch(&ks_answers_generation[0], 1, __ATOMIC_RELEASE);
    ks_answers_drop_all();
    pthread_mutex_unlock(&ks_answers_lock);
}

/* The entry point's side: 1 if this call is the one the session's entry was kept for and it has been answered
 * (the caller returns CKR_OK), 0 to let Python answer it. */
static inline int ks_answers_serve(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object, CK_ATTRIBUTE_PTR t,
                                   CK_ULONG count) {
    if (__atomic_load_n(&ks_answers_live, __ATOMIC_RELAXED) == 0 || !t) return 0;
    int served = 0;
    pthread_mutex_lock(&ks_answers_lock);
    ks_answer *entry = &ks_answers[session % KS_ANSWER_SLOTS];
    if (entry->kinds && entry->session == session && entry->object == object && entry->count == count) {
        const CK_ULONG *kinds = entry->kinds, *lengths = kinds + count;
        CK_ULONG i = 0;
        while (i < count && t[i].type == kinds[i] && t[i].pValue && t[i].ulValueLen >= lengths[i]) i++;
        if (i == count) {
            const unsigned char *value = (const unsigned char *)(kinds + 2 * count);
            for (i = 0; i < count; i++) {
                memcpy(t[i].pValue, value, lengths[i]);
                value += lengths[i];
                t[i].ulValueLen = lengths[i];
            }
            ks_answer_drop(entry);
            served = 1;
        }
    }
    pthread_mutex_unlock(&ks_answers_lock);
    return served;
}

/* fork: the table is locked across it (after the interpreter's own handler took the GIL: registered before it,
 * so its prepare runs after; nothing holds this lock while waiting for the GIL) and the child starts empty, its
 * sessions being those of a library it must initialise again. */
static void ks_kept_before_fork(void) {
    pthread_mutex_lock(&ks_kept_lock);
    pthread_mutex_lock(&ks_answers_lock);
}
static void ks_kept_after_fork_parent(void) {
    pthread_mutex_unlock(&ks_answers_lock);
    pthread_mutex_unlock(&ks_kept_lock);
}
static void ks_kept_after_fork_child(void) {
    ks_kept_drop_all();
    ks_answers_drop_all();
    pthread_mutex_unlock(&ks_answers_lock);
    pthread_mutex_unlock(&ks_kept_lock);
}

static void ks_decide(void) {
    if (ks_foreign_python()) {
        ks_mode = KS_FOREIGN; /* the worker starts at C_Initialize */
    } else {
        ks_mode = KS_NATIVE;
        pthread_atfork(ks_kept_before_fork, ks_kept_after_fork_parent, ks_kept_after_fork_child);
        ks_route_rv = ks_start_python();
    }
}

/* Decide once per process how to serve the host; KS_CKR_OK when the caller may proceed. */
static inline CK_RV ks_route(void) {
    pthread_once(&ks_once, ks_decide); /* after the first call: one atomic load */
    return ks_route_rv;
}
