"""Freed memory kept for reuse on the CPU: no page-fault tax on large tensors.

glibc's malloc (Linux) serves every block above 32 MiB with a fresh ``mmap``
and gives it back to the kernel on ``free``. A CNN step on the CPU allocates
and frees dozens of such activation tensors (one 3x3 stage of Lite0 at
192 px, batch 64, holds 64 x 96 x 96 x 96 floats: 226 MB), so the kernel
zero-fills every 4 KiB page of every one of them again, as a minor page
fault, every step. On this course's 2-core machine ``benchmarks/cpu_memory.py``
measured a training step of Lite0 at 192 px, batch 64, at 10.4 s (9.4 s of
CPU time in the kernel) without ``keep_freed_memory()`` and 2.0 s with it
(2026-12-04, commit 6df0f51), and at 3.7 s (2.9 s in the kernel) against
1.9 s on a later run with 19 GiB of the 24 free (``benchmarks/RESULTS.md``,
"CPU memory reuse"). What a fault costs depends on the machine's state;
``keep_freed_memory()`` removes the faults themselves.

``keep_freed_memory()`` tells glibc (``mallopt``) to serve large blocks from
its heap and keep what is freed there, so later steps reuse pages that are
already mapped. The cost: the process keeps its peak memory instead of
handing it back between steps. ``train.fit`` and ``train.predict`` call it on
the CPU; it does nothing on other C libraries (macOS, Windows, musl) or when
the environment variable ``FACEATTR_KEEP_FREED_MEMORY=0`` is set.

``give_back_freed_memory()`` (glibc's ``malloc_trim``) hands what is free back
to the kernel once a memory-hungry phase is over: ``train.fit`` calls it after
its last epoch, so scoring, the next model, or another process does not live
beside the training peak. Without it two 1-thread runs of Lite2 (192 and
224 px) on this course's 24 GiB machine held 9.2 and 11.6 GiB while they
trained, and the kernel killed the first at 11.9 GiB as it went on to score
the unaligned test crops. In ``benchmarks/cpu_memory.py`` it takes a process
from 6.0 GiB after Lite0's training steps to 0.9 GiB.
"""
import ctypes
import ctypes.util
import os
import platform

M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4  # mallopt parameters of glibc's malloc.h
_done: bool | None = None
_libc: ctypes.CDLL | None = None


def keep_freed_memory() -> bool:
    """Make glibc keep freed memory for reuse (once per process); True when it is in effect."""
    global _done, _libc
    if _done is not None:
        return _done
    _done = False
    if os.environ.get("FACEATTR_KEEP_FREED_MEMORY", "1") == "0" or platform.libc_ver()[0] != "glibc":
        return _done
    try:
        _libc = libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return _done
    # no mmap for large blocks (they come from the heap), and trim the heap's top back to the kernel only
    # when 2 GiB are free there (mallopt takes a C int)
    _done = bool(libc.mallopt(M_MMAP_MAX, 0)) and bool(libc.mallopt(M_TRIM_THRESHOLD, 2**31 - 1))
    return _done


def give_back_freed_memory() -> bool:
    """Return the free part of the heap to the kernel (glibc ``malloc_trim``); True when some went back.

    Does nothing unless ``keep_freed_memory()`` is in effect. The next large allocations fault their
    pages in once more, so call it between phases, not between steps.
    """
    return bool(_done and _libc is not None and _libc.malloc_trim(0))


def resident_bytes() -> float:
    """This process's resident memory in bytes, from Linux's ``/proc/self/statm`` (NaN without it)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return float("nan")
