"""LiteLLMExecutor against a real OpenAI-compatible server on 127.0.0.1 (tests/runtime/
openai_server.py) that runs the embedded SmolLM2-135M-Instruct with transformers.

Expected outputs are computed in-process by the same server object (``srv.answer``), which
memoises greedy completions; the HTTP calls then return them without model time, so the
failure, timeout and concurrency tests measure the client, not the CPU.
"""
from __future__ import annotations

import asyncio
import math
import socket
import sys
import time
import traceback
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from openai_server import ModelRunner, OpenAIServer

from runtime.executors.base import ChoiceRequest, GenRequest, confidence
from runtime.executors.litellm_exec import LiteLLMCallError, LiteLLMExecutor

pytestmark = pytest.mark.slow

MODEL = "openai/smollm2"
MAX_TOKENS = 6
PROMPTS = [
    "What is the capital of France?",
    "Name a primary color.",
    "What is 2 + 3?",
    "Say hello in Spanish.",
    "What animal says moo?",
    "Give one word for happy.",
    "What is the opposite of hot?",
    "How many legs does a spider have?",
]
SECRET = "sk-collab-test-5ecret-0123456789abcdef"


@pytest.fixture(scope="module")
def runner(tiny_model_dir) -> ModelRunner:
    return ModelRunner(tiny_model_dir)


@pytest.fixture(scope="module")
def expected(runner) -> dict[str, dict]:
    """The server model's own answers for PROMPTS (greedy, MAX_TOKENS), computed in-process."""
    srv = OpenAIServer(runner=runner)
    return {p: srv.answer({"messages": [{"role": "user", "content": p}], "temperature": 0.0,
                           "max_tokens": MAX_TOKENS}, chat=True)["choices"][0] for p in PROMPTS}


@pytest.fixture(scope="module")
def warm_litellm() -> None:
    """One call first, so litellm's lazy imports do not count in timed tests."""
    with OpenAIServer(fixed_reply="ok") as srv:
        _executor(srv).generate([GenRequest("warm up", max_tokens=2)])


def _executor(srv: OpenAIServer, **kw) -> LiteLLMExecutor:
    kw.setdefault("backoff_initial", 0.05)
    kw.setdefault("backoff_max", 0.2)
    return LiteLLMExecutor(kw.pop("model", MODEL), api_base=srv.base_url, **kw)


def _reqs(**kw) -> list[GenRequest]:
    return [GenRequest(p, max_tokens=MAX_TOKENS, **kw) for p in PROMPTS]


def test_generate_matches_server_model(runner, expected):
    with OpenAIServer(runner=runner) as srv:
        out = _executor(srv, concurrency=4).generate(_reqs())
    assert len(out) == len(PROMPTS) and all(len(g) == 1 for g in out)
    for p, (g,) in zip(PROMPTS, out):
        assert g.text == expected[p]["message"]["content"]
        assert g.text.strip()
        assert g.prompt_tokens > 10 and 0 < g.completion_tokens <= MAX_TOKENS
        assert g.retries == 0 and g.cost == 0.0  # unknown model: no price, no crash
        assert g.token_logprobs is None and g.top2_margins is None
    assert srv.requests == len(PROMPTS)


def test_logprobs_margins_and_usage(runner, expected):
    with OpenAIServer(runner=runner) as srv:
        (g,), = _executor(srv).generate(
            [GenRequest(PROMPTS[0], max_tokens=MAX_TOKENS, logprobs=True)])
    ids = runner.prompt_ids(messages=[{"role": "user", "content": PROMPTS[0]}])
    ref = runner.complete(ids, MAX_TOKENS, top_k_logprobs=2)
    assert g.text == ref["text"] == expected[PROMPTS[0]]["message"]["content"]
    assert len(g.token_logprobs) == len(g.top2_margins) == g.completion_tokens == len(ref["ids"])
    for lp, m, (_, rlp, top) in zip(g.token_logprobs, g.top2_margins, ref["steps"]):
        assert lp <= 0 and lp == pytest.approx(rlp, abs=1e-5)
        assert 0.0 <= m <= 1.0
        assert m == pytest.approx(math.exp(top[0][1]) - math.exp(top[1][1]), abs=1e-5)
    assert 0 < confidence("mean_token_prob", g) <= 1 and 0 <= confidence("top2_margin", g) <= 1


