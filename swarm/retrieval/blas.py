"""How many threads NumPy's BLAS (OpenBLAS) may use for the routing index's matrix products.

A route retrieval embeds the sub-goal (onnxruntime, which has its own thread pool) and then scores
it against every script (one matrix-vector product). OpenBLAS's threads keep spinning after a
product and fight onnxruntime's for the same cores: on two cores one route took 36 ms with the
default pool and 21 ms with one BLAS thread (bench/routing.py). One thread does the product in a
millisecond or two at 10,000 scripts, so the routing index asks for one.

This is what threadpoolctl does, without the dependency: find the OpenBLAS library NumPy loaded
(in /proc/self/maps) and call its `set_num_threads`. Where there is none (another BLAS, another OS)
nothing changes and `blas_threads` answers None.
"""

from __future__ import annotations

import ctypes
import threading

_LOCK = threading.Lock()
_LIB: list = []  # [(get, set)] once looked up; [None] when no OpenBLAS was found
SUFFIXES = ("64_", "_64_", "")  # scipy-openblas64 (NumPy >= 2), then a plain OpenBLAS
PREFIXES = ("scipy_openblas_", "openblas_")


def _openblas():
    with _LOCK:
        if not _LIB:
            _LIB.append(_find())
        return _LIB[0]


def _find():
    import numpy  # noqa: F401  (loads its BLAS)

    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            paths = sorted({line.split()[-1] for line in maps if "openblas" in line.lower() and ".so" in line})
    except OSError:
        return None
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix in PREFIXES:
            for suffix in SUFFIXES:
                get = getattr(lib, f"{prefix}get_num_threads{suffix}", None)
                put = getattr(lib, f"{prefix}set_num_threads{suffix}", None)
                if get is not None and put is not None:
                    get.restype, put.argtypes = ctypes.c_int, [ctypes.c_int]
                    return get, put
    return None


def blas_threads() -> int | None:
    """The threads OpenBLAS may use now; None when NumPy's BLAS is not an OpenBLAS found here."""
    found = _openblas()
    return int(found[0]()) if found else None


def set_blas_threads(n: int) -> int | None:
    """Let OpenBLAS use n threads (for the whole process); returns the number before, or None (no OpenBLAS)."""
    found = _openblas()
    if not found:
        return None
    before = int(found[0]())
    if before != n:
        found[1](n)
    return before
