"""Trained versions of a role served by a vLLM OpenAI-compatible server.

A ``server(URL, model: "m", weights: W)`` role (or a role declared with local weights and
bound by ``--model ROLE=server:URL#m``) names the weights the server serves. A training of
the role fine-tunes a LoRA adapter on those weights locally, exactly as for a local role
(:func:`training_spec`); calls of the new version carry the adapter folder, and the server
executor (runtime.executors.litellm_exec) loads it into the server through vLLM's runtime
LoRA loading (``POST {base}/load_lora_adapter``) under :func:`adapter_name` and calls it by
that name. Pure helpers: no heavy import.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path


def training_spec(spec: dict) -> dict:
    """The spec a training of ``spec``'s role loads: the served weights for a server role
    (its options, e.g. ``chat``, and its LoRA settings kept), else ``spec`` itself."""
    w = spec.get("weights")
    if spec.get("backend") != "server" or not w:
        return spec
    return {**spec, "backend": w["backend"], "ref": w["ref"], "resolved": w.get("resolved"),
            "local": w.get("local"), "kwargs": {}}


def weights_path(w: dict | None) -> str | None:
    """What the trainer loads for a weights spec (a served role's ``weights``, or any local
    model spec: backend, ref, resolved): the embedded model's folder, a local path located by
    the compiler, or the hub id."""
    if not w:
        return None
    if w.get("backend") == "embedded":
        from runtime.embedded import embedded_model_dir

        return str(embedded_model_dir(w["ref"]))
    return str(w.get("resolved") or w["ref"])


def adapter_name(adapter: str) -> str:
    """The name a trained version's adapter is loaded under in a server: ``collab-`` the
    version folder's name (the training's fingerprint, see runtime.train_eval) and a hash of
    the folder's real path and its weight file's size and time, so a retrained folder is loaded
    afresh (vLLM keeps an adapter by its name) and two folders never share a name."""
    p = Path(adapter).resolve()
    stamp = []
    for f in ("adapter_model.safetensors", "adapter_model.bin", "adapter_config.json"):
        try:
            st = (p / f).stat()
            stamp.append(f"{f}:{st.st_size}:{st.st_mtime_ns}")
        except OSError:
            continue
    h = hashlib.sha256(f"{p}|{'|'.join(stamp)}".encode()).hexdigest()[:12]
    return f"collab-{p.name[:24]}-{h}"


def _tail(ref: str) -> str:
    """The model's name at the end of a hub id, a local folder or a hub cache snapshot."""
    parts = [x for x in str(ref).replace(os.sep, "/").rstrip("/").split("/") if x]
    for i, x in enumerate(parts):  # .../models--org--name/snapshots/<hash>
        if x.startswith("models--"):
            return x.split("--")[-1].lower()
    return parts[-1].lower() if parts else ""


def same_weights(root: str | None, weights: str | None) -> bool:
    """Whether the server's base model (its ``/v1/models`` root: the path or hub id it was
    started with) is the role's weights: the same text, the same real folder, or the same
    model name at the end (a hub id and a folder or cache snapshot of it). Unknown: True."""
    if not root or not weights:
        return True
    if root == weights:
        return True
    if os.path.exists(root) and os.path.exists(weights):
        return os.path.realpath(root) == os.path.realpath(weights)
    return _tail(root) == _tail(weights)
