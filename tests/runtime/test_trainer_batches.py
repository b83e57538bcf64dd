"""How the group-weighted trainer (kd, multitask) cuts an epoch into batches: batch_size
counts inputs, and a batch holds every sequence (task) of its inputs. Pure logic, no torch;
the real-TRL proof is test_trainer.py::test_multitask_batches_hold_every_task_of_their_questions."""
from __future__ import annotations

import math
import sys

import pytest

from runtime.trainer import _InputBatchSampler, _sft_groups, input_batches


def _layout(n_rows: int, n_tasks: int) -> list[int]:
    """The item column of the trainer's dataset: task-major, as _sft_trainer lays it out."""
    rows = [{"input": f"q{i}", "targets": {f"t{k}": f"r{i}.{k}" for k in range(n_tasks)}} for i in range(n_rows)]
    tasks = [{"name": f"t{k}", "prefix": f"p{k}: ", "weight": 1.0} for k in range(n_tasks)]
    return [item for _, _, pairs in _sft_groups("multitask", rows, 0.5, tasks) for _, _, item in pairs]


@pytest.mark.parametrize("n_rows,n_tasks,batch_size", [(32, 3, 8), (32, 2, 8), (32, 1, 8), (10, 3, 4), (5, 3, 8)])
def test_steps_per_epoch_do_not_depend_on_the_number_of_tasks(n_rows, n_tasks, batch_size):
    items = _layout(n_rows, n_tasks)
    assert len(items) == n_rows * n_tasks
    batches = input_batches(items, batch_size, seed=0)
    assert len(batches) == math.ceil(n_rows / batch_size)  # as many as sft on the same rows
    seen = []
    for b in batches:
        questions = sorted({items[p] for p in b})
        assert len(b) == len(questions) * n_tasks  # every task of each of its questions
        seen += questions
    assert sorted(seen) == list(range(n_rows))  # each question once per epoch
    assert sorted(p for b in batches for p in b) == list(range(len(items)))  # each sequence once


def test_a_task_without_target_leaves_the_question_in_the_other_tasks():
    rows = [{"input": "a", "targets": {"pred": "x", "expl": "why"}},
            {"input": "b", "targets": {"pred": "y"}},  # its rationale is none
            {"input": "c", "targets": {"pred": "z", "expl": "because"}}]
    tasks = [{"name": "pred", "prefix": "", "weight": 1.0}, {"name": "expl", "prefix": "", "weight": 1.0}]
    items = [item for _, _, pairs in _sft_groups("multitask", rows, 0.5, tasks) for _, _, item in pairs]
    batches = input_batches(items, 3, seed=1)
    assert len(batches) == 1 and sorted(items[p] for p in batches[0]) == [0, 0, 1, 2, 2]


def test_kd_batches_hold_gold_and_teacher_of_the_same_inputs():
    rows = [{"input": f"q{i}", "gold": "g", "teacher": "t"} for i in range(6)]
    items = [item for _, _, pairs in _sft_groups("kd", rows, 0.5, None) for _, _, item in pairs]
    batches = input_batches(items, 2, seed=0)
    assert len(batches) == 3 and all(len(b) == 4 and len({items[p] for p in b}) == 2 for b in batches)


def test_shuffled_by_seed_and_epoch_and_reproducible():
    items = _layout(40, 3)
    a, b = input_batches(items, 8, seed=0), input_batches(items, 8, seed=0)
    assert a == b
    assert input_batches(items, 8, seed=1) != a and input_batches(items, 8, seed=0, epoch=1) != a
    sampler = _InputBatchSampler(items, 8, seed=0)
    assert len(sampler) == 5 and list(sampler) == a and list(sampler) == input_batches(items, 8, 0, 1)


def test_rejects_a_batch_size_below_one():
    with pytest.raises(ValueError, match="batch_size"):
        input_batches([0, 0, 1], 0, seed=0)


def test_no_heavy_import():
    import subprocess

    out = subprocess.run([sys.executable, "-c", "import runtime.trainer as t, sys;"
                          "t.input_batches([0, 1, 0, 1], 1, 0); print('torch' in sys.modules)"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