def test_failures_are_retried_and_counted(runner, expected, warm_litellm):
    with OpenAIServer(runner=runner, failure_rate=0.3, hang_s=120.0,
                      failure_kinds=("429", "500", "hang")) as srv:
        t0 = time.monotonic()
        out = _executor(srv, concurrency=8, timeout=1.5, max_retries=5).generate(_reqs())
        elapsed = time.monotonic() - t0
    assert [g[0].text for g in out] == [expected[p]["message"]["content"] for p in PROMPTS]
    retries = sum(g.retries for gens in out for g in gens)
    injected = sum(srv.failures.values())
    assert set(srv.failures) == {"429", "500", "hang"}, srv.failures
    assert retries == injected > 0  # every retry counted, none hidden in the client library
    assert srv.requests == len(PROMPTS) + injected
    assert elapsed < 30  # the 120 s hang was cut by the 1.5 s client timeout


def test_concurrency_is_bounded(runner, expected, warm_litellm):
    with OpenAIServer(runner=runner, latency_ms=300) as srv:
        t0 = time.monotonic()
        out = _executor(srv, concurrency=3).generate(_reqs() + _reqs())
        elapsed = time.monotonic() - t0
    assert len(out) == 16 and all(g[0].text for g in out)
    assert srv.max_in_flight == 3  # bounded, and actually concurrent
    assert elapsed >= math.ceil(16 / 3) * 0.3 - 0.05


def _leaks(obj) -> bool:
    return SECRET in repr(obj) or SECRET in str(obj)


def test_api_key_is_sent_but_never_exposed(runner, expected, monkeypatch):
    monkeypatch.setenv("COLLAB_TEST_API_KEY", SECRET)
    with OpenAIServer(runner=runner) as srv:
        ex = _executor(srv, api_key_env="COLLAB_TEST_API_KEY")
        out = ex.generate(_reqs()[:2])
        res = ex.choose([ChoiceRequest("Pick one.", ("yes", "no"))])
        assert srv.auth_headers and all(h == f"Bearer {SECRET}" for h in srv.auth_headers)
    assert not _leaks(out) and not _leaks(res) and not _leaks(ex)
    # a 401 whose body echoes the key back (not retried), and a 500 that outlasts the retries
    for kinds, attempts in ((("401",), 1), (("500",), 2)):
        with (OpenAIServer(runner=runner, failure_rate=1.0, failure_kinds=kinds) as srv,
              pytest.raises(LiteLLMCallError) as ei):
            _executor(srv, api_key_env="COLLAB_TEST_API_KEY", max_retries=1).generate(_reqs()[:1])
        e = ei.value
        text = "".join(traceback.format_exception(e)) + repr(e.args) + repr(vars(e))
        assert SECRET not in text and e.__cause__ is None and e.__context__ is None
        assert MODEL in str(e) and e.attempts == attempts and e.status_code == int(kinds[0])
        if kinds == ("401",):  # the echoed key was scrubbed, the rest of the message kept
            assert "Incorrect API key provided: ***" in str(e)


