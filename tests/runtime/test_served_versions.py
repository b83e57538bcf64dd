"""Trained versions of a server-bound role (runtime.served), against a small stand-in for
vLLM's OpenAI server on 127.0.0.1 (its /v1/models, /v1/load_lora_adapter and chat
completions, answering with the name of the model called); the trainer is faked. The same
flow against a real ``vllm serve --enable-lora`` with a real training is in
tests/runtime/test_vllm_exec.py (vLLM step)."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from openai_server import send_json
from runtime_testing import fake_trainer, run_program

from collabdsl.compiler import check_path, compile_path
from runtime.served import adapter_name, same_weights

ROWS = [{"question": f"q{i}", "answer": f"a{i}"} for i in range(5)]
HEAD = 'program s "served"\ndata d = load("rows.jsonl")\n'
BODY = ('for x in d { x.before = m.generate(x.question) }\n'
        'train m sft for x in d { input: x.question, target: x.answer, max_steps: 1 }\n'
        'for x in d { x.after = m.generate(x.question) }\n')


class FakeVLLM:
    """``vllm serve ROOT --served-model-name srv`` with (``lora``) or without runtime LoRA loading."""

    def __init__(self, root: str, lora: bool = True):
        self.root, self.lora = root, lora
        self.loads: list[dict] = []
        self.models: list[str] = []  # the model of each completion
        outer = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _send(self, code, obj):
                send_json(self, code, obj)

            def do_GET(self):
                cards = [{"id": "srv", "object": "model", "root": outer.root}]
                cards += [{"id": x["lora_name"], "object": "model", "root": x["lora_path"]} for x in outer.loads]
                self._send(200, {"object": "list", "data": cards})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                if self.path == "/v1/load_lora_adapter":
                    if not outer.lora:
                        self._send(404, {"detail": "Not Found"})
                        return
                    if any(x["lora_name"] == body["lora_name"] for x in outer.loads):
                        self._send(400, {"error": {"message": f"The lora adapter '{body['lora_name']}' has "
                                                   "already been loaded."}})
                        return
                    outer.loads.append(body)
                    self._send(200, {})
                    return
                known = {"srv"} | {x["lora_name"] for x in outer.loads}
                if body.get("model") not in known:
                    self._send(404, {"error": {"message": f"The model `{body.get('model')}` does not exist."}})
                    return
                outer.models.append(body["model"])
                self._send(200, {"id": "c", "object": "chat.completion", "created": 0, "model": body["model"],
                                 "choices": [{"index": 0, "finish_reason": "stop", "message": {
                                     "role": "assistant", "content": f"reply from {body['model']}"}}],
                                 "usage": {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6}})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self):
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def _program(tmp_path: Path, decl: str) -> Path:
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    p = tmp_path / "prog.collab"
    p.write_text(HEAD + decl + "\n" + BODY)
    return p


@pytest.fixture
def trained(monkeypatch):
    """The fake trainer; the specs its base path is taken from."""
    seen = fake_trainer(monkeypatch)
    specs: list = []
    monkeypatch.setattr("runtime.train_eval._base_path", lambda spec: specs.append(spec) or "base")
    return seen, specs


@pytest.mark.parametrize("bound", ["declared", "rebound"])
def test_a_served_role_trains_on_its_weights_and_calls_the_adapter(tmp_path, trained, bound):
    """server(..., weights:) and --model ROLE=server:URL#m on a role declared with local weights:
    the training loads the served weights, the new version's adapter folder (absolute) is loaded
    into the server under a stable name, and its calls go to that name. The base model's cached
    replies (same prompts) are not reused for the trained version."""
    from runtime.embedded import embedded_model_dir

    _, specs = trained
    root = str(embedded_model_dir("smollm2-135m-instruct"))
    with FakeVLLM(root) as srv:
        if bound == "declared":
            p = _program(tmp_path, f'model m = server("{srv.url}", model: "srv", '
                         'weights: "embedded:smollm2-135m-instruct") trainable')
            out = run_program(p, tmp_path / "runs.db")
        else:
            p = _program(tmp_path, 'model m = embedded("smollm2-135m-instruct") trainable')
            out = run_program(p, tmp_path / "runs.db", models={"m": f"server:{srv.url}#srv"})
        assert out.status == "finished", out.error
        (spec,) = specs
        assert spec["backend"] == "embedded" and spec["ref"] == "smollm2-135m-instruct"
        (load,) = srv.loads
        adapter = load["lora_path"]
        assert Path(adapter).is_absolute() and (Path(adapter) / "adapter_config.json").is_file()
        assert load["lora_name"] == adapter_name(adapter) and load["lora_name"].startswith("collab-")
        assert srv.models == ["srv"] * len(ROWS) + [load["lora_name"]] * len(ROWS)
        # a rerun: every call answered from the cache, the trained version's by its own key
        srv.models.clear()
        again = run_program(p, tmp_path / "runs.db",
                            **({} if bound == "declared" else {"models": {"m": f"server:{srv.url}#srv"}}))
        assert again.status == "finished" and srv.models == []


def test_the_trained_version_never_reuses_the_base_models_cached_replies(tmp_path, trained):
    """Run once without the training (the base model's replies cached), then with it: the
    trained version's calls reach the server under the adapter's name."""
    from runtime.embedded import embedded_model_dir

    with FakeVLLM(str(embedded_model_dir("smollm2-135m-instruct"))) as srv:
        decl = (f'model m = server("{srv.url}", model: "srv", weights: "embedded:smollm2-135m-instruct") '
                'trainable')
        (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
        p = tmp_path / "base.collab"
        p.write_text(HEAD + decl + "\nfor x in d { x.after = m.generate(x.question) }\n")
        assert run_program(p, tmp_path / "runs.db").status == "finished"
        assert srv.models == ["srv"] * len(ROWS)
        p.write_text(HEAD + decl + "\ntrain m sft for x in d { input: x.question, target: x.answer, "
                     "max_steps: 1 }\nfor x in d { x.after = m.generate(x.question) }\n")
        srv.models.clear()
        out = run_program(p, tmp_path / "runs.db")
        assert out.status == "finished", out.error
        assert srv.models == [srv.loads[0]["lora_name"]] * len(ROWS)


def test_a_server_without_runtime_lora_loading_is_one_clear_error(tmp_path, trained):
    from runtime.embedded import embedded_model_dir

    with FakeVLLM(str(embedded_model_dir("smollm2-135m-instruct")), lora=False) as srv:
        p = _program(tmp_path, f'model m = server("{srv.url}", model: "srv", '
                     'weights: "embedded:smollm2-135m-instruct") trainable')
        out = run_program(p, tmp_path / "runs.db")
    assert out.status == "failed"
    assert "cannot serve the trained version" in out.error and "HTTP 404" in out.error
    assert "VLLM_ALLOW_RUNTIME_LORA_UPDATING=True vllm serve" in out.error and "--enable-lora" in out.error
    assert "--max-lora-rank 8" in out.error  # the fake adapter's r is 4


def test_a_server_serving_other_weights_is_refused(tmp_path, trained):
    with FakeVLLM("Qwen/Qwen2.5-7B-Instruct") as srv:
        p = _program(tmp_path, f'model m = server("{srv.url}", model: "srv", '
                     'weights: "embedded:smollm2-135m-instruct") trainable')
        out = run_program(p, tmp_path / "runs.db")
    assert out.status == "failed" and "serves 'srv' from 'Qwen/Qwen2.5-7B-Instruct'" in out.error
    assert srv.loads == []


def test_same_weights():
    assert same_weights("HuggingFaceTB/SmolLM2-135M-Instruct", "/m/SmolLM2-135M-Instruct")
    assert same_weights("/h/hub/models--HuggingFaceTB--SmolLM2-135M-Instruct/snapshots/ab12",
                        "HuggingFaceTB/SmolLM2-135M-Instruct")
    assert not same_weights("Qwen/Qwen2.5-7B-Instruct", "HuggingFaceTB/SmolLM2-135M-Instruct")
    assert same_weights(None, "x")


# ---------------------------------------------------------------------- the checker's rules
def _errors(tmp_path, decl: str, train: str = "", models=None):
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    p = tmp_path / "c.collab"
    p.write_text(HEAD + decl + "\n" + (train or "train m sft for x in d { input: x.question, target: x.answer }")
                 + "\nfor x in d { x.a = m.generate(x.question) }\n")
    res = check_path(str(p)) if models is None else compile_path(str(p), None, models)
    return [(d.code, d.span.line, d.span.col, d.message) for d in res.diagnostics if d.is_error]


def test_the_checkers_rules_for_served_roles(tmp_path):
    url = "http://127.0.0.1:1/v1"
    (e,) = _errors(tmp_path, f'model m = server("{url}", model: "x")')
    assert e[:2] == ("E106", 4) and "names the weights it serves" in e[3]
    (e,) = _errors(tmp_path, f'model m = server("{url}", model: "x", weights: "org/m") trainable full')
    assert e[:3] == ("E106", 3, 1) and "LoRA adapters only" in e[3]
    (e,) = _errors(tmp_path, f'model m = server("{url}", model: "x", weights: "org/m")',
                   "train m sft for x in d { input: x.question, target: x.answer, full: true }")
    assert e[:2] == ("E112", 4) and "remove full: true" in e[3]
    (e,) = _errors(tmp_path, f'model m = server("{url}", model: "x", weights: "embedded:nope")')
    assert e[:2] == ("E112", 3) and "unknown embedded model 'nope'" in e[3]
    assert _errors(tmp_path, f'model m = server("{url}", model: "x", weights: "org/m")') == []
    # --model: a role declared with local weights keeps them; one declared `trainable full` cannot
    assert _errors(tmp_path, 'model m = hf("org/m") trainable', models={"m": f"server:{url}#x"}) == []
    (e,) = _errors(tmp_path, 'model m = hf("org/m") trainable full', models={"m": f"server:{url}#x"})
    assert e[0] == "E112" and "LoRA adapter" in e[3]
    errs = _errors(tmp_path, 'model m = api("openai/gpt-4o-mini") trainable')
    assert {e[0] for e in errs} == {"E106"} and not any("weights it serves" in e[3] for e in errs)
