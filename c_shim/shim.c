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

static void ks_decide(void) {
    if (ks_foreign_python()) {
        ks_mode = KS_FOREIGN; /* the worker starts at C_Initialize */
    } else {
        ks_mode = KS_NATIVE;
        ks_route_rv = ks_start_python();
    }
}

/* Decide once per process how to serve the host; KS_CKR_OK when the caller may proceed. */
static inline CK_RV ks_route(void) {
    pthread_once(&ks_once, ks_decide); /* after the first call: one atomic load */
    return ks_route_rv;
}
