"""Peak resident memory per node, measured by the process itself.

Every piece of local model work (a load, a batch of generations or scores, a training) runs
on the one compute thread (``runtime.agents.in_compute_thread``), one at a time. Around each
such job the process resets the kernel's high-water mark of its resident set (Linux:
writing ``5`` to ``/proc/self/clear_refs``) and reads it back after (``VmHWM``), so the
peak of that job is known exactly, not sampled. The peak is charged to the nodes the job
served (a batch may hold requests of several nodes) and stored with each node
(``nodes.peak_mb``: the highest of its jobs), so ``collab show`` and the benches say which
step needs the memory. Elsewhere than Linux nothing is measured (None).

The figure is the whole process's resident memory while the job ran: the models already
loaded count, since they are what the step needs beside its own work.

``model_dims`` (from ``collabdsl.memsize``, where the estimates live, shared with ``collab
plan``) reads the sizes the memory estimates need from a model's config.
"""
from __future__ import annotations

import contextvars
import threading
from pathlib import Path

from collabdsl.memsize import model_dims  # noqa: F401 - the runtime's name for it

# the node (run key) a coroutine works for: set by run_node, read when a request is queued
NODE: contextvars.ContextVar[str | None] = contextvars.ContextVar("collab_node", default=None)

_CLEAR = Path("/proc/self/clear_refs")
_lock = threading.Lock()
_peaks: dict[str, float] = {}


def status_mb(field: str, pid: int | str = "self") -> float | None:
    """A memory field of ``/proc/PID/status`` (``VmRSS``, ``VmHWM``) in MB; None elsewhere
    than Linux or when the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _hwm_mb() -> float | None:
    return status_mb("VmHWM")


def _reset() -> bool:
    try:
        _CLEAR.write_text("5")
        return True
    except OSError:
        return False


def measured(fn, nodes) -> object:
    """``fn()`` with the peak resident memory while it ran charged to each of ``nodes``."""
    nodes = [n for n in nodes if n]
    if not nodes or not _reset():
        return fn()
    try:
        return fn()
    finally:
        peak = _hwm_mb()
        if peak is not None:
            with _lock:
                for n in nodes:
                    _peaks[n] = max(_peaks.get(n, 0.0), peak)


def take_peak(node: str) -> float | None:
    """The highest peak charged to ``node`` since it was last taken (MB), forgotten after."""
    with _lock:
        return _peaks.pop(node, None)
