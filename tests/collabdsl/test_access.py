"""The access policy (collabdsl.access) and the URL masking rule (collabdsl.masking) as
units; tests/security runs the same through the command line against a real server."""
from __future__ import annotations

import os

import pytest

from collabdsl import access
from collabdsl.access import AccessDenied, ModelFileMissing, ReadPolicy
from collabdsl.compiler import compile_path
from collabdsl.masking import mask, mask_all


# ---------------------------------------------------------------------- masking
@pytest.mark.parametrize("text, masked", [
    ("http://user:pass@h:8000/v1", "http://h:8000/v1"),
    ("https://u:p@ss@h/v1?api_key=sk-1&n=2#m", "https://h/v1?api_key=***&n=2#m"),
    ("(server:http://h/v1?token=abc) failed", "(server:http://h/v1?token=***) failed"),
    ("x?openai_api_key=1&access_token=2;secret=3&sig=4", "x?openai_api_key=***&access_token=***;secret=***&sig=***"),
    ("http://h/?max_tokens=3&tokens=5&key=", "http://h/?max_tokens=3&tokens=5&key="),
    ("write to me@example.org, a=b", "write to me@example.org, a=b"),
    ("openai/gpt-4o-mini", "openai/gpt-4o-mini"),
])
def test_mask(text, masked):
    assert mask(text) == masked


def test_mask_all_reaches_nested_strings_and_keeps_the_rest():
    got = mask_all({"m": ["http://u:p@h/v1", 3, None], "e": ("k?key=x",)})
    assert got == {"m": ["http://h/v1", 3, None], "e": ("k?key=***",)}


# ---------------------------------------------------------------------- reads
@pytest.fixture
def tree(tmp_path, monkeypatch):
    prog, out = tmp_path / "prog", tmp_path / "out"
    prog.mkdir()
    out.mkdir()
    (out / "s.txt").write_text("secret")
    (prog / "in.txt").write_text("ok")
    (prog / "link.txt").symlink_to(out / "s.txt")
    monkeypatch.chdir(prog)
    monkeypatch.setenv("HOME", str(out))
    return prog, out


def test_policy_allows_the_program_folder_and_cwd_only(tree):
    prog, out = tree
    pol = ReadPolicy.for_program(prog / "p.collab")
    assert pol.check(prog / "in.txt", "load") == prog / "in.txt"
    for given in (out / "s.txt", "../out/s.txt", "~/s.txt", prog / "link.txt", prog / ".." / "out" / "s.txt"):
        with pytest.raises(AccessDenied) as e:
            pol.check(given, "load")
        assert str(e.value).endswith(f"pass --allow-read {out} to allow it"), e.value
    with pytest.raises(AccessDenied, match=r"link.txt \(a link to .*/out/s.txt\)"):
        pol.check(prog / "link.txt", "load")
    allowed = ReadPolicy.for_program(prog / "p.collab", [str(out)])
    assert allowed.check(prog / "link.txt", "load") == out / "s.txt"
    assert allowed.root_of(str(out / "s.txt")) == f"--allow-read {out}"


