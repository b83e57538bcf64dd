"""Agents: each model backend is an agent that owns one executor (loaded once, lazily),
the current version of every role bound to it, and a request queue.

Nodes submit requests; the agent's worker takes every request queued by every ready
node and sends them to the backend in batches of up to ``batch_size`` (requests that
cannot share a batch, e.g. different adapters or sampling options, are grouped by the
executor). Roles declared with the same backend reference (``small`` and ``large``
both ``embedded(...)``) share one agent and one copy of the weights, each with its
own version (LoRA adapter).

Memory policy (explicit): local backends (embedded, hf, gguf, vllm) are counted by
the size of their weight files. Before a local backend loads, idle local agents are
unloaded, least recently used first, until the new one fits under
``COLLAB_MAX_LOADED_GB`` (default: 60% of physical memory). A backend that alone is
larger than the budget still loads (alone). An unloaded agent reloads on its next
request; its versions (adapters) are kept, so nothing is lost.
"""
from __future__ import annotations

import asyncio
import functools
import os
import threading
import time
from dataclasses import dataclass
from typing import Any

from runtime import allocator, memory
from runtime.executors.base import ChoiceRequest, GenRequest

LOCAL = ("embedded", "hf", "gguf", "vllm")

# Loading a backend imports large libraries, and transformers' lazy imports are not safe
# from two threads at once: local backends load on the compute thread (below), API
# backends on another, so every load takes this lock. Training runs on the compute thread.
HEAVY_LOCK = threading.Lock()

# Local model work (loading, generating, scoring, training) runs on one dedicated thread:
# every new thread that runs torch gets its own OpenMP team, and idle teams spin on the
# cores the busy one needs (measured here: a generate ~30% slower when calls hop between
# pool threads). API backends, which only wait on the network, use the default pool.
_COMPUTE = None


async def in_compute_thread(fn, *args, nodes=None, **kwargs):
    """``fn(*args, **kwargs)`` on the compute thread; its peak resident memory is charged to
    ``nodes`` (default: the node the calling coroutine works for; runtime.memory)."""
    global _COMPUTE
    if _COMPUTE is None:
        from concurrent.futures import ThreadPoolExecutor

        _COMPUTE = ThreadPoolExecutor(max_workers=1, thread_name_prefix="collab-compute")
    loop = asyncio.get_running_loop()
    nodes = [memory.NODE.get()] if nodes is None else nodes
    return await loop.run_in_executor(_COMPUTE, _job, functools.partial(fn, *args, **kwargs), nodes)


def _job(fn, nodes):
    """One job of the compute thread: measured, and followed by giving the freed memory the
    process keeps back to the machine when it runs short (runtime.allocator.give_back)."""
    try:
        return memory.measured(fn, nodes)
    finally:
        allocator.give_back()


def _nodes(items) -> list[str]:
    """The nodes whose requests ``items`` (queue entries) are: their memory is charged to them."""
    return sorted({it[3] for it in items if it[3]})


def _batch_key(item) -> tuple:
    r = item[1]
    return (str(getattr(r, "adapter", None) or ""), len(str(getattr(r, "prompt", ""))))


@dataclass
class AgentStats:
    calls: int = 0  # backend requests (one per prompt; k samples count once)
    batches: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    retries: int = 0
    loads: int = 0
    load_seconds: float = 0.0  # time spent loading the backend
    seconds: float = 0.0  # time in the backend, loads included
    dtype: str = ""  # the precision the loaded executor computes in (transformers executors)
    replicas: int = 1  # Ray actors serving the backend (runtime.replicas)


def agent_key(spec: dict) -> str:
    kw = spec.get("kwargs") or {}
    n = replicas_of(spec)  # a replicated role has its own actors, not a share of an in-process model
    return (f"{spec['backend']}:{spec.get('ref')}" + (f"#{kw['model']}" if kw.get("model") else "")
            + (f"*{n}" if n > 1 else ""))


