"""Issue 11: the run's allocator keeps freed blocks for reuse (no page faults for a block
freed and allocated again, on the compute thread too), gives them back when asked or when
the machine is short of memory, and never overrides the user's own malloc settings."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from runtime import allocator

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")

PROBE = textwrap.dedent("""
    import resource, sys, threading
    from runtime import allocator
    from runtime.memory import status_mb
    said = allocator.configure() if sys.argv[1] == "collab" else "untouched"
    faults = []
    def work():  # on another thread, as the run's compute thread
        for _ in range(3):
            f = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            b = bytearray(200 * 2**20)
            del b
            faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f)
    t = threading.Thread(target=work)
    t.start(); t.join()
    before = status_mb("VmRSS")
    trimmed = allocator.give_back(force=True)
    print(said, "|", faults, "|", round(before - status_mb("VmRSS")), "|", trimmed)
""")


def _probe(mode: str, **env) -> tuple[str, list[int], float, str]:
    import os

    out = subprocess.run([sys.executable, "-c", PROBE, mode], cwd=ROOT, capture_output=True, text=True,
                         env={**{k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")},
                              "PYTHONPATH": str(ROOT), **env}, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    said, faults, freed, trimmed = (x.strip() for x in out.stdout.split("|"))
    return said, eval(faults), float(freed), trimmed


def test_a_freed_block_is_reused_without_faults_and_given_back_on_request():
    said, faults, freed, trimmed = _probe("collab")
    assert said == "malloc: freed blocks kept for reuse (collab's default)"
    assert faults[0] > 40_000  # 200 MB of fresh pages the first time
    assert max(faults[1:]) < 1_000, faults  # then the kept block: no new pages
    assert trimmed == "True" and freed > 150, freed  # give_back(force) returns it to the machine


def test_glibcs_default_maps_every_large_block_afresh():
    _said, faults, _, _ = _probe("untouched")
    assert min(faults) > 40_000, faults  # what every training step paid before


def test_the_users_own_settings_are_kept(monkeypatch):
    assert allocator.configure({"MALLOC_ARENA_MAX": "4"}) == "malloc: as set by the user"
    assert allocator.configure({"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=1"}) == "malloc: as set by the user"
    assert allocator.configure({"COLLAB_MALLOC": "default"}) == "malloc: glibc's defaults (COLLAB_MALLOC=default)"
    said, faults, _, _ = _probe("collab", MALLOC_ARENA_MAX="8")
    assert said == "malloc: as set by the user" and min(faults) > 40_000


def test_kept_memory_goes_back_when_the_machine_is_short(monkeypatch):
    monkeypatch.setattr(allocator, "_keeps", True)
    monkeypatch.setattr(allocator, "_short_of_memory", lambda: False)
    assert allocator.give_back() is False  # room enough: kept for the next step
    monkeypatch.setattr(allocator, "_short_of_memory", lambda: True)
    assert allocator.give_back() is True
    monkeypatch.setattr(allocator, "_keeps", False)
    assert allocator.give_back() is False  # glibc's own settings: it trims its own way
    assert allocator.give_back(force=True) is True


def test_a_finished_training_always_gives_the_heap_back(monkeypatch):
    """Kept blocks are reused between batches, but a training's go back when it ends: with
    them kept, Sci-CoT's resident size grew 1.6 GB per training."""
    from runtime import trainer

    trims = []
    monkeypatch.setattr(allocator, "give_back", lambda force=False: trims.append(force))
    for keeps in (False, True):
        monkeypatch.setattr(allocator, "_keeps", keeps)
        trainer.release_memory()
    assert trims == [True, True]
