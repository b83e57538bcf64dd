"""A local model as N Ray actors: the model option ``replicas N``.

Each replica is a Ray actor that owns one executor (transformers or vLLM, made by
``runtime.agents.make_executor`` from the role's spec without ``replicas``) on its own
CPUs or GPUs. The agent sends a batch to :class:`ReplicatedExecutor`, which cuts it into
one contiguous shard per replica, runs the shards at once and returns the results in the
order of the requests. Nothing else changes:

- the driver (the ``collab run`` process) stays the only writer of the run store: replicas
  return results, the agent settles them and the model handlers write them;
- cache keys and per-row seeds are made before a request reaches the agent (the run seed,
  the operation, the row), and a seeded sample is drawn from its own random stream
  (``runtime.executors.transformers_exec``), so the outputs do not depend on the replica
  count nor on which replica answered;
- distribution is Ray's: a replica whose process dies is restarted by Ray (its model
  loaded again) and the shard it held is retried on it (``max_restarts``,
  ``max_task_retries``); the driver receives each shard's results exactly once, so no row
  is lost or written twice. A replica that keeps dying fails the batch with one line.

Ray is imported only here. The driver joins the Ray cluster named by ``RAY_ADDRESS`` (a
cluster started with ``ray start --head`` on a head node, see docs/scale.md) or, without
one, starts a local Ray on 127.0.0.1 for the run and stops it when the run ends.
Resources of each replica: on a cluster with GPUs, the GPUs its engine needs (vLLM:
tensor x pipeline parallel size; transformers: 1) and one CPU; on a machine without
GPUs, an equal share of its CPUs (at least 1), which is also the replica's thread count.
"""
from __future__ import annotations

import math
import os
import threading
from typing import Any

# restarts of a dead replica (each reloads its model) and retries of the shard it held
MAX_RESTARTS = 2
# seconds the replicas may take to start and load their models (COLLAB_REPLICA_START_S)
START_SECONDS = 1800

_LOCK = threading.Lock()
_STARTED_BY_US = False  # this process started the local Ray instance (shut down with the last user)
_USERS = 0


def replica_spec(spec: dict) -> dict:
    """The spec one replica's executor is made from: the role's, without ``replicas``."""
    options = {k: v for k, v in (spec.get("options") or {}).items() if k != "replicas"}
    return {**spec, "options": options}


def gpus_per_replica(spec: dict) -> int:
    """GPUs one replica's engine uses when the cluster has GPUs (collabdsl.plan shows the same)."""
    if spec.get("backend") == "vllm":
        kw = spec.get("kwargs") or {}
        return int(kw.get("tensor_parallel_size") or 1) * int(kw.get("pipeline_parallel_size") or 1)
    device = str((spec.get("options") or {}).get("device") or "")
    return 0 if device == "cpu" else 1


def _ensure_ray():
    """Join ``RAY_ADDRESS``'s cluster or start a local Ray on 127.0.0.1 (once per process)."""
    global _STARTED_BY_US, _USERS
    import logging

    import ray

    with _LOCK:
        if not ray.is_initialized():
            address = os.environ.get("RAY_ADDRESS") or None
            # errors only: a run prints its own lines (Ray's notices of a start from a worker
            # thread and of its token authentication are not the user's business)
            kwargs: dict[str, Any] = {"logging_level": logging.ERROR, "log_to_driver": False,
                                      "configure_logging": True}
            if address is None:
                kwargs.update(include_dashboard=False, _node_ip_address="127.0.0.1",
                              num_cpus=os.cpu_count() or 1)
                # the replicas import collab's modules from the driver's interpreter and path
                kwargs["runtime_env"] = {"env_vars": {"PYTHONPATH": _pythonpath()}}
            ray.init(address=address, **kwargs)
            _STARTED_BY_US = address is None
        _USERS += 1
    return ray


def _pythonpath() -> str:
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return os.pathsep.join(p for p in [here, os.environ.get("PYTHONPATH", "")] if p)


def _release_ray() -> None:
    global _STARTED_BY_US, _USERS
    import ray

    with _LOCK:
        _USERS = max(0, _USERS - 1)
        if _USERS == 0 and _STARTED_BY_US and ray.is_initialized():
            ray.shutdown()
            _STARTED_BY_US = False


class ReplicaError(RuntimeError):
    """A replica could not load its model, or died more often than Ray restarts it."""


class _Replica:
    """One replica: an executor in a Ray actor process (made on the actor's first call)."""

    def __init__(self, spec: dict, threads: int | None):  # threads: None on GPUs (the library's)
        from runtime import threads as thread_settings

        thread_settings.configure(threads)  # before torch loads in this process
        from runtime.agents import make_executor

        # a model that cannot load is an answer, not a dead actor: Ray would restart it and
        # retry (loading again, printing each remote traceback) before giving up
        self.executor, self.error = None, None
        try:
            self.executor = make_executor(spec)
        except Exception as exc:  # noqa: BLE001 - reported by info() as one line
            self.error = f"{type(exc).__name__}: {exc}"

    def info(self) -> dict:
        if self.executor is None:
            return {"pid": os.getpid(), "error": self.error}
        dtype = getattr(self.executor, "dtype", None)
        return {"pid": os.getpid(), "batch_size": int(getattr(self.executor, "batch_size", 16) or 16),
                "dtype": None if dtype is None else str(dtype).removeprefix("torch.")}

    def generate(self, requests: list) -> list:
        return list(self.executor.generate(requests))

    def choose(self, requests: list) -> list:
        return list(self.executor.choose(requests))

    def close(self) -> None:
        if self.executor is not None:
            self.executor.close()


