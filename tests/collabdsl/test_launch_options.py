"""The launch options of a training (launcher, processes, accelerate_config): their values are
checked at lint (E109), combinations that cannot be honoured are E112 at the option, and the
config file is located and checked like a ``load`` source when compiling (E126, E127)."""
from __future__ import annotations

from pathlib import Path

import pytest
from collab_testing import HEAD, findings

from collabdsl.compiler import check_path, compile_path

TRAIN = 'train small sft for x in train {{ input: p(x.question), target: x.answer, {opts} }}\n'


def _program(tmp_path: Path, opts: str) -> Path:
    path = tmp_path / "prog.collab"
    path.write_text(HEAD + TRAIN.format(opts=opts))
    return path


LINE = HEAD.count("\n") + 1  # the train statement


def _col(path: Path, text: str) -> int:
    return path.read_text().splitlines()[LINE - 1].index(text) + 1


@pytest.mark.parametrize("opts, at, words", [
    ('launcher: "accelerate", processes: 0', "0", "processes 0 is not >= 1"),
    ('launcher: "accelerate", processes: 1.5', "1.5", "processes: expected an integer"),
    ('launcher: "slurm"', '"slurm"', 'unknown launcher "slurm"; expected one of none, accelerate'),
    ('launcher: "accelerate", accelerate_config: 3', "3", "accelerate_config"),
])
def test_a_bad_launch_value_is_e109_at_the_value(tmp_path, opts, at, words):
    path = _program(tmp_path, opts)
    res = check_path(str(path))
    assert findings(res) == [("E109", LINE, _col(path, at))], res.diagnostics
    assert words in res.diagnostics[[d.code for d in res.diagnostics].index("E109")].message


@pytest.mark.parametrize("opts, name, words", [
    ('launcher: "none", processes: 2', "processes", 'processes 2 needs launcher: "accelerate"'),
    ('launcher: "none", accelerate_config: "a.yaml"', "accelerate_config", 'use launcher: "accelerate"'),
    ('launcher: "accelerate", processes: 2, batch_size: 3', "processes",
     "batch_size 3 does not divide among 2 processes"),
])
def test_a_launch_that_cannot_be_honoured_is_e112_at_the_option(tmp_path, opts, name, words):
    path = _program(tmp_path, opts)
    res = check_path(str(path))
    assert findings(res) == [("E112", LINE, _col(path, name + ":"))], res.diagnostics
    assert words in next(d for d in res.diagnostics if d.code == "E112").message


def test_a_good_launch_is_clean(tmp_path):
    (tmp_path / "acc.yaml").write_text("distributed_type: MULTI_GPU\n")
    path = _program(tmp_path, 'launcher: "accelerate", processes: 2, accelerate_config: "acc.yaml"')
    assert findings(check_path(str(path))) == []
    res = compile_path(str(path))
    assert res.graph is not None, res.diagnostics
    (node,) = [a for _, a in res.graph.nodes(data=True) if a.get("kind") == "train"]
    assert node["options"]["accelerate_config"] == "acc.yaml"  # the program's text (the fingerprint)
    assert node["accelerate_config"] == str((tmp_path / "acc.yaml").resolve())  # what is launched
    reads = res.graph.graph["access"]["reads"]
    assert any(r["what"].startswith("accelerate config") and r["path"] == node["accelerate_config"] for r in reads)


def test_a_missing_accelerate_config_is_e127_at_the_training(tmp_path):
    path = _program(tmp_path, 'launcher: "accelerate", accelerate_config: "nowhere.yaml"')
    res = compile_path(str(path))
    assert res.graph is None
    (d,) = [d for d in res.diagnostics if d.is_error]
    assert (d.code, d.span.line) == ("E127", LINE) and "accelerate config not found" in d.message
    assert "nowhere.yaml" in d.message


def test_an_accelerate_config_outside_the_readable_folders_is_e126(tmp_path):
    prog_dir, other = tmp_path / "prog", tmp_path / "other"
    prog_dir.mkdir(), other.mkdir()
    (other / "acc.yaml").write_text("distributed_type: MULTI_GPU\n")
    path = _program(prog_dir, f'launcher: "accelerate", accelerate_config: "{other / "acc.yaml"}"')
    res = compile_path(str(path))
    (d,) = [d for d in res.diagnostics if d.is_error]
    assert (d.code, d.span.line) == ("E126", LINE) and "--allow-read" in d.message
    res = compile_path(str(path), allow_read=[str(other)])
    assert res.graph is not None, res.diagnostics


def test_command_line_launch_values_fill_the_trainings_that_set_none(tmp_path):
    """collab run --launcher/--processes/--accelerate-config: every training that does not set
    an option gets the command line's value; a value the program sets wins."""
    import typer

    from collabdsl.cli import _default_launch

    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("distributed_type: MULTI_GPU\n")
    path = tmp_path / "prog.collab"
    path.write_text(HEAD + TRAIN.format(opts='processes: 4') + TRAIN.format(opts='batch_size: 2'))
    res = compile_path(str(path))
    assert res.graph is not None, res.diagnostics
    _default_launch(res.graph, "accelerate", 2, cfg)
    first, second = [a for _, a in res.graph.nodes(data=True) if a.get("kind") == "train"]
    assert (first["options"]["launcher"], first["options"]["processes"]) == ("accelerate", 4)  # the program's 4
    assert (second["options"]["launcher"], second["options"]["processes"]) == ("accelerate", 2)
    assert second["accelerate_config"] == str(cfg.resolve()) and second["accelerate_config_from"] == "--accelerate-config"
    for bad in [("accelerate", 0, None), ("slurm", None, None), (None, 2, None), ("accelerate", 2, tmp_path / "no.yaml")]:
        with pytest.raises(typer.Exit) as exc:
            _default_launch(compile_path(str(path)).graph, *bad)
        assert exc.value.exit_code == 2, bad
