"""runtime.trainer on the real SmolLM2-135M-Instruct with tiny real data (CPU, ~2 minutes)."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

torch = pytest.importorskip("torch")
pytest.importorskip("trl")
pytest.importorskip("peft")

from runtime.trainer import TrainResult, train

QA = [
    ("What color is the sky on a clear day?", "Blue.", "The sky is blue."),
    ("How many legs does a spider have?", "Eight.", "A spider has eight legs."),
    ("What is the capital of France?", "Paris.", "The capital is Paris."),
    ("What do bees make?", "Honey.", "Bees make honey."),
    ("What is frozen water called?", "Ice.", "Frozen water is ice."),
    ("Which planet do we live on?", "Earth.", "We live on Earth."),
    ("What animal says moo?", "A cow.", "A cow says moo."),
    ("How many days are in a week?", "Seven.", "A week has seven days."),
]
SFT_ROWS = [{"input": q, "target": g} for q, g, _ in QA]
KD_ROWS = [{"input": q, "gold": g, "teacher": t} for q, g, t in QA]
GOLD = [(q, g) for q, g, _ in QA]
TEACHER = [(q, t) for q, _, t in QA]

# Few steps at a high learning rate: enough to move a 135M model measurably in seconds.
FAST = {"lr": 1e-3, "batch_size": 4, "max_length": 64, "max_steps": 4, "seed": 0}


# --------------------------------------------------------------------------------------------
# helpers


def _load(model_dir: Path, adapter: Path | None = None):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter))
    return model.eval()


@torch.no_grad()
def completion_logprobs(model, tok, pairs) -> tuple[torch.Tensor, torch.Tensor]:
    """(sum log p(completion | prompt), completion token count) per pair, chat-templated as in
    training (the completion includes the end-of-turn tokens)."""
    seqs, starts = [], []
    for prompt, completion in pairs:
        user = [{"role": "user", "content": prompt}]
        p = tok.apply_chat_template(user, tokenize=False, add_generation_prompt=True)
        answer = [{"role": "assistant", "content": completion}]
        full = tok.apply_chat_template(user + answer, tokenize=False)
        p_ids = tok(p, add_special_tokens=False)["input_ids"]
        f_ids = tok(full, add_special_tokens=False)["input_ids"]
        assert f_ids[: len(p_ids)] == p_ids
        seqs.append(f_ids)
        starts.append(len(p_ids))
    width = max(map(len, seqs))
    ids = torch.full((len(seqs), width), tok.pad_token_id)
    mask = torch.zeros_like(ids)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s)
        mask[i, : len(s)] = 1
    logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
    logp = torch.log_softmax(logits, -1).gather(-1, ids[:, 1:, None])[..., 0]
    keep = torch.zeros_like(logp, dtype=torch.bool)
    for i, (s, st) in enumerate(zip(seqs, starts)):
        keep[i, st - 1 : len(s) - 1] = True
    return (logp * keep).sum(-1), keep.sum(-1)


def mean_nll(model, tok, pairs) -> float:
    lp, n = completion_logprobs(model, tok, pairs)
    return float(-lp.sum() / n.sum())


def adapter_tensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(path / "adapter_model.safetensors"))


def assert_trained_adapter(res: TrainResult, out: Path) -> None:
    assert isinstance(res, TrainResult)
    assert res.adapter_path == out and res.path == out and res.model_path is None
    assert math.isfinite(res.train_loss) and res.steps > 0 and res.tokens > 0
    assert (out / "adapter_config.json").is_file()
    assert (out / "collab_train.json").is_file()
    # no intermediate checkpoints, no second (reference) adapter
    assert not [p for p in out.iterdir() if p.is_dir()], list(out.iterdir())
    # LoRA B starts at zero: a non-zero B means the adapted model differs from the base
    tensors = adapter_tensors(out)
    lora_b = [t for k, t in tensors.items() if "lora_B" in k]
    assert lora_b and any(t.abs().max() > 0 for t in lora_b)
    assert all(torch.isfinite(t).all() for t in tensors.values())


# --------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def tok(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_model_dir))


@pytest.fixture(scope="module")
def base_model(tiny_model_dir):
    return _load(tiny_model_dir)


@pytest.fixture(scope="module")
def sft_run(tiny_model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("sft")
    return out, train("sft", tiny_model_dir, SFT_ROWS, out, **FAST)


# --------------------------------------------------------------------------------------------
# tests


def test_import_does_not_import_torch():
    code = "import sys, runtime.trainer; assert 'torch' not in sys.modules, 'torch imported'"
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)


def test_sft_lowers_target_nll(sft_run, tiny_model_dir, base_model, tok):
    out, res = sft_run
    assert_trained_adapter(res, out)
    assert res.steps == 4 and res.examples == len(SFT_ROWS)
    before = mean_nll(base_model, tok, GOLD)
    after = mean_nll(_load(tiny_model_dir, out), tok, GOLD)
    assert after < 0.6 * before, (before, after)


def test_sft_continues_from_adapter(sft_run, tiny_model_dir, tmp_path):
    parent, first = sft_run
    out = tmp_path / "v2"
    res = train("sft", tiny_model_dir, SFT_ROWS, out, adapter=parent, **{**FAST, "max_steps": 2})
    assert_trained_adapter(res, out)
    assert res.steps == 2
    # it started from the trained adapter (low loss), not from a fresh LoRA
    assert res.log_history[0]["loss"] < 0.5 * first.log_history[0]["loss"]
    old, new = adapter_tensors(parent), adapter_tensors(out)
    assert old.keys() == new.keys()
    assert any(not torch.equal(old[k], new[k]) for k in old)
    with pytest.raises(ValueError):
        train("sft", tiny_model_dir, SFT_ROWS, parent, adapter=parent)


def test_kd_lambda_moves_towards_gold_or_teacher(sft_run, tiny_model_dir, tmp_path, tok):
    sft_out, _ = sft_run
    gold_out, teacher_out = tmp_path / "lam0", tmp_path / "lam1"
    r0 = train("kd", tiny_model_dir, KD_ROWS, gold_out, lam=0.0, **FAST)
    r1 = train("kd", tiny_model_dir, KD_ROWS, teacher_out, lam=1.0, **FAST)
    for r, out in ((r0, gold_out), (r1, teacher_out)):
        assert_trained_adapter(r, out)
        assert r.examples == len(KD_ROWS)  # zero-weight targets are not trained on

    # lam=0 is plain SFT on the gold targets (same seed -> identical adapter)
    a, b = adapter_tensors(gold_out), adapter_tensors(sft_out)
    assert all(torch.equal(a[k], b[k]) for k in a)

    m0, m1 = _load(tiny_model_dir, gold_out), _load(tiny_model_dir, teacher_out)
    assert mean_nll(m0, tok, GOLD) < mean_nll(m1, tok, GOLD)
    assert mean_nll(m1, tok, TEACHER) < mean_nll(m0, tok, TEACHER)


def test_multitask_weights_per_task_losses(tiny_model_dir, tmp_path):
    rows = [
        {"input": q, "targets": {"answer": g, "rationale": t, "ignored": "x"}} for q, g, t in QA
    ]
    tasks = [
        {"name": "answer", "prefix": "Answer briefly: ", "weight": 1.0},
        {"name": "rationale", "prefix": "Explain: ", "weight": 0.3},
        {"name": "ignored", "prefix": "Ignore: ", "weight": 0.0},
    ]
    out = tmp_path / "mt"
    res = train("multitask", tiny_model_dir, rows, out, tasks=tasks, **{**FAST, "max_steps": 3})
    assert_trained_adapter(res, out)
    assert res.examples == 2 * len(rows)  # the weight-0 task is dropped
    assert set(res.task_losses) == {"answer", "rationale"}
    assert all(math.isfinite(v) for v in res.task_losses.values())
    steps = [h for h in res.log_history if "loss" in h]
    assert len(steps) == 3
    for h in steps:  # the optimised loss is sum_m w_m * L_m of the logged per-task losses
        expected = 1.0 * h.get("loss_answer", 0.0) + 0.3 * h.get("loss_rationale", 0.0)
        assert h["loss"] == pytest.approx(expected, rel=1e-4, abs=1e-5), h


def test_weighted_loss_is_grad_accumulation_invariant(tiny_model_dir, tmp_path):
    """Per-task token counts are taken over the whole optimizer step, so one batch of 8 and
    4 accumulated micro-batches of 2 give the same loss and (up to float noise) update."""
    rows = [{"input": q, "targets": {"a": g, "r": t}} for q, g, t in QA[:4]]
    tasks = [
        {"name": "a", "prefix": "A: ", "weight": 1.0},
        {"name": "r", "prefix": "R: ", "weight": 0.3},
    ]
    kw = {"tasks": tasks, "lora": {"dropout": 0.0}, "lr": 1e-3, "max_length": 64,
          "max_steps": 1, "seed": 0}
    one = train("multitask", tiny_model_dir, rows, tmp_path / "one", batch_size=8, **kw)
    acc = train(
        "multitask", tiny_model_dir, rows, tmp_path / "acc", batch_size=2, grad_accum=4, **kw
    )
    assert acc.train_loss == pytest.approx(one.train_loss, rel=1e-5)
    a, b = adapter_tensors(tmp_path / "one"), adapter_tensors(tmp_path / "acc")
    assert all(torch.allclose(a[k], b[k], atol=1e-3) for k in a)


def test_dpo_increases_chosen_margin(tiny_model_dir, base_model, tmp_path, tok):
    rows = [{"prompt": q, "chosen": g, "rejected": "I am not sure."} for q, g, _ in QA]
    out = tmp_path / "dpo"
    res = train("dpo", tiny_model_dir, rows, out, beta=0.1, **{**FAST, "lr": 2e-4, "max_steps": 2})
    assert_trained_adapter(res, out)
    assert any("rewards/margins" in h for h in res.log_history)

    def margin(model):
        c, _ = completion_logprobs(model, tok, [(r["prompt"], r["chosen"]) for r in rows])
        rj, _ = completion_logprobs(model, tok, [(r["prompt"], r["rejected"]) for r in rows])
        return float((c - rj).mean())

    before, after = margin(base_model), margin(_load(tiny_model_dir, out))
    assert after > before + 0.5, (before, after)


def test_full_finetune_saves_model(tiny_model_dir, base_model, tmp_path):
    out = tmp_path / "full"
    kw = {**FAST, "lr": 1e-4, "max_steps": 1}
    res = train("sft", tiny_model_dir, SFT_ROWS, out, lora=None, **kw)
    assert res.model_path == out and res.adapter_path is None and res.steps == 1
    assert math.isfinite(res.train_loss)
    assert (out / "config.json").is_file() and (out / "tokenizer_config.json").is_file()
    tuned = _load(out)
    name, p0 = next((n, p) for n, p in base_model.named_parameters() if "q_proj" in n)
    assert not torch.equal(p0, dict(tuned.named_parameters())[name])


def test_rejects_bad_input(tiny_model_dir, tmp_path):
    with pytest.raises(ValueError):
        train("nope", tiny_model_dir, SFT_ROWS, tmp_path / "x")
    with pytest.raises(ValueError):
        train("sft", tiny_model_dir, [{"input": "q"}], tmp_path / "x")
    with pytest.raises(ValueError):
        train("multitask", tiny_model_dir, [{"input": "q", "targets": {"a": "b"}}], tmp_path / "x")


def test_schedule_optimizer_and_weight_decay_reach_the_training(tiny_model_dir, tmp_path):
    """warmup, scheduler, optimizer and weight_decay (the language's train options) shape the
    training that runs: the logged learning rates follow transformers' cosine schedule with
    the warmup ratio, and the optimizer that stepped is torch's RMSprop with the decay."""
    from transformers import get_cosine_schedule_with_warmup

    steps, warmup = 6, 0.34  # ceil(6 * 0.34) = 3 warmup steps
    res = train("sft", tiny_model_dir, SFT_ROWS, tmp_path / "v", lr=1e-3, batch_size=2, max_length=64,
                max_steps=steps, warmup=warmup, scheduler="cosine", optimizer="rmsprop", weight_decay=0.1)
    logged = [h["learning_rate"] for h in res.log_history if "learning_rate" in h]
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    sched = get_cosine_schedule_with_warmup(opt, num_warmup_steps=math.ceil(steps * warmup),
                                            num_training_steps=steps)
    expected = []
    for _ in range(steps):
        expected.append(sched.get_last_lr()[0])
        opt.step()
        sched.step()
    assert len(logged) == steps
    assert logged == pytest.approx(expected), (logged, expected)  # warmup 0 -> 1e-3, then the cosine decay
    assert logged[3] > logged[4] > logged[5] > 0 and logged[5] < 1e-3 * 0.5
    assert res.optimizer == {"class": "RMSprop", "weight_decay": [0.0, 0.1]}  # biases and norms: no decay
    meta = json.loads((tmp_path / "v" / "collab_train.json").read_text())["hyperparameters"]
    assert (meta["warmup"], meta["scheduler"], meta["optimizer"], meta["weight_decay"]) == \
        (0.34, "cosine", "rmsprop", 0.1)


def _spy_batches(monkeypatch) -> list[tuple[list[int], list[int]]]:
    """Record (row index, group) of every sequence of every micro-batch the group-weighted
    trainer computes a loss on (the real TRL trainer; only the call is observed)."""
    from runtime.trainer import _weighted_sft_cls

    cls = _weighted_sft_cls()
    seen: list[tuple[list[int], list[int]]] = []
    original = cls.compute_loss

    def spy(self, model, inputs, *args, **kwargs):
        item = inputs.get("item")
        seen.append(([] if item is None else item.tolist(), inputs["group"].tolist()))
        return original(self, model, inputs, *args, **kwargs)

    monkeypatch.setattr(cls, "compute_loss", spy)
    return seen


def test_multitask_batches_hold_every_task_of_their_questions(tiny_model_dir, tmp_path, monkeypatch):
    """TinyLLM's trainer: one batch of questions, every task on it (gamma*L_pred + alpha*L_t5 +
    beta*L_llama), so TinyLLM (3 tasks), distilling step-by-step (2) and fine-tuning (sft)
    take the same number of optimizer steps per epoch on the same questions."""
    seen = _spy_batches(monkeypatch)
    rows = [{"input": q, "targets": {"pred": g, "t5": t, "llama": f"Because {t.lower()}"}}
            for q, g, t in QA]
    tasks = [{"name": "pred", "prefix": "predict: ", "weight": 1.0},
             {"name": "t5", "prefix": "explain: ", "weight": 0.5},
             {"name": "llama", "prefix": "rationale: ", "weight": 2.0}]
    kw = {"lr": 1e-4, "batch_size": 4, "max_length": 64, "epochs": 1, "seed": 0}
    tiny = train("multitask", tiny_model_dir, rows, tmp_path / "tiny", tasks=tasks, **kw)
    dss = train("multitask", tiny_model_dir, rows, tmp_path / "dss", tasks=[
        {"name": "pred", "prefix": "predict: ", "weight": 0.5},
        {"name": "t5", "prefix": "explain: ", "weight": 0.5}], **kw)
    ft = train("sft", tiny_model_dir, [{"input": "predict: " + q, "target": g} for q, g, _ in QA],
               tmp_path / "ft", **kw)
    assert tiny.steps == dss.steps == ft.steps == 2  # 8 questions, 4 per step
    assert tiny.examples == 24 and dss.examples == 16
    tiny_batches, dss_batches = seen[:2], seen[2:]
    assert len(tiny_batches) == 2 and len(dss_batches) == 2
    for batches, n_tasks in ((tiny_batches, 3), (dss_batches, 2)):
        covered = []
        for items, groups in batches:
            per_task = {g: sorted(i for i, gg in zip(items, groups) if gg == g) for g in set(groups)}
            assert len(per_task) == n_tasks  # every task in every step ...
            questions = per_task[0]
            assert len(questions) == 4 and all(v == questions for v in per_task.values())  # ... on the same questions
            covered += questions
        assert sorted(covered) == list(range(8))  # each question once per epoch
    for h in [h for h in tiny.log_history if "loss" in h]:
        assert h["loss"] == pytest.approx(1.0 * h["loss_pred"] + 0.5 * h["loss_t5"] + 2.0 * h["loss_llama"],
                                          rel=1e-4, abs=1e-5), h


def test_kd_row_without_a_teacher_answer_keeps_its_gold_term():
    """DKT Eq. 3: a row whose teacher answer did not parse still trains the gold term."""
    from runtime.trainer import _sft_groups

    rows = [{"input": "q1", "gold": "a1", "teacher": "t1"}, {"input": "q2", "gold": "a2"}]
    groups = {name: (w, pairs) for name, w, pairs in _sft_groups("kd", rows, 0.5, None)}
    assert groups["gold"] == (0.5, [("q1", "a1", 0), ("q2", "a2", 1)])
    assert groups["teacher"] == (0.5, [("q1", "t1", 0)])
    with pytest.raises(ValueError, match="no examples for 'teacher'"):
        _sft_groups("kd", [{"input": "q2", "gold": "a2"}], 0.5, None)


def test_a_finished_training_leaves_no_model_or_trainer_alive(tiny_model_dir, tmp_path):
    """A run trains several versions in one process: each training's model, trainer and
    optimizer are given back when it returns, not when a later garbage collection happens
    to run (before, the trainer's reference cycles kept them until then)."""
    import gc

    from transformers import PreTrainedModel, Trainer

    def alive():
        return sum(isinstance(o, (PreTrainedModel, Trainer, torch.optim.Optimizer)) for o in gc.get_objects())

    gc.collect()
    before = alive()
    gc.disable()  # no collection may happen by chance while the training runs
    try:
        train("sft", tiny_model_dir, SFT_ROWS, tmp_path / "v1", **FAST)
        train("dpo", tiny_model_dir, [{"prompt": q, "chosen": g, "rejected": "I do not know."} for q, g, _ in QA],
              tmp_path / "v2", **FAST)
        left = alive()
    finally:
        gc.enable()
    assert left == before, f"{left - before} models, trainers or optimizers still alive"


def test_a_batch_whose_activations_do_not_fit_runs_in_micro_batches_with_the_same_loss(
        tiny_model_dir, tmp_path, monkeypatch):
    """Issue 11: the optimizer step keeps its batch of 8 inputs, but a batch whose estimated
    activations pass the memory budget (COLLAB_BATCH_GB, tiny here) runs as accumulated
    passes of fewer inputs: the loss is normalised over the whole step, so the loss and the
    update are those of one pass (float noise aside) and the peak memory is lower."""
    from runtime import memory

    rows = [{"input": q, "targets": {"a": g, "r": t}} for q, g, t in QA]
    kw = {"tasks": [{"name": "a", "prefix": "A: ", "weight": 1.0}, {"name": "r", "prefix": "R: ", "weight": 0.3}],
          "lora": {"dropout": 0.0}, "lr": 1e-3, "max_length": 64, "max_steps": 2, "seed": 0, "batch_size": 8}
    monkeypatch.setenv("COLLAB_BATCH_GB", "0.0001")
    small = memory.measured(lambda: train("multitask", tiny_model_dir, rows, tmp_path / "small", **kw), ["small"])
    monkeypatch.delenv("COLLAB_BATCH_GB")
    big = memory.measured(lambda: train("multitask", tiny_model_dir, rows, tmp_path / "big", micro_batch=8, **kw),
                          ["big"])
    # each step's 8 inputs x 2 tasks: 16 sequences, one per pass when not even 2 fit
    assert (small.micro_batch, small.passes, small.batches) == (None, 32, 2)
    assert (big.micro_batch, big.passes, big.batches) == (8, 2, 2)
    assert small.steps == big.steps == 2
    assert small.train_loss == pytest.approx(big.train_loss, rel=1e-5)
    a, b = adapter_tensors(tmp_path / "small"), adapter_tensors(tmp_path / "big")
    # Adam moves a weight by up to lr per step whatever its gradient's size, so a gradient
    # near 0 that float noise flips moves it by 2 lr over 2 steps: the bound, not a fit
    assert all(torch.allclose(a[k], b[k], atol=2 * kw["lr"]) for k in a)
    losses = [[h["loss"] for h in r.log_history if "loss" in h] for r in (small, big)]
    assert losses[0] == pytest.approx(losses[1], rel=1e-4)  # the second step starts from the update
    meta = json.loads((tmp_path / "small" / "collab_train.json").read_text())
    assert meta["hyperparameters"]["micro_batch"] is None and meta["hyperparameters"]["batch_size"] == 8
    assert meta["result"]["passes"] == 32
    peak_small, peak_big = memory.take_peak("small"), memory.take_peak("big")
    if peak_small is not None:  # Linux
        assert peak_small < peak_big - 200, (peak_small, peak_big)
    with pytest.raises(ValueError, match="micro_batch must divide batch_size"):
        train("sft", tiny_model_dir, SFT_ROWS, tmp_path / "bad", micro_batch=3, **{**FAST, "batch_size": 4})


LONG = ("The sky looks blue because air scatters the short blue wavelengths of sunlight much more "
        "than the long red ones, so blue light reaches our eyes from every direction of the sky. ") * 3


@pytest.mark.parametrize("objective", ["sft", "multitask"])
def test_a_step_of_mixed_lengths_runs_in_passes_grouped_by_length_with_the_same_loss(
        tiny_model_dir, tmp_path, objective):
    """Issue 11: a batch padded to its longest sequence spends its compute on padding. A step
    whose sequences differ much in length runs in passes grouped by length (fewer padded
    tokens computed); the loss is normalised over the whole step, so losses and update equal
    those of the one-pass batch (micro_batch = batch_size) up to float rounding."""
    rows = [{"input": q, "target": (LONG if i % 3 == 0 else g)} for i, (q, g, _) in enumerate(QA)]
    if objective == "multitask":
        rows = [{"input": r["input"], "targets": {"a": r["target"], "r": t}} for r, (_, _, t) in zip(rows, QA)]
    kw = {"lora": {"dropout": 0.0}, "lr": 1e-3, "max_length": 256, "max_steps": 2, "seed": 0, "batch_size": 4,
          **({"tasks": [{"name": "a", "prefix": "A: ", "weight": 1.0}, {"name": "r", "prefix": "R: ", "weight": 0.3}]}
             if objective == "multitask" else {})}
    planned = train(objective, tiny_model_dir, rows, tmp_path / "planned", **kw)
    one = train(objective, tiny_model_dir, rows, tmp_path / "one", micro_batch=4, **kw)
    assert one.passes == one.batches == 2 and planned.batches == 2
    assert planned.passes > planned.batches
    assert planned.padded_tokens < 0.8 * one.padded_tokens
    assert planned.tokens == one.tokens  # the same real tokens, less padding
    losses = [[h["loss"] for h in r.log_history if "loss" in h] for r in (planned, one)]
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)
    a, b = adapter_tensors(tmp_path / "planned"), adapter_tensors(tmp_path / "one")
    assert all(torch.allclose(a[k], b[k], atol=2 * kw["lr"]) for k in a)
    if objective == "multitask":  # each task's logged loss is its token mean over the step's passes
        for h in (h for h in planned.log_history if "loss" in h):
            assert h["loss"] == pytest.approx(1.0 * h["loss_a"] + 0.3 * h["loss_r"], rel=1e-4), h


