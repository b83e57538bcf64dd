"""How the C allocator of a run's process hands out and takes back large blocks.

torch's CPU tensors come from ``malloc``. glibc serves a block above its mmap threshold
(128 KB, rising with use to at most 32 MB) with a fresh ``mmap`` and gives it back with
``munmap`` when freed, and a thread other than the main one (collab's compute thread) gets
its own arena whose heaps are at most 64 MB, so larger blocks are mapped anew too. Every
training step and every generation batch allocates and frees blocks of hundreds of MB
(logits over a 49k vocabulary, activations, KV caches), so the kernel zeroes and maps
those pages again each time: a 4-step full fine-tuning of the embedded model took 3.5
million page faults and 11.7 s of system time out of 25.6 s (``/usr/bin/time``).

:func:`configure` keeps freed memory in the process for reuse: one arena for every thread
(``M_ARENA_MAX`` 1: the compute thread allocates from the main heap, which has no size
limit), no mmap for large blocks (``M_MMAP_THRESHOLD`` at its maximum) and no automatic
trimming of the heap's top (``M_TRIM_THRESHOLD``). ``bench/allocator.py`` (a 4-step full
fine-tuning on a thread, fresh processes): 1.09 vs 3.05 million faults, 4.5 vs 7.7 s of
system time, 23.0 vs 24.6 s of training (0.94x), peak resident size 4.12 vs 3.84 GB (1.07x). What is freed is not
lost to the machine: every training gives the heap's free pages back when it ends
(``malloc_trim``, ``runtime.trainer.release_memory``), :func:`give_back` after every other job
of the compute thread does so whenever less than a quarter of the machine's memory is
available, and a run gives everything back when it ends. Trimming only when short of memory
was measured too and rejected: Sci-CoT took 129 s instead of 138 s, but its resident size
after each training grew by 1.6 GB a training (the heap's high-water mark, fragmented, kept
rising) where it falls back to the loaded models with a trim after each training (the
price: each training faults its pages in again; Sci-CoT 2.3 million faults without the
trims, more with them). Sci-CoT with glibc's defaults took 161 s (5.1 million faults, 80 s of
system time). ``COLLAB_MALLOC=default`` keeps glibc's behaviour.

Only on Linux with glibc, and never over the user's own choice: with any of
``MALLOC_ARENA_MAX``, ``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``,
``MALLOC_TOP_PAD_`` or a ``glibc.malloc`` tunable in ``GLIBC_TUNABLES`` in the environment,
or ``COLLAB_MALLOC=default``, nothing is changed. ``collab run`` calls it before the
compute thread starts (an arena is chosen at a thread's first allocation).
"""
from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

USER_VARS = ("MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_")
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -3, -8
LARGEST = 2**31 - 1  # mallopt takes an int

_applied: str | None = None
_keeps = False  # collab's settings are in effect: freed blocks stay for reuse
# give freed memory back when less than this share of the machine's memory is available
SHORT = 0.25


def _libc():
    import ctypes
    import ctypes.util

    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")


def configure(environ: Mapping[str, str] | None = None) -> str:
    """Apply the allocator settings above to this process (once); return what was done,
    in words, for the run's settings line."""
    global _applied
    env = os.environ if environ is None else environ
    if not sys.platform.startswith("linux"):
        return "malloc: the system's"
    if env.get("COLLAB_MALLOC", "").strip().lower() == "default":
        return "malloc: glibc's defaults (COLLAB_MALLOC=default)"
    if any(env.get(v) for v in USER_VARS) or "glibc.malloc" in env.get("GLIBC_TUNABLES", ""):
        return "malloc: as set by the user"
    if _applied is not None:
        return _applied
    try:
        import ctypes

        libc = _libc()
        libc.gnu_get_libc_version  # noqa: B018 - glibc only (musl has no mallopt tunables)
        done = [libc.mallopt(ctypes.c_int(p), ctypes.c_int(v))
                for p, v in ((M_ARENA_MAX, 1), (M_MMAP_THRESHOLD, LARGEST), (M_TRIM_THRESHOLD, LARGEST))]
    except (OSError, AttributeError):
        _applied = "malloc: the system's (not glibc)"
        return _applied
    global _keeps
    _keeps = all(done)
    _applied = "malloc: freed blocks kept for reuse (collab's default)" if _keeps else \
        "malloc: glibc's defaults (mallopt refused)"
    return _applied


def _short_of_memory() -> bool:
    """Less than :data:`SHORT` of the machine's memory is available (Linux ``/proc/meminfo``)."""
    try:
        info = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines() if ":" in line)
        total, available = (int(info[k].split()[0]) for k in ("MemTotal", "MemAvailable"))
    except (OSError, KeyError, ValueError):
        return True
    return available < SHORT * total


def keeping() -> bool:
    """Whether collab's settings are in effect: freed blocks stay in the process."""
    return _keeps


def give_back(force: bool = False) -> bool:
    """Return the heap's free pages to the machine (glibc ``malloc_trim``) when ``force``, or
    when collab keeps freed blocks and the machine is short of memory; otherwise leave them
    for the next step. True when it trimmed. Called after every compute-thread job (cheap:
    one read of ``/proc/meminfo``), after each training (forced unless collab keeps blocks:
    then glibc's own trimming is in effect, and a process that trained once needs a trim to
    fall back) and when a run ends (forced)."""
    if not sys.platform.startswith("linux"):
        return False
    if not force and not (_keeps and _short_of_memory()):
        return False
    try:
        _libc().malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (musl): nothing to trim
        return False
    return True