def make_executor(spec: dict):
    """The executor for a model spec (heavy libraries are imported here, on demand). Its
    constructor gets each model option and backend kwarg of the spec that applies to the
    backend, under the keyword collabdsl.options names (the lowering rejected the others)."""
    from collabdsl.options import executor_kwargs

    backend, ref, kw = spec["backend"], spec.get("ref"), spec.get("kwargs") or {}
    if replicas_of(spec) > 1:  # N Ray actors, each making this spec's executor (runtime.replicas)
        from runtime.replicas import ReplicatedExecutor

        return ReplicatedExecutor(spec, replicas_of(spec))
    extra = executor_kwargs(spec)
    if backend == "gguf" and kw.get("file"):  # gguf("folder or org/repo", file: "m.gguf")
        ref = f"{str(ref).rstrip('/')}/{kw['file']}"
    if backend in ("hf", "gguf", "vllm") and spec.get("resolved"):
        ref = spec["resolved"]  # located (file: included) and checked by the compiler (collabdsl.access)
    if backend in ("embedded", "hf", "gguf"):
        from runtime.executors.transformers_exec import TransformersExecutor

        return TransformersExecutor(ref, kind=backend, **extra)
    if backend == "vllm":
        from runtime.executors.vllm_exec import VLLMExecutor

        return VLLMExecutor(ref, **extra)
    if backend in ("api", "server"):
        from runtime.executors.litellm_exec import LiteLLMExecutor

        # a key only where the user bound one (--key ROLE=ENV_VAR); a server never gets the
        # environment's provider keys (the executor sends a placeholder instead)
        if spec.get("api_key_env"):
            extra["api_key_env"] = spec["api_key_env"]
        if backend == "server":
            if spec.get("weights"):  # the weights it serves: trained versions' adapters are loaded into it
                from runtime.served import weights_path

                extra["served_weights"] = weights_path(spec["weights"])
            return LiteLLMExecutor(model=f"openai/{kw.get('model') or 'default'}", api_base=ref, **extra)
        return LiteLLMExecutor(model=ref, **extra)
    raise ValueError(f"backend {backend!r} has no executor")


def replicas_of(spec: dict) -> int:
    """The role's ``replicas`` option (1: the executor runs in this process)."""
    return int((spec.get("options") or {}).get("replicas") or 1)


def _locked_make(spec: dict):
    with HEAVY_LOCK:
        return make_executor(spec)


def weights_bytes(spec: dict) -> int:
    """Size of a local backend's weights, from its files; 0 when unknown."""
    try:
        if spec["backend"] == "embedded":
            from runtime.embedded import embedded_gguf_path

            return embedded_gguf_path(spec["ref"]).stat().st_size * 2
        path = os.path.expanduser(str(spec.get("resolved") or spec.get("ref")))
        if os.path.isfile(path):
            return os.path.getsize(path) * 2
        if os.path.isdir(path):
            return sum(os.path.getsize(os.path.join(path, f)) for f in os.listdir(path)
                       if f.endswith((".safetensors", ".bin")))
    except Exception:  # noqa: BLE001 - an estimate only
        return 0
    return 0


def memory_budget() -> int:
    gb = os.environ.get("COLLAB_MAX_LOADED_GB")
    if gb:
        return int(float(gb) * 2**30)
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * 0.6)
    except (ValueError, OSError, AttributeError):
        return 16 * 2**30


