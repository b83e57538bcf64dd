"""The precision a local model role computes in, decided once, before anything loads.

A role's ``dtype`` option (``collabdsl.options.DTYPES`` names, normalised to torch's
spelling) means:

- not given: ``bfloat16`` on CUDA, ``float32`` on a CPU (the transformers executor's
  default since the start: results of earlier runs stay comparable);
- ``"auto"``: the fastest precision the device computes natively: ``bfloat16`` on a CUDA
  device that supports it and on a CPU with bf16 instructions (AMX or AVX512-BF16, read
  from the CPU's flags), else ``float32``;
- a name: that precision.

The result is part of every cache key and node fingerprint of the role
(:func:`call_version`) and is recorded with the run, so a bf16 reply is never reused for
an fp32 role, nor the reverse. (Only 28 of 64 greedy texts were identical between fp32 and
bf16 here: precision changes results.) For the vLLM backend the requested name is keyed
as given: vLLM resolves ``auto`` itself (the checkpoint's dtype).

torch is imported only to learn whether CUDA is available, and only when the role's
device and dtype leave it open.
"""
from __future__ import annotations

import functools
from pathlib import Path

from collabdsl.options import TRANSFORMERS_BACKENDS as TRANSFORMERS
CANONICAL = {"bf16": "bfloat16", "bfloat16": "bfloat16", "fp16": "float16", "float16": "float16",
             "half": "float16", "fp32": "float32", "float32": "float32", "float": "float32",
             "auto": "auto"}


@functools.lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """True when the CPU has bf16 instructions (Linux flags ``amx_bf16`` or ``avx512_bf16``).
    Elsewhere False: bf16 is then emulated and slower than fp32."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return False
    flags = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags.update(line.partition(":")[2].split())
            break
    return bool(flags & {"amx_bf16", "avx512_bf16"})


def _device_type(device: str | None) -> str:
    if device:
        return str(device).split(":")[0]
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _cuda_bf16(device: str | None) -> bool:
    import torch

    return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())


@functools.lru_cache(maxsize=64)
def resolve(dtype: str | None, device: str | None = None) -> str:
    """The torch dtype name (``float32``, ``bfloat16``, ``float16``) a transformers role
    with this ``dtype`` option computes in on ``device`` (None: cuda when available)."""
    name = CANONICAL.get(str(dtype).lower(), None) if dtype is not None else None
    if dtype is not None and name is None:
        raise ValueError(f"unknown dtype {dtype!r}; known: {', '.join(sorted(CANONICAL))}")
    kind = _device_type(device) if name in (None, "auto") else None
    if name is None:
        return "bfloat16" if kind == "cuda" else "float32"
    if name == "auto":
        if kind == "cuda":
            return "bfloat16" if _cuda_bf16(device) else "float32"
        return "bfloat16" if kind == "cpu" and cpu_has_native_bf16() else "float32"
    return name


def role_precision(spec: dict) -> str | None:
    """What a role's results depend on besides its weights: the resolved dtype of a
    transformers role, the requested one of a vLLM role (None: nothing to add)."""
    options = spec.get("options") or {}
    backend = spec.get("backend")
    if backend in TRANSFORMERS:
        return resolve(options.get("dtype"), options.get("device"))
    if backend == "vllm" and options.get("dtype") is not None:
        return str(options["dtype"])
    return None


def call_version(version_id: str, precision: str | None) -> str:
    """The version part of a cache key: the weights' version and, unless it is float32 (the
    CPU default, keyed as before so earlier caches stay valid), the precision."""
    return version_id if precision in (None, "float32") else f"{version_id}/{precision}"
