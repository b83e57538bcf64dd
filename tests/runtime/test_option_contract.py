"""Where every option of the language lands, through the real code paths.

For every name of every table in collabdsl.options (model options per backend, backend
kwargs, per-call options, training options, LoRA settings, load options) a program sets a
distinctive value, runs with ``run_graph``, and the test finds the value in the object it
configures: the executor's constructor keywords from ``make_executor`` (transformers and
vLLM classes substituted by recorders: no weights, no vllm), the ``GenRequest`` /
``ChoiceRequest`` the model handlers send, the keywords ``litellm`` receives from the real
``LiteLLMExecutor`` talking to a real server on 127.0.0.1, the ``SFTConfig`` / ``DPOConfig``
/ ``LoraConfig`` built by ``runtime.trainer.build_configs`` (the training stops right after
they are built), and the keywords of ``load_rows``. Where an option does not apply (a
backend, an objective) the checker's E112 is the landing. Each landing table must cover
exactly its vocabulary table, so a name added there without a landing fails here.
"""
from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest

from collabdsl import options as O
from collabdsl.compiler import check_path, compile_path
from collabdsl.vocab import BACKENDS
from runtime.executors.base import ChoiceResult, Generation
from runtime.run import run_graph

FAMILY = {b: "transformers" for b in O.TRANSFORMERS_BACKENDS} | {"vllm": "vllm", "api": "litellm",
                                                                  "server": "litellm"}
ROWS = [{"question": f"q{i}", "answer": f"a{i}", "extra_src": i} for i in range(7)]


class Recorder:
    """Stands in for an executor class: records how it was built and every request."""

    made: list = []

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs
        self.batch_size = int(kwargs.get("batch_size", 16))
        self.requests, self.batches = [], []
        Recorder.made.append(self)

    def generate(self, requests):
        self.requests += requests
        self.batches.append(len(requests))
        return [[Generation(text="3", token_logprobs=[-0.1], top2_margins=[0.5], completion_tokens=1)
                 for _ in range(r.n)] for r in requests]

    def choose(self, requests):
        self.requests += requests
        self.batches.append(len(requests))
        return [ChoiceResult(probs=[0.75] + [0.25 / (len(r.options) - 1)] * (len(r.options) - 1))
                for r in requests]

    def close(self):
        pass


@pytest.fixture
def recorders(monkeypatch):
    """Substitute the transformers and vLLM executor classes (their modules stay unimported
    where they would import torch or vllm)."""
    Recorder.made = []
    fake = types.ModuleType("runtime.executors.transformers_exec")
    fake.TransformersExecutor = type("TransformersExecutor", (Recorder,), {})
    monkeypatch.setitem(sys.modules, "runtime.executors.transformers_exec", fake)
    import runtime.executors.vllm_exec as vllm_exec

    monkeypatch.setattr(vllm_exec, "VLLMExecutor", type("VLLMExecutor", (Recorder,), {}))
    return Recorder


