"""TransformersExecutor on the real embedded SmolLM2-135M-Instruct (no fakes).

The model loads once per module; generations are kept to a few tokens so the file runs
in well under a minute on two CPU cores.
"""
from __future__ import annotations

import math
import subprocess
import sys

import pytest

from runtime.executors.base import ChoiceRequest, GenRequest, confidence

pytest.importorskip("transformers")
pytest.importorskip("peft")

PROMPTS = ["What is the capital of France?", "Name a color.", "Write one short sentence about the sea."]
QUESTION = ChoiceRequest("What is 2+2?", ("4", "banana", "seven hundred"))


@pytest.fixture(scope="module")
def ex():
    from runtime.embedded import EmbeddedModelMissing
    from runtime.executors.transformers_exec import TransformersExecutor

    try:
        executor = TransformersExecutor("smollm2-135m-instruct", kind="embedded", batch_size=8)
    except EmbeddedModelMissing as e:
        pytest.skip(str(e))
    yield executor
    executor.close()


@pytest.fixture(scope="module")
def greedy_batch(ex):
    """Three prompts in one batch, greedy, with logprobs (shared by several tests)."""
    return ex.generate([GenRequest(p, max_tokens=8, logprobs=True) for p in PROMPTS])


def test_importing_runtime_does_not_import_torch():
    code = ("import sys, runtime, runtime.executors, runtime.executors.base, runtime.embedded; "
            "sys.exit(1 if {'torch', 'transformers', 'peft'} & set(sys.modules) else 0)")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_resolve_kind():
    from runtime.executors.transformers_exec import resolve_kind

    assert resolve_kind("smollm2-135m-instruct") == "embedded"
    assert resolve_kind("models/x.Q4_0.gguf") == "gguf"
    assert resolve_kind("HuggingFaceTB/SmolLM2-135M-Instruct") == "hf"
    assert resolve_kind("anything", "hub") == "hf"
    with pytest.raises(ValueError):
        resolve_kind("x", "onnx")


def test_greedy_batched_equals_one_at_a_time(ex, greedy_batch):
    for prompt, batched in zip(PROMPTS, greedy_batch):
        single = ex.generate([GenRequest(prompt, max_tokens=8, logprobs=True)])[0][0]
        assert single.text == batched[0].text  # left padding does not change the output
        assert single.completion_tokens == batched[0].completion_tokens
        assert single.prompt_tokens == batched[0].prompt_tokens
        assert max(abs(a - b) for a, b in zip(single.token_logprobs, batched[0].token_logprobs)) < 1e-3
    assert "Paris" in greedy_batch[0][0].text


def test_logprobs_margins_and_counts(greedy_batch):
    for [gen] in greedy_batch:
        assert gen.text and "<|im_end|>" not in gen.text and "<|im_start|>" not in gen.text
        assert 0 < gen.completion_tokens <= 8 and gen.prompt_tokens > 10  # chat template applied
        assert len(gen.token_logprobs) == len(gen.top2_margins) == gen.completion_tokens
        assert all(-math.inf < x <= 0 for x in gen.token_logprobs)
        assert all(0 <= m <= 1 for m in gen.top2_margins)
        for est in ("mean_token_prob", "top2_margin"):
            assert 0 <= confidence(est, gen=gen) <= 1


def test_no_logprobs_unless_asked_and_per_row_budget(ex):
    prompt = PROMPTS[2]
    short, long_, n2 = ex.generate([GenRequest(prompt, max_tokens=3), GenRequest(prompt, max_tokens=8),
                                   GenRequest(prompt, max_tokens=3, n=2)])
    assert short[0].token_logprobs is None and short[0].top2_margins is None
    assert short[0].completion_tokens == 3 and long_[0].completion_tokens > 3
    assert long_[0].text.startswith(short[0].text)
    assert [g.text for g in n2] == [short[0].text] * 2  # greedy n=2: the same decode twice
    assert ex.generate([GenRequest(prompt, n=0), GenRequest(prompt, max_tokens=0)]) == [
        [], [type(short[0])("", None, None, short[0].prompt_tokens, 0)]]


def test_sampling_n3_reproducible_with_seed(ex):
    req = GenRequest("Tell me a story about a dragon.", temperature=1.0, top_p=0.95, n=3, seed=123,
                     max_tokens=8, logprobs=True)
    first = ex.generate([req])[0]
    assert len(first) == 3 and all(g.text for g in first)
    assert len({g.text for g in first}) > 1
    # Same seed, now batched with another request: the same samples.
    _, again = ex.generate([GenRequest(PROMPTS[0], max_tokens=2), req])
    assert [g.text for g in again] == [g.text for g in first]
    for g in again:
        assert len(g.token_logprobs) == len(g.top2_margins) == g.completion_tokens
        assert all(x <= 0 for x in g.token_logprobs)
    reseeded = ex.generate([GenRequest(req.prompt, temperature=1.0, top_p=0.95, n=2, seed=124,
                                       max_tokens=8)])[0]
    assert [g.text for g in reseeded] != [g.text for g in first[:2]]