def test_a_folder_named_like_an_allowed_one_is_not_inside_it(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data-private").mkdir()
    pol = ReadPolicy(str(tmp_path / "p"), str(tmp_path / "p"), (str(tmp_path / "data"),))
    with pytest.raises(AccessDenied):
        pol.check(tmp_path / "data-private" / "x", "load")


def test_model_location_local_files_and_hub_ids(tree):
    prog, out = tree
    pol = ReadPolicy.for_program(prog / "p.collab")
    (prog / "m.gguf").write_bytes(b"GGUF")
    (prog / "folder").mkdir()
    assert access.model_location({"backend": "gguf", "ref": "m.gguf"}, prog, pol) == (str(prog / "m.gguf"), True)
    assert access.model_location({"backend": "gguf", "ref": "org/repo/f.gguf"}, prog, pol) == ("org/repo/f.gguf", False)
    assert access.model_location({"backend": "gguf", "ref": "org/repo", "kwargs": {"file": "f.gguf"}}, prog, pol) \
        == ("org/repo/f.gguf", False)
    assert access.model_location({"backend": "hf", "ref": "HuggingFaceTB/SmolLM2"}, prog, pol) == \
        ("HuggingFaceTB/SmolLM2", False)
    assert access.model_location({"backend": "hf", "ref": "folder"}, prog, pol) == (str(prog / "folder"), True)
    with pytest.raises(ModelFileMissing, match=r"model file not found: .*/prog/x.gguf"):
        access.model_location({"backend": "gguf", "ref": "x.gguf"}, prog, pol)
    with pytest.raises(ModelFileMissing, match="model folder not found"):
        access.model_location({"backend": "vllm", "ref": "./nope"}, prog, pol)
    with pytest.raises(AccessDenied):  # outside: refused before it is looked for
        access.model_location({"backend": "hf", "ref": "~/nope"}, prog, pol)
    assert access.model_location({"backend": "embedded", "ref": "smollm2-135m-instruct"}, prog, pol) == (None, False)


def test_api_ref_problem():
    assert access.api_ref_problem("openai/gpt-4o-mini") is None
    assert "names a host" in access.api_ref_problem("huggingface/https://x.example/v1")
    assert "***" in access.api_ref_problem("oobabooga/http://h/?key=sk-123")


# ---------------------------------------------------------------------- keys
SERVER = """program k "keys"
model big = server("http://127.0.0.1:9/v1", model: "m"{extra})
data d = load("builtin:science-mc", split: "test", limit: 2)
for x in d {{ x.r = big.generate(x.question) }}
eval res for x in d metrics answered {{ "big" = x.r }}
"""


def _compile(tmp_path, extra="", **kw):
    p = tmp_path / "k.collab"
    p.write_text(SERVER.format(extra=extra))
    return compile_path(str(p), **kw)


def test_key_binding_and_what_the_run_checks(tmp_path):
    res = _compile(tmp_path, ', api_key_env: "SRV_KEY"')
    models = res.graph.graph["models"]
    assert "api_key_env" not in models["big"]  # asked by the program, not bound
    (d,) = access.check_keys(models, {"SRV_KEY": "v"})
    assert d.code == "E120" and "pass --key big=SRV_KEY to send it" in d.message and d.span.line == 2
    res = _compile(tmp_path, ', api_key_env: "SRV_KEY"', keys={"big": "SRV_KEY"})
    models = res.graph.graph["models"]
    assert models["big"]["api_key_env"] == "SRV_KEY"
    assert access.check_keys(models, {"SRV_KEY": "v"}) == []
    (d,) = access.check_keys(models, {})
    assert d.message == "--key big=SRV_KEY: $SRV_KEY is not set"
    assert [d.message for d in _compile(tmp_path, keys={"nosuch": "K"}).errors] == \
        ["--key nosuch=K: no model 'nosuch' (models: big)"]
    net = access.network(models)
    assert net == [{"role": "big", "to": "http://127.0.0.1:9/v1", "for": "server",
                    "key": "$SRV_KEY (--key big=SRV_KEY)"}]


def test_plan_text_lists_reads_network_and_keys(tmp_path):
    from collabdsl.plan import plan, render_text

    (tmp_path / "rows.jsonl").write_text('{"question": "q"}\n')
    p = tmp_path / "k.collab"
    p.write_text(SERVER.format(extra="").replace('"builtin:science-mc", split: "test", limit: 2', '"rows.jsonl"'))
    res = compile_path(str(p), models={"big": "server:http://u:pw@127.0.0.1:9/v1?api_key=sk-9#m"})
    text = render_text(plan(res.graph))
    assert f"  {os.path.realpath(tmp_path / 'rows.jsonl')}  (load d; the program's folder)" in text
    assert "  http://127.0.0.1:9/v1?api_key=***  (model big, server; key: none (a placeholder; --key binds one))" \
        in text
    assert "sk-9" not in text and "pw@" not in text
