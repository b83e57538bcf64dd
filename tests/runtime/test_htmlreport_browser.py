"""The report of a real run (the embedded model: a loop of two rounds, each a 2-step LoRA
training, a cascade and an eval) opened in headless Chromium with no network: the page loads
without console errors, every figure decodes (naturalWidth > 0) and the graph's SVG has a size.
The report of a sweep recorded by hand (no model) is checked the same way. Chromium comes
from Debian's package (.ci/setup-browser); without it these tests fail."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from collabdsl import cli
from runtime.store import RunStore

pytestmark = [pytest.mark.slow, pytest.mark.browser]

PROGRAM = """program tiny "a small model trained twice in a loop, escalating to the large model when unsure"
param threshold: float = 0.5
model small = embedded("smollm2-135m-instruct") trainable
model large = embedded("smollm2-135m-instruct") frozen
data d = load("builtin:commonsense-mc", split: "test", limit: 6, columns: {question: "question", options: "options", answer: "answer"})
repeat 2 as i {
  train small sft for x in d { input: x.question, target: x.answer, max_steps: 2, batch_size: 2 }
  for x in d {
    s = small.choose(x.question, options: x.options, confidence: option_prob)
    x.escalated = s.confidence < threshold
    if x.escalated {
      x.cascade = large.choose(x.question, options: x.options).answer
    } else {
      x.cascade = s.answer
    }
  }
  eval results for x in d metrics accuracy {
    gold x.answer
    "small" = small.choose(x.question, options: x.options)
    "large" = large.choose(x.question, options: x.options)
    "cascade" = x.cascade
  }
}
"""

# Written into a copy of the report (the report itself has no script, and its
# Content-Security-Policy would refuse one): what the browser made of each figure.
CHECK = """<script>
window.addEventListener("load", () => {
  const imgs = [...document.images];
  const bad = imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.alt);
  const svgs = [...document.querySelectorAll("svg")].map(s => s.getBoundingClientRect());
  const out = document.createElement("pre");
  out.id = "report-check";
  out.textContent = `imgs=${imgs.length} bad=${JSON.stringify(bad)} svgs=${svgs.length} ` +
    `svgsized=${svgs.filter(r => r.width > 0 && r.height > 0).length} errors=${JSON.stringify(window.__errors)}`;
  document.body.appendChild(out);
});
</script>"""
ERRORS = "<script>window.__errors = []; window.addEventListener('error', e => window.__errors.push(String(e.message || e.target?.src)), true);</script>"


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("headless Chromium is not installed: run `bash .ci/setup-browser` (Debian's chromium package)")
    return found


def _browse(exe: str, url: str, *args: str) -> subprocess.CompletedProcess:
    # --no-sandbox: CI runs as root; the proxy settings make any network request fail at once
    return subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                           "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
                           "--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000", *args, url],
                          capture_output=True, text=True, timeout=120)


def test_a_real_runs_report_opens_in_headless_chromium(tmp_path, monkeypatch):
    exe = _chromium()
    (tmp_path / "tiny.collab").write_text(PROGRAM)
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(cli.app, ["run", "tiny.collab", "--store", "runs.db"])
    assert r.exit_code == 0, r.output
    with RunStore(tmp_path / "runs.db") as st:
        rid = st.list_runs()[0]["id"]
        trainings = st.list_trainings(rid)
    # the trainer's logs are stored with each training: one entry per optimizer step
    assert [[h["step"] for h in t["info"]["log_history"]] for t in trainings] == [[1, 2], [1, 2]]
    assert all(h["loss"] > 0 for t in trainings for h in t["info"]["log_history"])

    r = CliRunner().invoke(cli.app, ["report", rid, "--store", "runs.db", "--out", "rep/report.html"])
    assert r.exit_code == 0, r.output
    page = tmp_path / "rep" / "report.html"
    text = page.read_text()
    files = sorted(p.name for p in (tmp_path / "rep" / "report_files").iterdir())
    assert files == ["iterations.png", "losses.png", "operations.png", "pareto.png"]
    assert 'class="note">a single run' in text and text.count('class="note"') == 1  # nothing else left out

    _check_in_browser(exe, page, imgs=4)


def _check_in_browser(exe: str, page: Path, imgs: int) -> None:
    text = page.read_text()
    # 1. the report itself, no network: no console error, no refused or failed load
    shown = _browse(exe, page.as_uri(), "--dump-dom")
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert "Accuracy against large-model calls" in shown.stdout
    console = [ln for ln in shown.stderr.splitlines() if "CONSOLE" in ln or "Refused" in ln
               or "net::ERR" in ln]
    assert not console, console

    # 2. a copy with a script that reports what the browser decoded
    probe = page.with_name("probe.html")
    probe.write_text(text.replace("default-src 'none';", "default-src 'none'; script-src 'unsafe-inline';")
                     .replace("<head>", "<head>" + ERRORS, 1).replace("</body>", CHECK + "</body>"))
    dom = _browse(exe, probe.as_uri(), "--dump-dom").stdout
    m = re.search(r'<pre id="report-check">([^<]*)</pre>', dom)
    assert m, dom[-2000:]
    assert m.group(1) == f"imgs={imgs} bad=[] svgs=1 svgsized=1 errors=[]", m.group(1)

    # 3. a screenshot is not blank
    shot = page.with_name("shot.png")
    _browse(exe, page.as_uri(), f"--screenshot={shot}", "--window-size=1200,3000")
    assert shot.stat().st_size > 20_000


def test_a_sweeps_report_opens_in_headless_chromium(tmp_path):
    """A sweep recorded by hand (test_htmlreport's cascade: 2 thresholds x 2 seeds, no model)."""
    from test_htmlreport import CASCADE, _record

    exe = _chromium()
    prog = tmp_path / "cas.collab"
    prog.write_text(CASCADE)
    with RunStore(tmp_path / "runs.db") as st:
        sid = st.add_sweep(prog, "cas", {"threshold": [0.3, 0.7]}, seeds=[0, 1])
        for i, (t, seed) in enumerate([(0.3, 0), (0.3, 1), (0.7, 0), (0.7, 1)]):
            _record(st, prog, acc=(0.5, 0.75, 0.5 + i / 8), threshold=t, sweep_id=sid,
                    setting={"threshold": t, "seed": seed, "ablation": None})
    r = CliRunner().invoke(cli.app, ["report", sid, "--store", str(tmp_path / "runs.db"),
                                     "--out", str(tmp_path / "rep" / "sweep.html")])
    assert r.exit_code == 0, r.output
    _check_in_browser(exe, tmp_path / "rep" / "sweep.html", imgs=2)