def test_choose_trivial_question(ex):
    [res] = ex.choose([QUESTION])
    assert len(res.probs) == len(res.logliks) == 3
    assert sum(res.probs) == pytest.approx(1.0, abs=1e-9)
    assert all(x < 0 for x in res.logliks)
    top = max(res.logliks)
    z = sum(math.exp(x - top) for x in res.logliks)
    assert res.probs == pytest.approx([math.exp(x - top) / z for x in res.logliks], rel=1e-9)
    assert res.index == 0 and QUESTION.options[res.index] == "4"
    assert 0 <= confidence("option_prob", choice=res) <= 1


def test_choose_batched_equals_unbatched(ex):
    other = ChoiceRequest("Which animal barks?", ("dog", "cat", "a fish that lives in the sea"))
    raw = ChoiceRequest("The capital of France is", (" Paris", " Berlin"), chat=False)
    batched = ex.choose([QUESTION, other, raw])
    for req, res in zip([QUESTION, other, raw], batched):
        [single] = ex.choose([req])
        assert res.logliks == pytest.approx(single.logliks, abs=1e-3)
        assert res.probs == pytest.approx(single.probs, abs=1e-4)
    assert batched[2].index == 0  # " Paris"


def test_raw_prompt_without_chat_template(ex):
    [[gen]] = ex.generate([GenRequest("The capital of France is", max_tokens=4, chat=False)])
    assert gen.prompt_tokens < 10 and gen.completion_tokens == 4 and gen.text.strip()


