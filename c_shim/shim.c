/* Keystead PKCS#11 shim: the C side of libkeystead_pkcs11.so.
 *
 * The entry points only marshal into Python (cffi extern "Python" functions bound in c_shim/_marshal.py). What
 * has to be C is what must happen before Python may run:
 *  - foreign-Python hosts: a process that already runs another Python version must not get a second interpreter
 *    (3.11 embedded in 3.12 hangs; symbols of our libpython bind to the host's). Such hosts are served through
 *    p11-kit's RPC: `p11-kit server --provider <this library>` (a C process, where we embed normally) and the
 *    function list of p11-kit-client.so.
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
/* Foreign mode: p11-kit-client.so's lists (the 3.0 one may be absent) and the pipe that keeps the server alive. */
static CK_FUNCTION_LIST *ks_client;
static CK_FUNCTION_LIST_3_0 *ks_client_3_0;
static int ks_bridge_pipe = -1;

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

/* Start `p11-kit server` on a private socket, behind `sh` watching a pipe: when this process ends, however it
 * ends, the pipe closes and the script stops the server and removes the socket directory. */
static CK_RV ks_start_bridge(void) {
    static char dir[] = "/tmp/keystead-pkcs11-XXXXXX";
    char socket_path[sizeof dir + 16], address[sizeof socket_path + 16];
    const char *library = ks_library_path();
    if (!library || !mkdtemp(dir)) return KS_CKR_GENERAL_ERROR;
    snprintf(socket_path, sizeof socket_path, "%s/socket", dir);
    snprintf(address, sizeof address, "unix:path=%s", socket_path);

    extern char **environ;
    size_t count = 0;
    while (environ[count]) count++;
    char **env = calloc(count + 1, sizeof *env);
    if (!env) return KS_CKR_HOST_MEMORY;
    for (size_t i = 0, j = 0; i < count; i++)
        if (strncmp(environ[i], "KEYSTEAD_PKCS11_FORCE_BRIDGE=", 29) != 0) env[j++] = environ[i];

    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) { free(env); return KS_CKR_GENERAL_ERROR; }
    static const char script[] =
        "p11-kit server -f --provider \"$1\" -n \"$2\" pkcs11: >/dev/null & pid=$!\n"
        "cat >/dev/null\n"
        "kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf \"$3\"\n";
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[0], 0); /* dup2 clears FD_CLOEXEC on the copy */
        execle("/bin/sh", "sh", "-c", script, "keystead-pkcs11-bridge", library, socket_path, dir, (char *)NULL, env);
        _exit(127);
    }
    free(env);
    close(fds[0]);
    if (pid < 0) { close(fds[1]); return KS_CKR_GENERAL_ERROR; }
    ks_bridge_pipe = fds[1];
    waitpid(pid, NULL, WNOHANG);

    struct stat st;
    struct timespec tick = {0, 20 * 1000 * 1000};
    for (int i = 0; i < KS_BRIDGE_TIMEOUT_MS / 20 && stat(socket_path, &st) != 0; i++) nanosleep(&tick, NULL);
    if (stat(socket_path, &st) != 0) {
        fprintf(stderr, "keystead-pkcs11: p11-kit server did not start (is the p11-kit package installed?)\n");
        close(ks_bridge_pipe);
        ks_bridge_pipe = -1;
        return KS_CKR_GENERAL_ERROR;
    }
    setenv("P11_KIT_SERVER_ADDRESS", address, 1);
    void *client = dlopen(KS_P11KIT_CLIENT, RTLD_NOW | RTLD_LOCAL);
    CK_RV (*get_list)(CK_FUNCTION_LIST_PTR_PTR) = client ? (CK_RV(*)(CK_FUNCTION_LIST_PTR_PTR))dlsym(client, "C_GetFunctionList") : NULL;
    if (!get_list || get_list(&ks_client) != KS_CKR_OK || !ks_client) {
        fprintf(stderr, "keystead-pkcs11: cannot load %s\n", KS_P11KIT_CLIENT);
        return KS_CKR_GENERAL_ERROR;
    }
    CK_RV (*get_interface)(CK_UTF8CHAR_PTR, CK_VERSION_PTR, CK_INTERFACE_PTR_PTR, CK_FLAGS) =
        (CK_RV(*)(CK_UTF8CHAR_PTR, CK_VERSION_PTR, CK_INTERFACE_PTR_PTR, CK_FLAGS))dlsym(client, "C_GetInterface");
    CK_INTERFACE *iface = NULL;
    if (get_interface && get_interface((CK_UTF8CHAR_PTR) "PKCS 11", NULL, &iface, 0) == KS_CKR_OK && iface &&
        ((CK_VERSION *)iface->pFunctionList)->major >= 3)
        ks_client_3_0 = (CK_FUNCTION_LIST_3_0 *)iface->pFunctionList;
    return KS_CKR_OK;
}

static void ks_decide(void) {
    if (ks_foreign_python()) {
        ks_mode = KS_FOREIGN;
        ks_route_rv = ks_start_bridge();
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