def test_passes_keep_the_batch_mean_for_a_model_whose_forward_takes_no_loss_arguments(
        tiny_model_dir, tmp_path, monkeypatch):
    """transformers counts a step's tokens only for models whose forward takes loss
    arguments; for the others TRL normalises each batch by its own token count. The passes
    then share the batch's count, so the loss is still the one-pass batch mean."""
    from runtime import trainer as trainer_mod

    cls = trainer_mod._pass_split_cls()

    class NoLossKwargs(cls):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            self.model_accepts_loss_kwargs = False

    monkeypatch.setattr(trainer_mod, "_PASS_SPLIT_CLS", NoLossKwargs)
    rows = [{"input": q, "target": (LONG if i % 3 == 0 else g)} for i, (q, g, _) in enumerate(QA)]
    kw = {"lora": {"dropout": 0.0}, "lr": 1e-3, "max_length": 256, "max_steps": 2, "seed": 0, "batch_size": 4}
    planned = train("sft", tiny_model_dir, rows, tmp_path / "planned", **kw)
    one = train("sft", tiny_model_dir, rows, tmp_path / "one", micro_batch=4, **kw)
    assert planned.passes > planned.batches == one.passes == 2
    losses = [[h["loss"] for h in r.log_history if "loss" in h] for r in (planned, one)]
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)


