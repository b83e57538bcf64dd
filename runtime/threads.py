"""Thread settings of a run, chosen before torch is imported.

torch's CPU build runs its kernels on an OpenMP team (GNU libgomp). By default an idle
team thread spins for a while before it sleeps; on a machine whose cores are shared (a
laptop running other work, a CI box, two collab runs) the spinning threads take the cores
the working ones need, and generation was measured 2-40x slower. ``OMP_WAIT_POLICY=PASSIVE``
makes idle threads sleep at once; it costs a few percent on an idle machine
(``bench/threads.py`` measures both). libgomp reads these variables once, when torch loads
it, so :func:`configure` must run before the first ``import torch`` of the process; the CLI
calls it first thing in ``collab run``.

What the user set is kept: with ``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT`` in the environment
the wait policy is not changed, and ``OMP_NUM_THREADS`` is only set by ``--threads``.
Measured on 2 cores (bench/threads.py): PASSIVE costs ~20% of generation speed on an idle
machine and gives 1.7-1.85x on one whose cores are busy; ``GOMP_SPINCOUNT=10000`` keeps the
idle speed (0.98x) and gives 1.34x loaded. collab picks PASSIVE: the slow case it prevents
is the one that turns minutes into hours.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import MutableMapping

WAIT_POLICY = "PASSIVE"
# the variables the thread libraries torch may load read for their team size
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


@dataclass(frozen=True)
class ThreadSettings:
    threads: int | None      # the team size asked for (None: the library's default, one per core)
    wait_policy: str         # OMP_WAIT_POLICY as the process will run with it
    wait_policy_from: str    # "user" (the environment had it), "collab", or "too late" (torch came first)

    def describe(self) -> str:
        threads = str(self.threads) if self.threads else f"default ({os.cpu_count()} cores)"
        how = {"user": "as set by the user", "collab": "collab's default",
               "too late": "torch was imported before collab could set it"}[self.wait_policy_from]
        return f"threads {threads}, OMP_WAIT_POLICY={self.wait_policy} ({how})"


def configure(threads: int | None = None, environ: MutableMapping[str, str] | None = None) -> ThreadSettings:
    """Set this process's thread settings: ``threads`` (>= 1, None leaves the team size to
    the user's ``OMP_NUM_THREADS`` or the library) and a passive wait policy unless the user
    chose one. Call before torch is imported; if it already is, the team size is still set
    (``torch.set_num_threads``) and the wait policy is reported as not applied."""
    env = os.environ if environ is None else environ
    if threads is not None:
        if int(threads) < 1:
            raise ValueError(f"threads must be at least 1, not {threads}")
        for var in THREAD_VARS:
            env[var] = str(int(threads))
    if threads is None and env.get("OMP_NUM_THREADS", "").strip().isdigit():
        threads = int(env["OMP_NUM_THREADS"])
    torch = sys.modules.get("torch")
    if torch is not None:
        if threads is not None:
            torch.set_num_threads(int(threads))
        source = "user" if "OMP_WAIT_POLICY" in env else "too late"
        return ThreadSettings(threads, env.get("OMP_WAIT_POLICY", "default"), source)
    if env.get("OMP_WAIT_POLICY"):
        return ThreadSettings(threads, env["OMP_WAIT_POLICY"], "user")
    if env.get("GOMP_SPINCOUNT"):  # the user tuned libgomp's spinning: PASSIVE would override it
        return ThreadSettings(threads, f"default, GOMP_SPINCOUNT={env['GOMP_SPINCOUNT']}", "user")
    env["OMP_WAIT_POLICY"] = WAIT_POLICY
    return ThreadSettings(threads, WAIT_POLICY, "collab")
