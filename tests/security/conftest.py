"""Hostile programs against a real logging HTTP server on 127.0.0.1, run through the real
command line in a subprocess (``python -m collabdsl``), so what is checked is what leaves
the process: every request the server received (headers and bodies), stdout, stderr and
the bytes of the run store. Helpers are in security_testing.py."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runtime"))  # openai_server.py

from openai_server import OpenAIServer  # noqa: E402


@pytest.fixture
def server():
    """A real OpenAI-compatible server on 127.0.0.1 that logs every request; it answers
    "blue" without running a model."""
    with OpenAIServer(fixed_reply="blue") as srv:
        yield srv
