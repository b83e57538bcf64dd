"""A training run as an ``accelerate launch`` subprocess: :func:`launch_train`.

The ``train`` handler calls this instead of :func:`runtime.trainer.train` when the training's
``launcher`` is ``"accelerate"``. The distribution is accelerate's and torch.distributed's: the
command is::

    python -m accelerate.commands.launch --num_processes N --num_machines 1 --main_process_port P
        [--config_file F | --multi_gpu (N > 1) --mixed_precision no --dynamo_backend no]
        -m runtime.train_worker SPEC.json

With a config file (``accelerate_config``: DDP, FSDP, DeepSpeed, ...) the file decides the
distributed type, ``--num_processes`` the world size. Without one, several processes are
started by accelerate's multi-process launcher (torchrun): DDP over NCCL on GPUs; on a machine
without CUDA the trainer sets ``use_cpu`` and accelerate joins the processes with gloo
(accelerate's ``--cpu`` flag would run a single process: its multi-CPU mode needs MPI).

The version is written atomically: the worker saves into a temporary folder next to
``out_dir`` (``.NAME.launch-XXXX/version``), and only a finished training is renamed to
``out_dir``; a failed one leaves nothing where the run store looks. Everything the processes
print goes to ``NAME.launch.log`` beside ``out_dir``; a failure raises :class:`LaunchError` with
one line (the failing process's error, or the launcher's) and the log's tail.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from runtime.trainer import META_FILE, TrainResult

REPO = Path(__file__).resolve().parent.parent
TAIL_LINES = 40


class LaunchError(RuntimeError):
    """A launched training that failed: ``str()`` is one line; ``tail`` the log's last lines."""

    def __init__(self, message: str, log: Path | None = None, tail: str = ""):
        super().__init__(message)
        self.log, self.tail = log, tail


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def launch_command(processes: int, spec: Path, accelerate_config: str | Path | None = None,
                   port: int | None = None) -> list[str]:
    """The ``accelerate launch`` command line of a training of ``processes`` processes."""
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(int(processes)),
           "--num_machines", "1", "--main_process_port", str(port or _free_port())]
    if accelerate_config is not None:
        cmd += ["--config_file", str(accelerate_config)]
    else:
        cmd += (["--multi_gpu"] if processes > 1 else []) + ["--mixed_precision", "no", "--dynamo_backend", "no"]
    return cmd + ["-m", "runtime.train_worker", str(spec)]


def _environment(processes: int) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    if not _cuda():  # the cores are shared by the processes: each gets its part of the threads
        total = int(env.get("OMP_NUM_THREADS") or 0) or os.cpu_count() or 1
        env["OMP_NUM_THREADS"] = str(max(1, total // max(1, processes)))
    return env


def _failure(work: Path, log: Path, processes: int, code: int) -> LaunchError:
    text = log.read_text(errors="replace") if log.is_file() else ""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    tail = "\n".join(lines[-TAIL_LINES:])
    errors = []
    for f in sorted(work.glob("error.*.json")):
        try:
            errors.append(json.loads(f.read_text()))
        except (OSError, ValueError):
            pass
    if errors:
        first = min(errors, key=lambda e: int(e.get("rank", 0) or 0))
        why = first["error"] + (f" (process {first['rank']} of {processes})" if processes > 1 else "")
    else:  # the launcher itself failed (a bad config file, a process killed): its last error line
        marked = [ln.strip() for ln in lines if "Error" in ln or "error:" in ln or "Exception" in ln]
        why = (marked or lines or [f"exit status {code}"])[-1].strip()
    from runtime.train_worker import one_line

    return LaunchError(one_line(f"accelerate launch with {processes} process{'es' if processes != 1 else ''} "
                                f"failed: {why} (log: {log})", 600), log, tail)


def launch_train(objective: str, base: str | Path, rows: list[dict], out_dir: str | Path, *,
                 processes: int = 1, accelerate_config: str | Path | None = None,
                 timeout: float | None = None, **kwargs) -> TrainResult:
    """Train like :func:`runtime.trainer.train` (the same arguments in ``kwargs``) in
    ``processes`` processes started by ``accelerate launch``; the version lands in ``out_dir``
    only when the training finished. ``accelerate_config``: an accelerate config file (its
    ``num_processes`` is overridden by ``processes``). Raises :class:`LaunchError`."""
    if int(processes) < 1:
        raise ValueError(f"processes must be >= 1, got {processes}")
    processes = int(processes)
    if accelerate_config is not None and not Path(accelerate_config).is_file():
        raise LaunchError(f"accelerate config not found: {accelerate_config}")
    out_dir = Path(out_dir).resolve()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.launch-", dir=out_dir.parent))
    version = work / "version"
    log = out_dir.parent / f"{out_dir.name}.launch.log"
    try:
        if kwargs.get("adapter") is not None:
            kwargs["adapter"] = str(kwargs["adapter"])
        spec = work / "spec.json"
        spec.write_text(json.dumps({"objective": objective, "base": str(base), "rows": rows,
                                    "out_dir": str(version), "kwargs": kwargs}))
        cmd = launch_command(processes, spec, accelerate_config)
        with open(log, "w") as fh:
            fh.write("$ " + " ".join(cmd) + "\n")
            fh.flush()
            try:
                proc = subprocess.run(cmd, env=_environment(processes), stdout=fh, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, timeout=timeout)
                code = proc.returncode
            except subprocess.TimeoutExpired:
                raise LaunchError(f"accelerate launch with {processes} processes did not finish in {timeout:g}s "
                                  f"(log: {log})", log) from None
        result_file = work / "result.json"
        if code != 0 or not result_file.is_file() or not version.is_dir():
            raise _failure(work, log, processes, code)
        data = json.loads(result_file.read_text())
        meta_file = version / META_FILE
        meta = json.loads(meta_file.read_text())
        for k in ("path", "adapter_path", "model_path"):  # where the version will be
            if data.get(k):
                data[k] = str(out_dir)
                meta["result"][k] = str(out_dir)
        meta["launch"] = {"launcher": "accelerate", "processes": processes,
                          "accelerate_config": None if accelerate_config is None else str(accelerate_config),
                          "command": cmd[1:-1], "log": str(log)}
        meta_file.write_text(json.dumps(meta, indent=2, default=str))
        if out_dir.exists():  # what an earlier, unfinished attempt left (the store never marked it done)
            shutil.rmtree(out_dir) if out_dir.is_dir() else out_dir.unlink()
        os.replace(version, out_dir)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = TrainResult(**{k: v for k, v in data.items() if k in TrainResult.__dataclass_fields__})
    for k in ("path", "adapter_path", "model_path"):
        v = getattr(result, k)
        setattr(result, k, None if v is None else Path(v))
    return result