def shards(n_items: int, n_parts: int) -> list[tuple[int, int]]:
    """Contiguous [start, end) ranges cutting ``n_items`` into at most ``n_parts`` near-equal
    non-empty parts (the first ones one longer)."""
    n_parts = max(1, min(n_parts, n_items))
    size, extra = divmod(n_items, n_parts)
    out, start = [], 0
    for i in range(n_parts):
        end = start + size + (1 if i < extra else 0)
        out.append((start, end))
        start = end
    return [s for s in out if s[1] > s[0]]


def resources(cluster: dict, gpus_each: int, replicas: int) -> tuple[int, float, int | None]:
    """(GPUs, CPUs, threads) of each replica on a Ray cluster with ``cluster`` resources (its
    totals). With GPUs each replica takes the GPUs its engine needs, and a cluster too small
    for all of them is an error now rather than replicas waiting for ever; without GPUs the
    replicas share the CPUs equally (a fraction of one each when there are more replicas than
    CPUs), each running that many threads (at least 1)."""
    total_gpus, total_cpus = float(cluster.get("GPU", 0) or 0), float(cluster.get("CPU", 1) or 1)
    if total_gpus > 0 and gpus_each > 0:
        if gpus_each * replicas > total_gpus:
            raise ReplicaError(f"{replicas} replicas of {gpus_each} GPU{'s' if gpus_each > 1 else ''} each "
                               f"need {gpus_each * replicas} GPUs; the Ray cluster has {total_gpus:g}")
        return gpus_each, min(1.0, total_cpus / replicas), None
    share = total_cpus / replicas  # a fraction rounded down: N of them must fit the total
    return 0, (float(int(share)) if share >= 1 else math.floor(share * 10_000) / 10_000), max(1, int(share))


class ReplicatedExecutor:
    """The executor interface (``generate``, ``choose``, ``batch_size``, ``dtype``, ``close``)
    over ``replicas`` Ray actors, each owning the executor of ``replica_spec(spec)``."""

    def __init__(self, spec: dict, replicas: int):
        if int(replicas) < 1:
            raise ValueError(f"replicas must be at least 1, not {replicas}")
        self.replicas = int(replicas)
        ray = _ensure_ray()
        try:
            inner = replica_spec(spec)
            gpus, cpus, threads = resources(ray.cluster_resources(), gpus_per_replica(inner), self.replicas)
            actor = ray.remote(max_restarts=MAX_RESTARTS, max_task_retries=MAX_RESTARTS)(_Replica)
            self.actors = [actor.options(num_cpus=cpus, num_gpus=gpus).remote(inner, threads)
                           for _ in range(self.replicas)]
            refs = [a.info.remote() for a in self.actors]
            wait = float(os.environ.get("COLLAB_REPLICA_START_S") or START_SECONDS)
            ready, pending = ray.wait(refs, num_returns=len(refs), timeout=wait)
            if pending:
                raise ReplicaError(f"{len(pending)} of {self.replicas} replicas did not start within {wait:g} s "
                                   f"(each asks for {gpus} GPUs and {cpus:g} CPUs; the Ray cluster has "
                                   f"{ray.cluster_resources()}); COLLAB_REPLICA_START_S sets the wait")
            infos = self._get(refs)
            for i, info in enumerate(infos):
                if info.get("error"):
                    raise ReplicaError(f"replica {i} of {self.replicas} could not load the model: {info['error']}")
        except BaseException:
            self._kill()
            _release_ray()
            raise
        self.gpus, self.cpus = gpus, cpus
        # the agent's batch: every replica's own batch at once
        self.batch_size = sum(i["batch_size"] for i in infos)
        self.dtype = infos[0]["dtype"]
        self.calls = [0] * self.replicas  # requests answered by each replica

    @staticmethod
    def _get(refs):
        """``ray.get`` with the cause of a failed replica call raised as itself (one line, no
        remote traceback in the message)."""
        import ray

        try:
            return ray.get(refs)
        except ray.exceptions.RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, BaseException):
                raise cause from None
            raise RuntimeError(f"a replica failed: {str(exc).splitlines()[0]}") from None
        except ray.exceptions.RayActorError as exc:
            raise ReplicaError(f"a replica died {MAX_RESTARTS + 1} times and was given up: "
                               f"{str(exc).splitlines()[0]}") from None

    def pids(self) -> list[int]:
        return [i["pid"] for i in self._get([a.info.remote() for a in self.actors])]

    def _spread(self, method: str, requests: list) -> list:
        requests = list(requests)
        if not requests:
            return []
        parts = shards(len(requests), self.replicas)
        refs = [getattr(self.actors[i], method).remote(requests[a:b]) for i, (a, b) in enumerate(parts)]
        results = self._get(refs)
        out = []
        for i, ((a, b), res) in enumerate(zip(parts, results)):
            if len(res) != b - a:
                raise RuntimeError(f"replica {i} returned {len(res)} results for {b - a} requests")
            self.calls[i] += b - a
            out.extend(res)
        return out

    def generate(self, requests: list) -> list:
        return self._spread("generate", requests)

    def choose(self, requests: list) -> list:
        return self._spread("choose", requests)

    def _kill(self) -> None:
        import ray

        for a in getattr(self, "actors", []):
            try:
                ray.kill(a)
            except Exception:  # noqa: BLE001 - already gone
                pass
        self.actors = []

    def close(self) -> None:
        if getattr(self, "actors", None):
            self._kill()
            _release_ray()