def _run(tmp_path: Path, text: str, models=None, sets=None):
    if not (tmp_path / "rows.jsonl").exists():  # written once: a rewritten file is new data
        (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    path = tmp_path / "prog.collab"
    path.write_text(text)
    res = compile_path(str(path), sets, models)
    assert res.graph is not None, [d.message for d in res.diagnostics]
    return run_graph(res.graph, program_path=str(path), sources=res.sources, store_path=str(tmp_path / "runs.db"),
                     progress=False)


HEAD = 'program c "contract"\ndata d = load("rows.jsonl", columns: {q: "question", a: "answer"})\n'

# ---------------------------------------------------------------------- model options
MODEL_VALUES = {"temperature": 0.4, "top_p": 0.8, "max_tokens": 9, "seed": 13, "chat": False, "batch_size": 3,
                "concurrency": 2, "timeout": 7, "max_retries": 1, "device": "meta", "dtype": "fp16",
                "system": "You are terse.", "replicas": 1}


def _opts(names) -> str:
    return " ".join(f"{n} {json.dumps(MODEL_VALUES[n])}" for n in names)


def _applying(family: str) -> list[str]:
    return [n for n, o in O.MODEL_OPTIONS.items() if any(FAMILY.get(b) == family for b in o.applies)]


def _request_landings(req) -> dict:
    return {"temperature": req.temperature, "top_p": req.top_p, "max_tokens": req.max_tokens, "seed": req.seed,
            "chat": req.chat}


def _req(field):
    return lambda ex, v: all(getattr(r, field) == v for r in ex.requests)


def _ctor(key, value=None):
    return lambda ex, v: ex.kwargs.get(key) == (v if value is None else value)


# model option -> (recorded executor, value set) -> it arrived
LOCAL_LANDINGS = {
    "temperature": _req("temperature"), "top_p": _req("top_p"), "max_tokens": _req("max_tokens"),
    "seed": _req("seed"), "chat": _req("chat"),
    "system": lambda ex, v: all(r.turns == (("system", v),) for r in ex.requests),
    "batch_size": lambda ex, v: ex.kwargs["batch_size"] == v and ex.batches == [3, 3, 1],  # and the agent's
    "device": _ctor("device"), "dtype": _ctor("dtype", "float16"),
    # 1: the executor in this process; more: Ray actors (tests/runtime/test_replicas.py)
    "replicas": lambda ex, v: v == 1 and "replicas" not in ex.kwargs,
}


@pytest.mark.parametrize("family, decl, kwargs", [
    ("transformers", 'hf("org/fake")', {"kind": "hf"}),
    ("vllm", 'vllm("org/fake", gpu_memory_utilization: 0.35, max_model_len: 1234)',
     {"gpu_memory_utilization": 0.35, "max_model_len": 1234}),
])
def test_model_options_land_in_the_local_executors_and_requests(tmp_path, recorders, family, decl, kwargs):
    names = _applying(family)
    out = _run(tmp_path, HEAD + f'model m = {decl} frozen {_opts(names)}\nfor x in d {{ x.g = m.generate(x.q) }}\n')
    assert out.status == "finished", out.error
    (ex,) = recorders.made
    assert ex.args == ("org/fake",)
    assert set(ex.kwargs) == set(kwargs) | {O.MODEL_OPTIONS[n].kwarg for n in names if O.MODEL_OPTIONS[n].kwarg}
    assert {k: ex.kwargs[k] for k in kwargs} == kwargs  # the backend kwargs (vLLM's engine arguments)
    for name in names:
        assert LOCAL_LANDINGS[name](ex, MODEL_VALUES[name]), (family, name)
    assert len(ex.requests) == len(ROWS)


ENGINE_VALUES = {"tensor_parallel_size": 2, "enable_prefix_caching": True, "quantization": "fp8",
                 "max_num_seqs": 7, "kv_cache_dtype": "fp8", "enforce_eager": True, "max_lora_rank": 32,
                 "ignore_patterns": ["*.pt"], "cpu_offload_gb": 1.5, "hf_overrides": {"rope_theta": 5}}


def test_vllm_engine_arguments_reach_the_engine_under_their_own_name(tmp_path, recorders):
    """Every field of vLLM's EngineArgs (but the ones collab sets) is a vllm() option that the
    executor gets unchanged under the engine's name (VLLMExecutor passes them to vllm.LLM), also
    when --model rebinds the role to another vLLM model."""
    from collabdsl import vllm_args

    for name, (kinds, _, _) in vllm_args.ENGINE_ARGS.items():
        opt = O.BACKEND_KWARGS["vllm"].get(name)
        assert (opt is None) == (name in vllm_args.RESERVED), name
        assert opt is None or (opt.kwarg == name and opt.applies == ("vllm",)), name
    kw = ", ".join(f"{k}: {json.dumps(v)}" for k, v in ENGINE_VALUES.items()).replace('"rope_theta"', "rope_theta")
    text = HEAD + f'model m = vllm("org/fake", {kw}) frozen\nfor x in d {{ x.g = m.generate(x.q) }}\n'
    for models, ref in ((None, "org/fake"), ({"m": "vllm:org/other"}, "org/other")):
        Recorder.made = []
        (tmp_path / ref.replace("/", "_")).mkdir()
        out = _run(tmp_path / ref.replace("/", "_"), text, models=models)
        assert out.status == "finished", out.error
        (ex,) = recorders.made
        assert ex.args == (ref,) and ex.kwargs == ENGINE_VALUES


def test_the_gguf_file_kwarg_is_the_file_loaded(tmp_path, recorders):
    out = _run(tmp_path, HEAD + 'model m = gguf("org/repo", file: "m.Q4.gguf") frozen\n'
               'for x in d { x.g = m.generate(x.q) }\n')
    assert out.status == "finished", out.error
    (ex,) = recorders.made
    assert ex.args == ("org/repo/m.Q4.gguf",) and ex.kwargs == {"kind": "gguf"}


def test_a_servers_api_key_env_is_sent_only_when_the_user_confirms_it(tmp_path, monkeypatch):
    """server(..., api_key_env: "K") names the variable the program expects; the run refuses
    until --key confirms it, and then the executor is built to send $K."""
    from collabdsl.access import check_keys
    from runtime import agents

    made = []
    fake = types.ModuleType("runtime.executors.litellm_exec")
    fake.LiteLLMExecutor = lambda **kw: made.append(kw)
    monkeypatch.setitem(sys.modules, "runtime.executors.litellm_exec", fake)
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    path = tmp_path / "prog.collab"
    path.write_text(HEAD + 'model m = server("http://127.0.0.1:9/v1", model: "x", api_key_env: "SRV_KEY") frozen\n'
                    'for x in d { x.g = m.generate(x.q) }\n')
    res = compile_path(str(path))
    (d,) = check_keys(res.graph.graph["models"], {"SRV_KEY": "v"})
    assert d.code == "E120" and "pass --key m=SRV_KEY" in d.message
    res = compile_path(str(path), keys={"m": "SRV_KEY"})
    spec = res.graph.graph["models"]["m"]
    assert check_keys(res.graph.graph["models"], {"SRV_KEY": "v"}) == []
    agents.make_executor(spec)
    assert made[-1]["api_key_env"] == "SRV_KEY" and made[-1]["api_base"] == "http://127.0.0.1:9/v1"


@pytest.fixture
def litellm_calls(monkeypatch):
    """Every keyword set litellm's completion functions receive (the calls go through)."""
    import os

    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    calls = []
    for fn in ("acompletion", "atext_completion"):
        real = getattr(litellm, fn)

        async def wrapped(*args, _real=real, _fn=fn, **kwargs):
            calls.append((_fn, dict(kwargs)))
            return await _real(*args, **kwargs)

        monkeypatch.setattr(litellm, fn, wrapped)
    return calls


# model option -> (litellm keywords of a call, the server, the run) -> it arrived (max_retries: below)
LITELLM_LANDINGS = {
    "temperature": lambda kw, srv, out, v: kw["temperature"] == v,
    "top_p": lambda kw, srv, out, v: kw["top_p"] == v,
    "max_tokens": lambda kw, srv, out, v: kw["max_tokens"] == v,
    "seed": lambda kw, srv, out, v: kw["seed"] == v,
    "chat": lambda kw, srv, out, v: ("messages" in kw) == v,  # false: a text completion
    # chat false: the system message is the first paragraph of the text completion's prompt
    "system": lambda kw, srv, out, v: kw["prompt"].startswith(v + "\n\n"),
    "timeout": lambda kw, srv, out, v: kw["timeout"] == v,
    "concurrency": lambda kw, srv, out, v: srv.max_in_flight == v,
    "batch_size": lambda kw, srv, out, v: next(iter(out.agents.values()))["batches"] == 3,  # 7 rows by 3
}


def test_model_options_reach_litellm_and_the_server(tmp_path, litellm_calls):
    from openai_server import OpenAIServer

    names = _applying("litellm")
    assert set(LITELLM_LANDINGS) | {"max_retries"} == set(names)
    with OpenAIServer(fixed_reply="3", latency_ms=150) as srv:
        out = _run(tmp_path, HEAD + f'model m = server("{srv.base_url}", model: "served-x") frozen '
                   f'{_opts(n for n in names if n != "max_retries")}\nfor x in d {{ x.g = m.generate(x.q) }}\n')
        assert out.status == "finished", out.error
    assert len(litellm_calls) == len(ROWS)
    for fn, kw in litellm_calls:
        assert fn == "atext_completion" and kw["model"] == "openai/served-x" and kw["api_base"] == srv.base_url
        for name, landed in LITELLM_LANDINGS.items():
            assert landed(kw, srv, out, MODEL_VALUES[name]), name


def test_max_retries_is_the_number_of_retries(tmp_path, litellm_calls):
    from openai_server import OpenAIServer

    with OpenAIServer(fixed_reply="3", failure_rate=1.0, failure_kinds=("500",)) as srv:
        out = _run(tmp_path, HEAD.replace('"rows.jsonl",', '"rows.jsonl", limit: 1,') +
                   f'model m = server("{srv.base_url}", model: "x") frozen max_retries 1\n'
                   'for x in d { x.g = m.generate(x.q) }\n')
        assert out.status == "failed" and "after 2 attempts" in out.error
        assert srv.requests == 2


def test_api_models_get_the_same_executor_keywords(monkeypatch):
    import runtime.executors.litellm_exec as litellm_exec
    from runtime.agents import make_executor

    Recorder.made = []
    monkeypatch.setattr(litellm_exec, "LiteLLMExecutor", type("LiteLLMExecutor", (Recorder,), {}))
    make_executor({"backend": "api", "ref": "openai/gpt-x", "kwargs": {},
                   "options": {k: MODEL_VALUES[k] for k in _applying("litellm")}})
    (ex,) = Recorder.made
    assert ex.kwargs == {"model": "openai/gpt-x", "batch_size": 3, "concurrency": 2, "timeout": 7, "max_retries": 1}


# ---------------------------------------------------------------------- per-call options
def test_call_options_land_in_the_requests(tmp_path, recorders):
    out = _run(tmp_path, HEAD + 'model m = hf("org/fake") frozen temperature 0.1\n'
               'for x in d {\n'
               '  x.g = m.generate(x.q, temperature: 0.6, top_p: 0.7, max_tokens: 11, seed: 17, '
               'confidence: top2_margin)\n'
               '  x.s = m.sample(x.q, k: 3)\n'
               '  x.lo = m.score(x.q, range: 1..2, on_parse_error: 2)\n'
               '  x.hi = m.score(x.q, range: 1..5)\n'
               '  x.c = m.choose(x.q, options: ["p", "q"], confidence: option_prob)\n'
               '  x.t = m.generate("again?", system: "Be brief.", history: [x.q, x.a])\n'
               '  x.u = m.choose("which?", options: ["p", "q"], system: "Pick.", history: [x.q])\n'
               '}\n'
               'eval res for x in d metrics mean { "conf" = x.g.confidence  "k" = len(x.s)  '
               '"lo" = x.lo  "hi" = x.hi  "choice" = x.c.confidence }\n')
    assert out.status == "finished", out.error
    (ex,) = recorders.made
    gens = [r for r in ex.requests if hasattr(r, "n")]
    first = next(r for r in gens if r.logprobs)
    assert (first.temperature, first.top_p, first.max_tokens, first.seed) == (0.6, 0.7, 11, 17)
    assert {r.n for r in gens} == {1, 3}  # k
    assert all(r.temperature == 0.1 for r in gens if not r.logprobs)  # the model's, where the call sets none
    choices = [r for r in ex.requests if hasattr(r, "options")]
    assert choices and all(r.options == ("p", "q") for r in choices)
    means = {r["system"]: r["mean"] for r in out.results}
    assert means == {"conf": 0.5, "k": 3, "lo": 2, "hi": 3, "choice": 0.75}
    # what each per-call option was just seen to do
    landed = {"temperature": first.temperature == 0.6, "top_p": first.top_p == 0.7,
              "max_tokens": first.max_tokens == 11, "seed": first.seed == 17,
              "confidence": first.logprobs and means["conf"] == 0.5 and means["choice"] == 0.75,
              "k": {r.n for r in gens} == {1, 3} and means["k"] == 3, "range": means["hi"] == 3,
              "on_parse_error": means["lo"] == 2, "options": all(r.options == ("p", "q") for r in choices)}
    again = [r for r in gens if r.prompt == "again?"]
    which = [r for r in choices if r.prompt == "which?"]
    landed["system"] = bool(again and which) and all(r.turns[0] == ("system", "Be brief.") for r in again) \
        and all(r.turns[0] == ("system", "Pick.") for r in which)
    landed["history"] = sorted(r.turns[1:] for r in again) == sorted(
        (("user", f"q{i}"), ("assistant", f"a{i}")) for i in range(len(ROWS))) \
        and all(len(r.turns) == 2 and r.turns[1][0] == "user" for r in which)
    assert set(landed) == set(O.METHOD_OPTIONS) and all(landed.values()), landed


# ---------------------------------------------------------------------- training options
class _Built(Exception):
    """Raised right after the trainer built its configs: no model is loaded."""


@pytest.fixture
def built(monkeypatch):
    import runtime.trainer as T

    seen = {}
    real_build, real_train, real_groups = T.build_configs, T.train, T._sft_groups

    def build(*args, **kwargs):
        seen["configs"] = real_build(*args, **kwargs)
        raise _Built("configs built")

    def train(*args, **kwargs):
        seen["train"] = kwargs
        return real_train(*args, **kwargs)

    def groups(*args, **kwargs):
        seen["groups"] = real_groups(*args, **kwargs)
        return seen["groups"]

    monkeypatch.setattr(T, "build_configs", build)
    monkeypatch.setattr(T, "train", train)
    monkeypatch.setattr(T, "_sft_groups", groups)
    return seen


def _train(tmp_path, built, model: str, training: str) -> dict:
    built.clear()
    (tmp_path / "base").mkdir(exist_ok=True)
    out = _run(tmp_path, HEAD + f'model s = hf("{tmp_path / "base"}") {model}\n{training}\n')
    assert out.status == "failed" and "configs built" in out.error, out.error
    return built


def test_training_options_land_in_the_trl_and_peft_configs(tmp_path, built):
    from transformers.trainer import Trainer

    seen = _train(tmp_path, built, "trainable chat false", 'train s sft for x in d { input: x.q, target: x.a, '
                  'lr: 0.0123, epochs: 3, batch_size: 5, grad_accum: 6, max_length: 77, max_steps: 8, seed: 99, '
                  'warmup: 0.25, scheduler: "cosine", optimizer: "rmsprop", weight_decay: 0.03, lora_r: 12, '
                  'lora_alpha: 24, lora_dropout: 0.15 }')
    a, lora = seen["configs"].args, seen["configs"].peft_config
    assert type(a).__name__ == "SFTConfig"
    assert (a.learning_rate, a.num_train_epochs, a.per_device_train_batch_size, a.gradient_accumulation_steps,
            a.max_length, a.max_steps, a.seed, a.data_seed) == (0.0123, 3, 5, 6, 77, 8, 99, 99)
    assert a.warmup_steps == 0.25 and a.get_warmup_steps(100) == 25  # a ratio of the steps
    assert str(a.lr_scheduler_type.value) == "cosine" and str(a.optim.value) == "rmsprop"
    assert a.weight_decay == 0.03
    cls, _ = Trainer.get_optimizer_cls_and_kwargs(a)
    assert cls.__module__.startswith("torch.optim") and cls.__name__ == "RMSprop"
    assert (lora.r, lora.lora_alpha, lora.lora_dropout) == (12, 24, 0.15)
    assert seen["train"]["chat"] is False  # the model's chat option: the same template in training


def test_kd_lambda_and_full_fine_tuning(tmp_path, built):
    seen = _train(tmp_path, built, "trainable", 'train s kd for x in d { input: x.q, gold: x.a, teacher: x.q, '
                  'lambda: 0.3, full: true }')
    assert [(g[0], g[1]) for g in seen["groups"]] == [("gold", 0.7), ("teacher", 0.3)]
    assert seen["train"]["lam"] == 0.3
    assert seen["train"]["lora"] is None and seen["configs"].peft_config is None
    assert seen["configs"].args.learning_rate == 2e-5  # full fine-tuning's default rate


def test_dpo_beta_and_max_length_land_in_the_dpo_config(tmp_path, built):
    seen = _train(tmp_path, built, "trainable", 'train s dpo for x in d { prompt: x.q, chosen: x.a, '
                  'rejected: x.q, beta: 0.37, max_length: 66 }')
    a = seen["configs"].args
    assert type(a).__name__ == "DPOConfig" and (a.beta, a.max_length) == (0.37, 66)


def test_declared_lora_settings_land_in_the_lora_config(tmp_path, built):
    seen = _train(tmp_path, built, 'trainable lora(r: 4, alpha: 8, dropout: 0.2, target_modules: ["q_proj"])',
                  'train s sft for x in d { input: x.q, target: x.a }')
    lora = seen["configs"].peft_config
    assert (lora.r, lora.lora_alpha, lora.lora_dropout, set(lora.target_modules)) == (4, 8, 0.2, {"q_proj"})
    assert set(O.LORA_OPTIONS) == {"r", "alpha", "dropout", "target_modules"}  # each checked just above


# ---------------------------------------------------------------------- load options
def test_load_options_land_in_load_rows(tmp_path, monkeypatch):
    import runtime.data as D

    seen = []
    real = D.load_rows

    def load_rows(source, **kwargs):
        seen.append(kwargs)
        return real(source, **kwargs)

    monkeypatch.setattr(D, "load_rows", load_rows)
    (tmp_path / "extra.json").write_text(json.dumps([f"e{i}" for i in range(len(ROWS))]))
    options = "|".join(f"o{i}" for i in range(len(ROWS)))
    out = _run(tmp_path, 'program c "c"\ndata d = load("rows.jsonl", split: "train", format: "jsonl", '
               'columns: {q: "question", answer: "extra_src", extra_src: "extra_src"}, limit: 3, seed: 5, '
               f'shuffle: true, attach: {{extra: "extra.json"}}, templates: {{t: "Q: {{question}}"}}, '
               f'options: "{options}", answer_is: "index0")\n'
               'eval res for x in d metrics accuracy { "q" = x.t  "extra" = x.extra  "answer" = x.answer '
               'gold x.options[x.extra_src] }\n')
    assert out.status == "finished", out.error
    kw = seen[0]  # the handler's call (load_rows calls itself once more for attach)
    assert {k: kw[k] for k in O.LOAD_OPTIONS} == {"split": "train", "format": "jsonl",
                                                  "columns": {"q": "question", "answer": "extra_src",
                                                              "extra_src": "extra_src"},
                                                  "limit": 3, "seed": 5, "shuffle": True,
                                                  "attach": {"extra": "extra.json"},
                                                  "templates": {"t": "Q: {question}"}, "options": options,
                                                  "answer_is": "index0"}
    got = {r["system"]: (r["n"], r["accuracy"]) for r in out.results}
    assert got["answer"] == (3, 1.0)  # the index answer became its option's text
    assert got["q"] == (3, 0.0) and got["extra"] == (3, 0.0)


# ---------------------------------------------------------------------- the whole vocabulary
# Each training option -> the test above that sees it in the built config or the trainer's call.
TRAIN_LANDINGS = {
    **dict.fromkeys(("lr", "epochs", "batch_size", "grad_accum", "max_length", "max_steps", "seed", "warmup",
                     "scheduler", "optimizer", "weight_decay", "lora_r", "lora_alpha", "lora_dropout"),
                    test_training_options_land_in_the_trl_and_peft_configs),
    "lambda": test_kd_lambda_and_full_fine_tuning, "full": test_kd_lambda_and_full_fine_tuning,
    "beta": test_dpo_beta_and_max_length_land_in_the_dpo_config,
    "restart": "test_restart_trains_the_declared_weights_not_the_current_version",  # defined below
    **dict.fromkeys(("launcher", "processes", "accelerate_config"),
                    "test_launch_options_land_in_launch_train"),  # defined below
}
KWARG_LANDINGS = {("vllm", "gpu_memory_utilization"): test_model_options_land_in_the_local_executors_and_requests,
                  ("vllm", "max_model_len"): test_model_options_land_in_the_local_executors_and_requests,
                  **{("vllm", n): test_vllm_engine_arguments_reach_the_engine_under_their_own_name
                     for n in O.BACKEND_KWARGS["vllm"] if n not in ("gpu_memory_utilization", "max_model_len")},
                  ("gguf", "file"): test_the_gguf_file_kwarg_is_the_file_loaded,
                  ("server", "model"): test_model_options_reach_litellm_and_the_server,
                  ("server", "api_key_env"): test_a_servers_api_key_env_is_sent_only_when_the_user_confirms_it,
                  # the weights a training of a served role loads (tests/runtime/test_served_versions.py)
                  ("server", "weights"): "test_a_served_role_trains_on_its_weights_and_calls_the_adapter"}


def test_every_option_name_has_a_landing_or_is_rejected_where_it_does_not_apply(tmp_path):
    """The landing tables cover exactly the vocabulary, and every model option is E112 at
    the option on each backend it does not apply to."""
    assert set(TRAIN_LANDINGS) == set(O.TRAIN_OPTIONS)
    assert set(KWARG_LANDINGS) == {(b, n) for b, table in O.BACKEND_KWARGS.items() for n in table}
    for name, opt in O.MODEL_OPTIONS.items():
        for backend in BACKENDS:
            family = FAMILY.get(backend)
            if backend in opt.applies:  # the landing tests above check these names, family by family
                assert name in (LOCAL_LANDINGS if family != "litellm" else {**LITELLM_LANDINGS, "max_retries": 0})
                continue
            ref = {"column": '"a"', "api": '"openai/x"', "server": '"http://127.0.0.1:1/v1"',
                   "embedded": '"smollm2-135m-instruct"', "gguf": '"org/repo/m.gguf"'}.get(backend, '"m"')
            p = tmp_path / f"{name}_{backend}.collab"
            p.write_text(f'program t "t"\nmodel m = {backend}({ref}) frozen {name} {json.dumps(MODEL_VALUES[name])}\n'
                         'data d = load("builtin:science-mc", split: "test")\nfor x in d { x.a = m.generate(x.question) }\n')
            diags = [d for d in check_path(str(p)).diagnostics if d.is_error]
            assert [(d.code, d.span.line) for d in diags] == [("E112", 2)], (name, backend, diags)
            assert f"'{name}' does not apply" in diags[0].message


def test_trainer_defaults_are_the_documented_ones():
    import inspect

    from runtime import trainer

    params = inspect.signature(trainer.train).parameters
    for name, opt in O.TRAIN_OPTIONS.items():
        kw = opt.kwarg
        if kw.startswith("lora."):
            assert trainer.LORA_DEFAULTS[kw.removeprefix("lora.")] == opt.default, name
        elif kw in ("processes", "accelerate_config"):  # runtime.launch.launch_train's keywords
            from runtime.launch import launch_train

            assert inspect.signature(launch_train).parameters[kw].default == opt.default, name
        elif kw not in ("lora", "restart") and name not in ("optimizer", "scheduler", "warmup", "weight_decay", "lr", "seed",
                                           "max_steps"):
            assert params[kw].default == opt.default, name
    for name, opt in O.LORA_OPTIONS.items():
        assert trainer.LORA_DEFAULTS[opt.kwarg] == opt.default, name


def test_listed_schedulers_and_optimizers_are_transformers_names():
    import torch
    from transformers import TrainingArguments
    from transformers.optimization import get_scheduler
    from transformers.trainer import Trainer
    from transformers.trainer_utils import SchedulerType
    from transformers.training_args import OptimizerNames

    params = [torch.nn.Parameter(torch.zeros(2))]
    for name in O.SCHEDULERS:
        assert SchedulerType(name).value == name
        opt = torch.optim.SGD(params, lr=1.0)
        sched = get_scheduler(name, opt, num_warmup_steps=2, num_training_steps=10)
        lrs = []
        for _ in range(4):
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        if name in O.NO_WARMUP_SCHEDULERS:
            assert lrs[0] == 1.0  # the warmup is ignored: why warmup with it is E112
        else:
            assert lrs[0] < lrs[2], name  # it warms up
    assert set(O.OPTIMIZER_ALIASES.values()) <= set(O.OPTIMIZERS)
    for name in O.OPTIMIZERS:
        assert OptimizerNames(name).value == name
        args = TrainingArguments(output_dir="unused", optim=name, report_to="none")
        cls, _ = Trainer.get_optimizer_cls_and_kwargs(args)
        assert cls is not None
    assert {f for f in TrainingArguments.__dataclass_fields__ if f.startswith("warmup")} == {"warmup_steps"}


def test_a_version_trained_with_other_lora_settings_is_not_reused(tmp_path, monkeypatch):
    """The declared LoRA settings are part of what a training's result depends on: changing
    them (or switching to full fine-tuning) trains again instead of reusing the stored version."""
    import runtime.trainer as T

    calls = []

    def fake_train(objective, base, rows, out_dir, **kwargs):
        calls.append(kwargs["lora"])
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        return T.TrainResult(objective, Path(out_dir), Path(out_dir), None, 1, len(rows), 0.0, 0.0, 0)

    monkeypatch.setattr(T, "train", fake_train)
    (tmp_path / "base").mkdir()
    text = HEAD + f'model s = hf("{tmp_path / "base"}") trainable %s\n' \
                  'train s sft for x in d { input: x.q, target: x.a }\n'
    for decl in ("lora(r: 4)", "lora(r: 4)", "lora(r: 8)", "full"):
        out = _run(tmp_path, text % decl)
        assert out.status == "finished", out.error
    assert calls == [{"r": 4}, {"r": 8}, None]  # the second run reused the first version


def test_restart_trains_the_declared_weights_not_the_current_version(tmp_path, monkeypatch):
    """restart: true (STaR) hands the trainer the declared model and no adapter; without it a
    second training continues the first one's adapter."""
    from runtime_testing import fake_trainer

    calls = fake_trainer(monkeypatch)
    out = _run(tmp_path, HEAD + 'model s = embedded("smollm2-135m-instruct") trainable\n'
               'train s sft for x in d { input: x.q, target: x.a }\n'
               'train s sft for x in d { input: x.q, target: x.q, restart: true, lora_r: 4 }\n'
               'train s sft for x in d { input: x.a, target: x.q }\n')
    assert out.status == "finished", out.error
    first, second, third = (kw.get("adapter") for kw in calls)
    assert first is None and second is None  # restart: no adapter to continue (and its own LoRA settings)
    assert third is not None and "versions" in str(third)  # continues the restarted version


def test_launch_options_land_in_launch_train(tmp_path, monkeypatch):
    """launcher "accelerate" hands the training to runtime.launch.launch_train with processes= and
    the real path of accelerate_config (located next to the program); the trainer's own keywords
    do not get them; without a launcher the training runs in process (runtime.trainer.train)."""
    import runtime.launch as L
    from runtime_testing import fake_trainer

    in_process = fake_trainer(monkeypatch)
    launched = []

    def fake_launch(objective, base, rows, out_dir, **kw):
        launched.append(kw)
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 4}))
        import runtime.trainer as T

        return T.TrainResult(objective, out, out, None, 1, len(rows), 0.1, 1.0, 10, launcher="accelerate",
                             world_size=kw["processes"])

    monkeypatch.setattr(L, "launch_train", fake_launch)
    (tmp_path / "acc.yaml").write_text("distributed_type: MULTI_GPU\n")
    out = _run(tmp_path, HEAD + 'model s = embedded("smollm2-135m-instruct") trainable\n'
               'train s sft for x in d { input: x.q, target: x.a, batch_size: 4, launcher: "accelerate", '
               'processes: 2, accelerate_config: "acc.yaml" }\n'
               'train s sft for x in d { input: x.a, target: x.q }\n')
    assert out.status == "finished", out.error
    (kw,) = launched
    assert kw["processes"] == 2 and kw["accelerate_config"] == str((tmp_path / "acc.yaml").resolve())
    assert not {"launcher", "processes", "accelerate_config"} & set(kw) - {"processes", "accelerate_config"}
    assert len(in_process) == 1 and not {"launcher", "processes", "accelerate_config"} & set(in_process[0])
    first, second = out.trainings
    assert (first["launcher"], first["world_size"]) == ("accelerate", 2)
    assert (second["launcher"], second["world_size"]) == ("none", 1)
