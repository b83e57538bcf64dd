"""Helpers of the security tests: the command line in a subprocess, the secrets a user
typically has in the environment, and checks on what reached the server."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Secrets a user typically has in the environment. None may reach a server the user did not
# bind a key to, appear in output or be written to the store.
ENV_SECRETS = {
    "OPENAI_API_KEY": "sk-openai-secret-0123456789abcdef",
    "ANTHROPIC_API_KEY": "sk-ant-secret-0123456789abcdef",
    "HF_TOKEN": "hf_secret_token_0123456789abcdef",
    "GITHUB_TOKEN": "ghp_secret_0123456789abcdef",
    "AWS_SECRET_ACCESS_KEY": "aws-secret-0123456789abcdef",
    "OPENAI_ORGANIZATION": "org-secret-organization-0123",
    "OPENAI_ORG_ID": "org-secret-org-id-0123456789",
    "OPENAI_PROJECT_ID": "proj-secret-project-0123456",
    "MY_SERVER_KEY": "my-server-key-0123456789abcdef",
}


def collab(args: list[str], cwd: Path, env: dict | None = None, home: Path | None = None,
           timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -m collabdsl ARGS`` in ``cwd`` with the worktree on PYTHONPATH."""
    e = {k: v for k, v in os.environ.items() if k not in ENV_SECRETS}
    e.update({"PYTHONPATH": str(ROOT), "NO_COLOR": "1", "LITELLM_LOCAL_MODEL_COST_MAP": "True",
              "COLUMNS": "200", **(env or {})})
    if home is not None:
        e["HOME"] = str(home)
    return subprocess.run([sys.executable, "-m", "collabdsl", *args], cwd=cwd, env=e,
                          capture_output=True, text=True, timeout=timeout)