class Agent:
    def __init__(self, key: str, spec: dict, pool: "AgentPool"):
        self.key, self.spec, self.pool = key, spec, pool
        self.executor = None
        given = (spec.get("options") or {}).get("batch_size")
        # rows the agent sends to the backend at once: the option, else for a local backend
        # the executor's own limit once loaded (by memory, see TransformersExecutor), else 16
        self.fixed_batch = given is not None
        # replicas (runtime.replicas): Ray actors own the weights; the agent's batch is every
        # replica's batch at once, and calls wait on Ray off the compute thread
        self.replicas = replicas_of(spec)
        self.batch_size = int(given) * self.replicas if given else (64 if spec["backend"] in LOCAL else 16)
        self.queue: asyncio.Queue | None = None
        self.worker: asyncio.Task | None = None
        self.stats = AgentStats()
        self.busy = 0
        self.last_used = 0.0
        self.size = weights_bytes(spec) if spec["backend"] in LOCAL and self.replicas == 1 else 0
        self.load_lock = asyncio.Lock()

    async def _call(self, fn, *args, nodes=None):
        if self.spec["backend"] in LOCAL and self.replicas == 1:
            return await in_compute_thread(fn, *args, nodes=nodes)
        return await asyncio.to_thread(fn, *args)

    @property
    def loaded(self) -> bool:
        return self.executor is not None

    async def _ensure_loaded(self, nodes=None):
        async with self.load_lock:
            if self.executor is None:
                if self.spec["backend"] in LOCAL and self.replicas == 1:
                    await self.pool.make_room(self)
                t = time.perf_counter()
                self.executor = await self._call(_locked_make, self.spec, nodes=nodes)
                self.stats.loads += 1
                self.stats.replicas = int(getattr(self.executor, "replicas", 1))
                if not self.fixed_batch and self.spec["backend"] in LOCAL:
                    self.batch_size = max(1, int(getattr(self.executor, "batch_size", self.batch_size)))
                dtype = getattr(self.executor, "dtype", None)
                if dtype is not None and not isinstance(dtype, str):
                    self.stats.dtype = str(dtype).removeprefix("torch.")
                self.stats.load_seconds += time.perf_counter() - t
                self.stats.seconds += time.perf_counter() - t
        return self.executor

    def unload(self) -> None:
        if self.executor is not None:
            self.executor.close()
            self.executor = None

    async def submit(self, kind: str, requests: list) -> list:
        """Queue requests (``kind`` "generate" or "choose") and wait for their results."""
        if not requests:
            return []
        if self.queue is None:
            self.queue = asyncio.Queue()
            self.worker = asyncio.create_task(self._work())
        loop = asyncio.get_running_loop()
        futures = []
        for r in requests:
            fut = loop.create_future()
            self.queue.put_nowait((kind, r, fut, memory.NODE.get()))
            futures.append(fut)
        return list(await asyncio.gather(*futures))

    async def _work(self):
        while True:
            first = await self.queue.get()
            await asyncio.sleep(0)  # let other ready nodes queue their requests too
            items = [first]
            while not self.queue.empty():
                items.append(self.queue.get_nowait())
            for kind in ("generate", "choose"):
                # one adapter per batch and prompts of like length together: the executor
                # splits a batch by adapter, so mixed batches would run as several small ones
                group = sorted((it for it in items if it[0] == kind), key=_batch_key)
                if group:
                    await self._run_group(kind, group)

    async def _run_group(self, kind: str, group: list) -> None:
        """Every request of ``group`` answered or failed, in batches of the agent's size (known
        once the backend is loaded: a local executor's own limit may be smaller)."""
        self.busy += 1
        try:
            try:
                executor = await self._ensure_loaded(_nodes(group))
            except Exception as exc:  # noqa: BLE001 - every waiting node gets the error
                self._fail(group, exc)
                return
            i = 0
            while i < len(group):
                batch = group[i:i + self.batch_size]
                i += len(batch)
                await self._run_batch(executor, kind, batch)
        finally:
            self.busy -= 1
            self.last_used = time.monotonic()

    @staticmethod
    def _fail(batch: list, exc: BaseException) -> None:
        for _, _, fut, _ in batch:
            if not fut.done():
                fut.set_exception(exc)

    async def _run_batch(self, executor, kind: str, batch: list) -> None:
        try:
            t = time.perf_counter()
            reqs = [it[1] for it in batch]
            fn = executor.generate if kind == "generate" else executor.choose
            results = list(await self._call(fn, reqs, nodes=_nodes(batch)))
            if len(results) != len(reqs):  # no request may be left waiting for ever
                raise RuntimeError(f"the backend returned {len(results)} results for {len(reqs)} requests")
            self.stats.seconds += time.perf_counter() - t
            self.stats.batches += 1
            self.stats.calls += len(reqs)
            if self.pool.on_batch is not None:
                self.pool.on_batch(self, len(reqs))
            for (_, _, fut, _), res in zip(batch, results):
                if kind == "generate":
                    for g in res:
                        self.stats.prompt_tokens += g.prompt_tokens
                        self.stats.completion_tokens += g.completion_tokens
                        self.stats.cost += g.cost
                        self.stats.retries += g.retries
                if not fut.done():
                    fut.set_result(res)
        except Exception as exc:  # noqa: BLE001 - every waiting node gets the error
            self._fail(batch, exc)

    async def close(self):
        if self.worker is not None:
            self.worker.cancel()
            try:
                await self.worker
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
        self.unload()