@pytest.fixture(scope="module")
def adapter_dir(tmp_path_factory):
    """A tiny random LoRA adapter on the embedded model (init_lora_weights=False: non-zero B,
    so the adapter changes the outputs)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from runtime.embedded import embedded_model_dir

    base = AutoModelForCausalLM.from_pretrained(embedded_model_dir())
    torch.manual_seed(0)
    cfg = LoraConfig(r=4, lora_alpha=32, target_modules=["q_proj", "v_proj", "o_proj"],
                     init_lora_weights=False)
    out = tmp_path_factory.mktemp("lora")
    get_peft_model(base, cfg).save_pretrained(out)
    del base
    return str(out)


def test_adapter_changes_output_and_base_is_unchanged(ex, greedy_batch, adapter_dir):
    prompt = PROMPTS[0]
    base_before = greedy_batch[0][0].text
    with_adapter, base_after = (g[0] for g in ex.generate([
        GenRequest(prompt, max_tokens=8, adapter=adapter_dir), GenRequest(prompt, max_tokens=8)]))
    assert with_adapter.text != base_before
    assert base_after.text == base_before
    # After the adapter is loaded, adapter-free requests still see the base weights.
    [[again]] = ex.generate([GenRequest(prompt, max_tokens=8)])
    assert again.text == base_before
    [[adapted_again]] = ex.generate([GenRequest(prompt, max_tokens=8, adapter=adapter_dir)])
    assert adapted_again.text == with_adapter.text
    base_choice, lora_choice = ex.choose([QUESTION, ChoiceRequest(QUESTION.prompt, QUESTION.options,
                                                                  adapter=adapter_dir)])
    assert base_choice.logliks != pytest.approx(lora_choice.logliks, abs=1e-3)
    assert base_choice.logliks == pytest.approx(ex.choose([QUESTION])[0].logliks, abs=1e-4)


def test_adapter_batches_run_merged_and_the_base_weights_come_back_bit_for_bit(ex, adapter_dir, monkeypatch):
    """Issue 11: an adapter's batch runs on merged weights, with the texts of the unmerged
    adapter; the base weights are restored exactly, whatever ran before."""
    import torch

    prompts = PROMPTS[:3]
    base = [g[0].text for g in ex.generate([GenRequest(p, max_tokens=8) for p in prompts])]
    before = {k: v.clone() for k, v in ex.model.state_dict().items() if "lora_" not in k}
    merged = [g[0].text for g in ex.generate([GenRequest(p, max_tokens=8, adapter=adapter_dir)
                                             for p in prompts])]
    assert ex._merged is not None and ex._saved  # the weights hold W + BA now
    ex.choose([ChoiceRequest(QUESTION.prompt, QUESTION.options, adapter=adapter_dir)])
    for _ in range(3):  # swaps back and forth leave no drift
        assert [g[0].text for g in ex.generate([GenRequest(p, max_tokens=8) for p in prompts])] == base
        assert ex._merged is None
        after = {k: v for k, v in ex.model.state_dict().items() if "lora_" not in k}
        assert all(torch.equal(before[k], after[k]) for k in before)
        again = [g[0].text for g in ex.generate([GenRequest(p, max_tokens=8, adapter=adapter_dir)
                                                for p in prompts])]
        assert again == merged
    monkeypatch.setattr(ex, "_merge", lambda name: None)  # PEFT's unmerged forward
    ex._restore()
    unmerged = [g[0].text for g in ex.generate([GenRequest(p, max_tokens=8, adapter=adapter_dir)
                                               for p in prompts])]
    assert unmerged == merged and merged != base


def test_finished_rows_leave_the_batch(ex):
    """Issue 11: a row that finished stops costing. Two rows, one done after 2 tokens, one
    allowed 40: after the first segment the model sees one row; both texts are the ones
    each row gets alone."""
    batch_sizes = []
    hook = ex.model.register_forward_pre_hook(
        lambda mod, args, kwargs: batch_sizes.append(kwargs["input_ids"].shape[0]), with_kwargs=True)
    try:
        reqs = [GenRequest(PROMPTS[0], max_tokens=2, logprobs=True),
                GenRequest(PROMPTS[1], max_tokens=40, logprobs=True)]
        short, long_ = (g[0] for g in ex.generate(reqs))
    finally:
        hook.remove()
    assert batch_sizes[0] == 2 and 1 in batch_sizes  # the short row left after its segment
    assert batch_sizes.count(2) <= 16  # at most one segment with both rows
    assert short.completion_tokens == 2 and len(short.token_logprobs) == 2
    assert long_.completion_tokens > 16 and len(long_.token_logprobs) == long_.completion_tokens
    [[alone]] = ex.generate([reqs[1]])
    assert long_.text == alone.text
    assert long_.token_logprobs == pytest.approx(alone.token_logprobs, abs=1e-4)


def test_prompts_of_mixed_lengths_are_read_in_groups_with_the_outputs_of_one_batch(ex, monkeypatch):
    """Issue 11: a batch's prompts are read (prefilled) in groups of similar length instead
    of all padded to the longest; decoding goes on from the groups' caches laid side by
    side. Greedy texts, log-probabilities and seeded samples are those of reading the batch
    at once (fp32 here, so up to float noise)."""
    long_prompt = "Read this carefully. " + "The quick brown fox jumps over the lazy dog. " * 25 + "What animal jumps?"
    reqs = [GenRequest(long_prompt, max_tokens=6, logprobs=True)] + \
        [GenRequest(p, max_tokens=6, logprobs=True) for p in PROMPTS] + \
        [GenRequest(PROMPTS[2], max_tokens=6, temperature=0.8, seed=7, logprobs=True)]
    widths = []
    hook = ex.model.register_forward_pre_hook(
        lambda mod, args, kwargs: widths.append(tuple(kwargs["input_ids"].shape)), with_kwargs=True)
    before = ex.grouped_prefills
    try:
        grouped = ex.generate(reqs)
    finally:
        hook.remove()
    assert ex.grouped_prefills == before + 1
    assert widths[0][0] == 4 and widths[0][1] < 60 < widths[1][1]  # the 4 short prompts read apart, narrow
    monkeypatch.setattr(ex, "grouped_prefill", False)
    whole = ex.generate(reqs)
    for [a], [b] in zip(grouped, whole):
        assert a.text == b.text and a.completion_tokens == b.completion_tokens
        assert a.token_logprobs == pytest.approx(b.token_logprobs, abs=1e-4)


def test_the_prefill_plan_groups_by_length():
    from runtime.executors.prefill import plan

    assert plan([20, 21, 22]) == [[0, 1, 2]]  # padding cheaper than another pass
    assert sorted(map(sorted, plan([300, 12, 14, 290, 13]))) == [[0, 3], [1, 2, 4]]


def test_batches_are_cut_by_their_estimated_memory(ex, monkeypatch):
    """Rows that would pass the batch memory go into the next batch; a single row always goes."""
    cost = ex._row_cost(100)
    assert cost > 0 and ex._row_cost(200) > 2 * cost  # KV grows with length, scores with its square
    items = [(None, n) for n in (100, 100, 100, 100, 100)]
    monkeypatch.setattr(ex, "batch_memory", int(cost * 2.5))
    assert [len(b) for _, b in ex._batches(list(items), key=lambda it: it[1])] == [2, 2, 1]
    monkeypatch.setattr(ex, "batch_memory", 1)
    assert [len(b) for _, b in ex._batches(list(items), key=lambda it: it[1])] == [1] * 5
    monkeypatch.setattr(ex, "batch_memory", 10**15)
    assert [len(b) for _, b in ex._batches(list(items) * 2, key=lambda it: it[1])] == [8, 2]  # batch_size 8


def test_max_tokens_past_the_context_window_is_refused(ex):
    """A huge max_tokens is an error naming the window, before anything is allocated (a
    sampled row used to allocate one random number per allowed token: 8 GB for 10**9)."""
    with pytest.raises(ValueError, match="does not fit the model's context window: 8,192 tokens"):
        ex.generate([GenRequest("Name a color.", max_tokens=10**9, temperature=1.0, seed=1)])
    (g,) = ex.generate([GenRequest("Name a color.", max_tokens=2)])[0]
    assert g.completion_tokens <= 2
