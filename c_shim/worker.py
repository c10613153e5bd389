"""The worker that serves a host running another Python version (issue 15; DESIGN "Foreign-Python hosts").

``libkeystead_pkcs11.so``, loaded by such a host, starts ``<this project's python> -I -c ... LIBRARY FD`` at
C_Initialize rather than embedding a second interpreter in the host. Here the library is loaded into the
project's own interpreter, which it then shares as in any same-version host, and ``ks_worker_main`` serves the
calls the host forwards on the control socket ``FD`` until the host finalizes or exits.
"""

from __future__ import annotations

import ctypes
import sys


def main(argv: list[str] | None = None) -> int:
    """``main([library, fd])``: serve until the host is gone (only a start-up failure returns)."""
    library, fd = sys.argv[1:3] if argv is None else argv[:2]
    lib = ctypes.CDLL(library)  # a CDLL call releases the GIL: the worker's threads take it per call
    serve = lib.ks_worker_main
    serve.argtypes = [ctypes.c_int]
    serve.restype = ctypes.c_int
    return int(serve(int(fd)))


__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