@dataclass
class Role:
    """A declared model role: which agent serves it and its current version."""

    name: str
    spec: dict
    agent: Agent | None  # None for column() models
    adapter: str | None = None  # LoRA adapter of the current version (None: base weights)
    version_id: str = ""  # fingerprint of the current version

    @property
    def precision(self) -> str | None:
        """The dtype the role computes in (runtime.precision; None: not a local model)."""
        from runtime.precision import role_precision

        return role_precision(self.spec)

    @property
    def call_version(self) -> str:
        """The version part of the role's cache keys and node fingerprints: its weights'
        version and its precision (a bf16 reply is never reused for an fp32 role)."""
        from runtime.precision import call_version

        return call_version(self.version_id, self.precision)


class AgentPool:
    def __init__(self, models: dict[str, dict]):
        self.agents: dict[str, Agent] = {}
        self.roles: dict[str, Role] = {}
        self.on_batch = None  # callback(agent, requests) after each backend batch (progress)
        self.budget = memory_budget()
        for name, spec in models.items():
            if spec.get("derived_from"):
                continue
            self.roles[name] = self._role(name, spec)
        for name, spec in models.items():  # trained copies start as their base
            if spec.get("derived_from"):
                base = self.roles.get(spec["derived_from"])
                self.roles[name] = Role(name, base.spec if base else spec, base.agent if base else None)

    def role_for(self, name: str, spec: dict) -> Role:
        """A role bound to the agent of ``spec`` (made if new): e.g. a fully fine-tuned version."""
        return self._role(name, spec)

    def _role(self, name: str, spec: dict) -> Role:
        from runtime.store import stable_hash

        agent = None
        if spec["backend"] != "column":
            key = agent_key(spec)
            agent = self.agents.get(key) or Agent(key, spec, self)
            self.agents[key] = agent
        return Role(name, spec, agent, None, stable_hash({k: spec.get(k) for k in ("backend", "ref", "kwargs")}))

    async def make_room(self, new: Agent | None, need: int | None = None) -> None:
        """Unload idle local backends, least recently used first, until ``new``'s weights (or
        ``need`` bytes: a training's model, gradients and optimizer state) fit beside the
        loaded ones within the budget (``COLLAB_MAX_LOADED_GB``, else 60% of the memory)."""
        need = new.size if need is None else need
        used = sum(a.size for a in self.agents.values() if a.loaded and a is not new)
        idle = sorted((a for a in self.agents.values() if a.loaded and a is not new and a.busy == 0
                       and a.spec["backend"] in LOCAL and a.replicas == 1), key=lambda a: a.last_used)
        while idle and used + need > self.budget:
            victim = idle.pop(0)
            await victim._call(victim.unload)
            used -= victim.size

    async def close(self):
        for a in self.agents.values():
            await a.close()


def chat_turns(system: str | None, history=None) -> tuple[tuple[str, str], ...]:
    """The turns before a prompt: the system message, then ``history`` (texts from the user's
    first turn, user and assistant taking turns)."""
    turns = [("system", str(system))] if system else []
    turns += [("user" if i % 2 == 0 else "assistant", str(t)) for i, t in enumerate(history or [])]
    return tuple(turns)


def gen_request(prompt: str, options: dict, role: Role, n: int = 1, seed: Any = None,
                logprobs: bool = False, history=None) -> GenRequest:
    o = {**(role.spec.get("options") or {}), **{k: v for k, v in options.items() if v is not None}}
    return GenRequest(prompt=prompt, temperature=float(o.get("temperature", 0.0)),
                      top_p=float(o.get("top_p", 1.0)), max_tokens=int(o.get("max_tokens", 128)),
                      n=n, seed=seed, logprobs=logprobs, adapter=role.adapter,
                      chat=bool(o.get("chat", True)), turns=chat_turns(o.get("system"), history))


def choice_request(prompt: str, options: list, role: Role, call_options: dict | None = None,
                   history=None) -> ChoiceRequest:
    o = {**(role.spec.get("options") or {}), **{k: v for k, v in (call_options or {}).items() if v is not None}}
    return ChoiceRequest(prompt=prompt, options=tuple(str(x) for x in options), adapter=role.adapter,
                         chat=bool(o.get("chat", True)), turns=chat_turns(o.get("system"), history))
