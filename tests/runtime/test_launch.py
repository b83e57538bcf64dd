"""Launched training (runtime.launch, runtime.train_worker): ``accelerate launch`` subprocesses
on the CPU (gloo), against the same training in one process.

The data parallel runs must train what one process trains: same inputs per optimizer step,
the loss normalised over the whole step's tokens (per group for kd). The slow tests run the
embedded SmolLM2-135M for a few steps on short rows (LoRA dropout 0, so no random masks
differ between the runs); each launched run takes ~30 s on 2 cores.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from runtime.trainer import EMPTY, input_batches, sharded_input_batches

# Tolerance of the launched losses against the one-process ones: float rounding of the
# gradient all-reduce and of differently padded batches. A wrong normalisation (per-process
# token means, a missing world-size factor) moves the losses by several percent or halves them.
LOSS_TOL = 1e-4

QA = [
    ("What color is the sky?", "Blue.", "The sky is blue."),
    ("How many legs does a spider have?", "Eight.", "A spider has eight."),
    ("What is the capital of France?", "Paris.", "It is Paris."),
    ("What do bees make?", "Honey.", "Bees make honey."),
    ("What is frozen water called?", "Ice.", "It is ice."),
    ("Which planet do we live on?", "Earth.", "We live on Earth."),
    ("What animal says moo?", "A cow.", "A cow says moo."),
    ("How many days are in a week?", "Seven.", "A week has seven."),
    ("What is two plus two?", "Four.", "Two and two make four."),
]
COMMON = {"lr": 1e-3, "max_length": 48, "seed": 0, "lora": {"dropout": 0.0}, "logging_steps": 1}


# ------------------------------------------------------------------------- sharding (fast)
@pytest.mark.parametrize("n_inputs, seqs, global_batch, world, micro", [
    (9, 2, 4, 2, 1), (9, 2, 4, 2, 2), (10, 3, 6, 3, 1), (7, 1, 4, 4, 1), (5, 2, 8, 2, 2),
])
def test_the_processes_share_out_exactly_the_one_process_steps(n_inputs, seqs, global_batch, world, micro):
    """Step by step, the positions all processes train on are those of the one-process step
    (no input twice, none left out, every sequence of an input in one process), every process
    runs the same number of passes, and an empty share is EMPTY."""
    items = [i for i in range(n_inputs) for _ in range(seqs)]
    for epoch in (0, 1):
        whole = input_batches(items, global_batch, seed=3, epoch=epoch)
        per = [sharded_input_batches(items, global_batch, micro, r, world, seed=3, epoch=epoch)
               for r in range(world)]
        passes = global_batch // world // micro
        assert {len(p) for p in per} == {len(whole) * passes}
        for step, batch in enumerate(whole):
            got = [pos for p in per for mb in p[step * passes:(step + 1) * passes] for pos in mb if pos != EMPTY]
            assert sorted(got) == sorted(batch)
            for p in per:
                for mb in p[step * passes:(step + 1) * passes]:
                    assert mb == [EMPTY] or len({items[pos] for pos in mb}) <= micro
                    assert EMPTY not in mb or mb == [EMPTY]
    last = [sharded_input_batches(items, global_batch, micro, r, world, seed=3)[-1] for r in range(world)]
    if n_inputs % global_batch and n_inputs % global_batch <= (world - 1) * (global_batch // world):
        assert [EMPTY] in last  # the last step's inputs do not reach every process


def test_a_batch_that_does_not_divide_among_the_processes_is_refused():
    with pytest.raises(ValueError, match="batch_size 5 does not divide among 2 processes"):
        sharded_input_batches([0, 1, 2], 5, 1, 0, 2, seed=0)
    with pytest.raises(ValueError, match="micro_batch 3 does not divide the 4 inputs"):
        sharded_input_batches([0, 1, 2], 8, 3, 0, 2, seed=0)


def test_the_launch_command():
    from runtime.launch import launch_command

    cmd = launch_command(2, Path("/s.json"), port=1234)
    assert cmd[1:3] == ["-m", "accelerate.commands.launch"] and cmd[-3:] == ["-m", "runtime.train_worker", "/s.json"]
    assert "--multi_gpu" in cmd and cmd[cmd.index("--num_processes") + 1] == "2"
    cfg = launch_command(2, Path("/s.json"), "/c.yaml", port=1234)
    assert "--multi_gpu" not in cfg and cfg[cfg.index("--config_file") + 1] == "/c.yaml"  # the file decides


# ------------------------------------------------------------------------- real trainings (slow)
def _losses(result) -> list[float]:
    return [h["loss"] for h in result.log_history if "loss" in h]


def _adapter(path: Path):
    from safetensors.torch import load_file

    return load_file(str(path / "adapter_model.safetensors"))


def _compare(one, two, out_one: Path, out_two: Path) -> float:
    """The largest difference of the two runs' logged losses (asserted within LOSS_TOL) and of
    their adapters."""
    a, b = _losses(one), _losses(two)
    assert len(a) == len(b) == one.steps == two.steps > 1
    diff = max(abs(x - y) for x, y in zip(a, b))
    print(f"losses 1 process {a}\nlosses 2 processes {b}\nmax difference {diff:.3g}")
    assert diff <= LOSS_TOL, (a, b)
    ta, tb = _adapter(out_one), _adapter(out_two)
    assert set(ta) == set(tb)
    assert max(float((ta[k] - tb[k]).abs().max()) for k in ta) <= 1e-4
    assert (one.world_size, one.launcher, two.world_size, two.launcher) == (1, "none", 2, "accelerate")
    assert two.distributed == "MULTI_CPU" and two.batch_size == one.batch_size
    return diff


@pytest.mark.slow
@pytest.mark.netns  # torch.distributed's TCPStore listens on every interface
def test_sft_in_two_processes_trains_what_one_process_trains(tiny_model_dir, tmp_path):
    """Plain sft (TRL's loss) in 2 gloo processes: every step takes all 8 inputs (batch_size 8,
    4 per process), so the step's data does not depend on the order of the samplers; the loss
    curve and the adapter match one process."""
    pytest.importorskip("trl")
    from runtime.launch import launch_train
    from runtime.trainer import train

    rows = [{"input": q, "target": g} for q, g, _ in QA[:8]]
    kw = {**COMMON, "batch_size": 8, "max_steps": 3}
    one = train("sft", tiny_model_dir, rows, tmp_path / "one", **kw)
    two = launch_train("sft", tiny_model_dir, rows, tmp_path / "two", processes=2, **kw)
    _compare(one, two, tmp_path / "one", tmp_path / "two")
    meta = json.loads((tmp_path / "two" / "collab_train.json").read_text())
    assert meta["launch"]["processes"] == 2 and meta["hyperparameters"]["world_size"] == 2
    assert meta["result"]["path"] == str((tmp_path / "two").resolve())
    assert not list(tmp_path.glob(".two.launch-*"))  # the temporary folder is gone


@pytest.mark.slow
@pytest.mark.netns  # torch.distributed's TCPStore listens on every interface
def test_kd_in_two_processes_keeps_its_weighted_loss_exact(tiny_model_dir, tmp_path):
    """kd with lambda 0.3 over 9 inputs, one without a teacher answer, batch_size 4: 3 steps of
    4, 4 and 1 inputs (the last leaves the second process an empty share), each split 2 + 2
    between the processes. The per-group token counts differ between the processes; summed
    over both, the weighted loss, its per-group losses and the adapter match one process."""
    pytest.importorskip("trl")
    from runtime.launch import launch_train
    from runtime.trainer import train

    rows = [{"input": q, "gold": g, "teacher": t if i != 4 else None} for i, (q, g, t) in enumerate(QA)]
    kw = {**COMMON, "batch_size": 4, "max_steps": 3, "lam": 0.3}
    one = train("kd", tiny_model_dir, rows, tmp_path / "one", **kw)
    two = launch_train("kd", tiny_model_dir, rows, tmp_path / "two", processes=2, **kw)
    _compare(one, two, tmp_path / "one", tmp_path / "two")
    assert set(one.task_losses) == set(two.task_losses) == {"gold", "teacher"}
    for g in one.task_losses:
        assert abs(one.task_losses[g] - two.task_losses[g]) <= LOSS_TOL
    assert two.tokens == one.tokens  # the empty share adds no token



@pytest.mark.slow
@pytest.mark.netns  # torch.distributed's TCPStore listens on every interface
def test_multitask_in_two_processes_keeps_its_weighted_loss_exact(tiny_model_dir, tmp_path):
    """multitask (TinyLLM's shape: an answer task and two rationale tasks of other weights)
    over 6 inputs, batch_size 4: steps of 4 and 2 inputs, every task of an input in its step,
    split between 2 processes; the weighted loss, each task's loss and the adapter match one
    process."""
    pytest.importorskip("trl")
    from runtime.launch import launch_train
    from runtime.trainer import train

    rows = [{"input": q, "targets": {"answer": g, "why_a": t, "why_b": f"Because {g.lower()}"}}
            for q, g, t in QA[:6]]
    tasks = [{"name": "answer", "prefix": "Answer: ", "weight": 1.0},
             {"name": "why_a", "prefix": "Explain: ", "weight": 0.5},
             {"name": "why_b", "prefix": "Reason: ", "weight": 0.25}]
    kw = {**COMMON, "batch_size": 4, "max_steps": 2, "tasks": tasks}
    one = train("multitask", tiny_model_dir, rows, tmp_path / "one", **kw)
    two = launch_train("multitask", tiny_model_dir, rows, tmp_path / "two", processes=2, **kw)
    _compare(one, two, tmp_path / "one", tmp_path / "two")
    assert set(one.task_losses) == set(two.task_losses) == {"answer", "why_a", "why_b"}
    for g in one.task_losses:
        assert abs(one.task_losses[g] - two.task_losses[g]) <= LOSS_TOL
    assert two.tokens == one.tokens

def _program(tmp_path: Path, options: str) -> Path:
    rows = [{"q": q, "a": g} for q, g, _ in QA[:4]]
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    path = tmp_path / "prog.collab"
    path.write_text('program launched "a launched training"\n'
                    'model s = embedded("smollm2-135m-instruct") trainable lora(dropout: 0.0)\n'
                    'data d = load("rows.jsonl")\n'
                    f'train s sft for x in d {{ input: x.q, target: x.a, batch_size: 2, max_steps: 1, '
                    f'max_length: 48, {options} }}\n')
    return path


def _run(path: Path, allow_read=()):
    from collabdsl.compiler import compile_path
    from runtime.run import run_graph

    res = compile_path(str(path), allow_read=allow_read)
    assert res.graph is not None, [d.message for d in res.diagnostics]
    return run_graph(res.graph, program_path=str(path), sources=res.sources,
                     store_path=str(path.parent / "runs.db"), progress=False)


@pytest.mark.slow
@pytest.mark.netns  # torch.distributed's TCPStore listens on every interface
def test_a_program_records_the_launcher_and_world_size_of_its_version(tmp_path):
    """A train node with launcher "accelerate", processes 2: the training record, the version's
    mark and its collab_train.json say accelerate and 2; the run store lists the version."""
    out = _run(_program(tmp_path, 'launcher: "accelerate", processes: 2'))
    assert out.status == "finished", out.error
    (rec,) = out.trainings
    assert (rec["launcher"], rec["world_size"], rec["distributed"]) == ("accelerate", 2, "MULTI_CPU")
    version = Path(rec["adapter"])
    assert (version / "adapter_model.safetensors").is_file()
    mark = json.loads((version / "collab_version.json").read_text())
    assert (mark["launcher"], mark["world_size"]) == ("accelerate", 2)
    meta = json.loads((version / "collab_train.json").read_text())
    assert meta["launch"]["launcher"] == "accelerate" and meta["result"]["world_size"] == 2
    (stored,) = _stored(tmp_path, out.run_id)
    assert (stored["info"]["launcher"], stored["info"]["world_size"]) == ("accelerate", 2)
    from runtime.report import training_line

    assert "accelerate launch: 2 processes (MULTI_CPU)" in training_line(rec)
    assert "passes of" not in training_line(rec)  # 1 input per process is the whole share, not a memory cut


def _stored(tmp_path: Path, run_id: str) -> list[dict]:
    from runtime.store import RunStore

    return RunStore(str(tmp_path / "runs.db")).list_trainings(run_id)


@pytest.mark.slow
@pytest.mark.netns  # torch.distributed's TCPStore listens on every interface
def test_a_failing_launch_is_one_located_line_and_a_failed_run(tmp_path):
    """A bad accelerate config: the run fails with one line located at the train statement,
    naming the launcher's error and its log; the record keeps the output's tail; no version is
    left where the store looks."""
    (tmp_path / "bad.yaml").write_text("compute_environment: LOCAL_MACHINE\ndistributed_type: NOT_A_TYPE\n")
    out = _run(_program(tmp_path, 'launcher: "accelerate", processes: 2, accelerate_config: "bad.yaml"'))
    assert out.status == "failed"
    assert "\n" not in out.error and "Traceback" not in out.error
    assert f"{tmp_path / 'prog.collab'}:4:" in out.error
    assert "accelerate launch with 2 processes failed" in out.error and "NOT_A_TYPE" in out.error
    (rec,) = out.trainings
    assert rec["failed"] and rec["launcher"] == "accelerate" and rec["world_size"] == 2
    assert "NOT_A_TYPE" in rec["stderr_tail"] and Path(rec["log"]).is_file()
    (stored,) = _stored(tmp_path, out.run_id)
    assert "NOT_A_TYPE" in stored["info"]["stderr_tail"] and stored["info"]["failed"] == rec["failed"]
    from runtime.store import RunStore

    assert RunStore(str(tmp_path / "runs.db")).get_run(out.run_id)["status"] == "failed"
    versions = tmp_path / "versions"
    assert not [p for p in versions.iterdir() if p.is_dir()] if versions.exists() else True


@pytest.mark.slow
@pytest.mark.netns  # torch.distributed's TCPStore listens on every interface
def test_an_error_in_the_training_processes_is_their_one_line(tiny_model_dir, tmp_path):
    """The workers' own error (here: a row without its target) comes back as one line from
    the first process, with the traceback only in the log."""
    from runtime.launch import LaunchError, launch_train

    with pytest.raises(LaunchError) as exc:
        launch_train("sft", tiny_model_dir, [{"input": "q"}], tmp_path / "v", processes=2, batch_size=2)
    msg = str(exc.value)
    assert "\n" not in msg and "ValueError: sft row 0 lacks ['target']" in msg and "(process 0 of 2)" in msg
    assert "Traceback" in exc.value.log.read_text() and not (tmp_path / "v").exists()


def test_a_launch_the_handler_cannot_honour_fails_at_the_node_before_launching(tmp_path, monkeypatch):
    """What lint cannot see (the default batch_size 4 over 3 processes; processes without a
    launcher, as --processes alone would give) is refused at the train statement, and nothing
    is launched."""
    import runtime.launch as L

    monkeypatch.setattr(L, "launch_train", lambda *a, **k: pytest.fail("launched"))
    path = _program(tmp_path, 'launcher: "accelerate", processes: 3')
    path.write_text(path.read_text().replace("batch_size: 2, ", ""))
    out = _run(path)
    assert out.status == "failed" and f"{path}:4:" in out.error
    assert "batch_size 4 does not divide among 3 processes" in out.error
    path.write_text(path.read_text().replace('launcher: "accelerate", ', ""))
    out = _run(path)
    assert out.status == "failed" and "'processes' needs launcher: \"accelerate\"" in out.error