def test_a_server_gets_only_the_bound_key_never_the_environment(monkeypatch):
    """OPENAI_API_KEY and the organization/project ids the OpenAI client would add as
    headers never reach a server; with api_key_env the bound key does, and only it."""
    env = {"OPENAI_API_KEY": SECRET, "OPENAI_ORGANIZATION": "org-" + SECRET, "OPENAI_ORG_ID": "oid-" + SECRET,
           "OPENAI_PROJECT_ID": "proj-" + SECRET, "COLLAB_TEST_API_KEY": "bound-key-0123456789"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    for key_env, auth in ((None, "Bearer no-key"), ("COLLAB_TEST_API_KEY", "Bearer bound-key-0123456789")):
        with OpenAIServer(fixed_reply="ok") as srv:
            ex = _executor(srv, api_key_env=key_env)
            ex.generate([GenRequest("hi", max_tokens=2), GenRequest("text", max_tokens=2, chat=False)])
            ex.close()
        assert len(srv.log) == 2 and SECRET not in srv.seen()
        assert {v for e in srv.log for k, v in e["headers"] if k.lower() == "authorization"} == {auth}
        assert not any(k.lower().startswith("openai-") for e in srv.log for k, _ in e["headers"])


def test_missing_key_env_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("COLLAB_NO_SUCH_KEY", raising=False)
    ex = LiteLLMExecutor(MODEL, api_base="http://127.0.0.1:9/v1", api_key_env="COLLAB_NO_SUCH_KEY")
    with pytest.raises(LiteLLMCallError, match="COLLAB_NO_SUCH_KEY"):
        ex.generate([GenRequest("hi")])


def test_unreachable_server_fails_fast_and_clearly(warm_litellm):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ex = LiteLLMExecutor(MODEL, api_base=f"http://127.0.0.1:{port}/v1", max_retries=1,
                         timeout=5, backoff_initial=0.05, backoff_max=0.1)
    t0 = time.monotonic()
    with pytest.raises(LiteLLMCallError) as ei:
        ex.generate([GenRequest("hi", max_tokens=2)])
    assert time.monotonic() - t0 < 10
    msg = str(ei.value)
    assert MODEL in msg and "after 2 attempts" in msg and f"127.0.0.1:{port}" in msg
    assert "Connection" in msg


def test_choose_logprobs_and_parse(runner):
    reqs = [ChoiceRequest("What is the capital of France?", ("Paris", "London", "Rome")),
            ChoiceRequest("Is fire hot?", ("yes", "no"))]
    with OpenAIServer(runner=runner) as srv:
        by_lp = _executor(srv).choose(reqs)
        by_text = _executor(srv, choose_mode="parse").choose(reqs)
        # a server without vLLM's runtime LoRA loading cannot serve a trained version: one error
        # that says how to start one that can (served versions: tests/runtime/test_served_versions.py)
        from runtime.executors.litellm_exec import LiteLLMCallError

        with pytest.raises(LiteLLMCallError, match="no runtime LoRA loading .*--enable-lora"):
            _executor(srv).choose([ChoiceRequest("x", ("a", "b"), adapter="/tmp/lora")])
    for r, a, b in zip(reqs, by_lp, by_text):
        assert len(a.probs) == len(b.probs) == len(r.options)
        assert sum(a.probs) == pytest.approx(1.0) and sum(b.probs) == pytest.approx(1.0)
        assert all(0 <= p <= 1 for p in a.probs + b.probs)
        assert len(a.logliks) == len(r.options) and all(x <= 0 for x in a.logliks)
        if max(b.probs) == 1.0:  # the greedy answer parsed: the letter scores agree with it
            assert a.index == b.index
        assert 0 < confidence("option_prob", choice=a) <= 1


def test_parse_choice():
    opts = ("Paris", "London", "Rome")
    assert LiteLLMExecutor.parse_choice("B", opts) == 1
    assert LiteLLMExecutor.parse_choice(" (C) Rome", opts) == 2
    assert LiteLLMExecutor.parse_choice("The answer is: A", opts) == 0
    assert LiteLLMExecutor.parse_choice("I think it is London.", opts) == 1
    assert LiteLLMExecutor.parse_choice("no idea", opts) is None
    assert LiteLLMExecutor.parse_choice("D", opts) is None


def test_samples_greedy_copies_text_mode_and_cost(runner):
    with OpenAIServer(runner=runner) as srv:
        ex = _executor(srv)
        sampled, greedy = ex.generate([
            GenRequest(PROMPTS[1], temperature=1.0, max_tokens=4, n=3, seed=7, logprobs=True),
            GenRequest(PROMPTS[2], max_tokens=4, n=2)])
        assert srv.requests == 2  # n samples in one call; greedy n=2 sent once
        assert len(sampled) == 3
        assert all(len(g.token_logprobs) == g.completion_tokens for g in sampled)
        assert len({g.text for g in sampled}) >= 2  # different samples
        assert greedy[0].text == greedy[1].text and greedy[1].completion_tokens == 0
        (raw,), = ex.generate([GenRequest("The sky is", max_tokens=4, chat=False)])
        assert raw.text == runner.complete(runner.prompt_ids(prompt="The sky is"), 4)["text"]
        # a model the offline price map knows is priced (the server echoes the model name)
        (priced,), = _executor(srv, model="openai/gpt-4o-mini").generate(
            [GenRequest(PROMPTS[0], max_tokens=MAX_TOKENS)])
    assert priced.cost > 0 and sampled[0].cost == 0.0


def test_sync_call_inside_running_loop_and_async_api(runner, expected):
    with OpenAIServer(runner=runner) as srv:
        ex = _executor(srv)

        async def main():
            sync = ex.generate(_reqs()[:2])  # blocks this loop's thread, but works
            asyn = await ex.agenerate(_reqs()[2:4])
            return sync + asyn

        out = asyncio.run(main())
        ex.close()
        with pytest.raises(RuntimeError, match="closed"):
            ex.generate(_reqs()[:1])
    assert [g[0].text for g in out] == [expected[p]["message"]["content"] for p in PROMPTS[:4]]


def test_an_api_model_refuses_a_trained_versions_adapter_before_any_call():
    from runtime.executors.litellm_exec import LiteLLMExecutor

    ex = LiteLLMExecutor(model="openai/gpt-4o-mini", max_retries=0)
    with pytest.raises(ValueError, match="API models take no LoRA adapter"):
        ex.choose([ChoiceRequest("x", ("a", "b"), adapter="/tmp/lora")])
    ex.close()