def test_a_bf16_role_trains_under_bf16_autocast_also_on_a_cpu(tiny_model_dir, tmp_path):
    """Issue 11: ``precision="bf16"`` trains under bf16 autocast on the CPU too (TRL needs
    bf16 with use_cpu there); the losses follow the fp32 ones closely but not bit for bit,
    the precision is recorded, and fp16 on a CPU is refused before anything loads."""
    kw = {**FAST, "lora": {"dropout": 0.0}}
    fp32 = train("sft", tiny_model_dir, SFT_ROWS, tmp_path / "fp32", **kw)
    bf16 = train("sft", tiny_model_dir, SFT_ROWS, tmp_path / "bf16", precision="bf16", **kw)
    assert (fp32.precision, bf16.precision) == ("float32", "bfloat16")
    meta = json.loads((tmp_path / "bf16" / "collab_train.json").read_text())
    assert meta["hyperparameters"]["precision"] == "bfloat16"
    lf, lb = ([h["loss"] for h in r.log_history if "loss" in h] for r in (fp32, bf16))
    assert lb != lf  # the passes did run in another precision
    assert lb == pytest.approx(lf, rel=0.15)
    assert_trained_adapter(bf16, tmp_path / "bf16")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="float16 trains under fp16 autocast, which needs a CUDA device"):
            train("sft", tiny_model_dir, SFT_ROWS, tmp_path / "fp16", precision="fp16", **kw)
        assert not (tmp_path / "fp16").exists()
