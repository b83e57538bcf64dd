"""A server named by a program gets no key unless the user binds one on the command line
(``--key ROLE=ENV_VAR``), and then that key only; an api model string cannot send a
provider's key to a host of the program's choosing."""
from __future__ import annotations

import json

from security_testing import ENV_SECRETS, collab

PROGRAM = """program exfil "a program that names its own server"
model big = server("{url}", model: "m"{extra}) max_retries 0 timeout 10
data d = load("builtin:science-mc", split: "test", limit: 2)
for x in d {{ x.reply = big.generate(x.question) }}
eval res for x in d metrics answered {{ "big" = x.reply }}
"""


def _program(tmp_path, url, extra=""):
    (tmp_path / "prog.collab").write_text(PROGRAM.format(url=url, extra=extra))
    return tmp_path


def _auth(server) -> set[str]:
    return {v for e in server.log for k, v in e["headers"] if k.lower() == "authorization"}


def _leaked(text: str, allowed: tuple[str, ...] = ()) -> list[str]:
    return [name for name, value in ENV_SECRETS.items() if value in text and name not in allowed]


def test_a_server_gets_no_key_from_the_environment(tmp_path, server):
    """OPENAI_API_KEY (and the organization/project ids the OpenAI client adds as headers)
    used to reach whatever server the program named."""
    cwd = _program(tmp_path, server.base_url)
    r = collab(["run", "prog.collab", "--store", "runs.db"], cwd, env=ENV_SECRETS)
    assert r.returncode == 0, r.stdout + r.stderr
    assert server.log, "no request reached the server, so the test proves nothing"
    assert _leaked(server.seen()) == []
    assert _auth(server) == {"Bearer no-key"}
    assert _leaked(r.stdout + r.stderr) == []


def test_a_key_bound_with_key_arrives_and_only_it(tmp_path, server):
    cwd = _program(tmp_path, server.base_url)
    r = collab(["run", "prog.collab", "--store", "runs.db", "--key", "big=MY_SERVER_KEY"], cwd, env=ENV_SECRETS)
    assert r.returncode == 0, r.stdout + r.stderr
    assert _auth(server) == {f"Bearer {ENV_SECRETS['MY_SERVER_KEY']}"}
    assert _leaked(server.seen(), allowed=("MY_SERVER_KEY",)) == []
    assert _leaked(r.stdout + r.stderr) == []
    for f in tmp_path.rglob("runs.db*"):
        assert ENV_SECRETS["MY_SERVER_KEY"].encode() not in f.read_bytes(), f


def test_a_program_asking_for_a_key_gets_it_only_when_the_user_confirms(tmp_path, server):
    cwd = _program(tmp_path, server.base_url, extra=', api_key_env: "OPENAI_API_KEY"')
    r = collab(["run", "prog.collab", "--store", "runs.db"], cwd, env=ENV_SECRETS)
    assert r.returncode == 1
    assert ("prog.collab:2:1: E120 error: model 'big' (server " + server.base_url + ") asks for the key in "
            "$OPENAI_API_KEY: pass --key big=OPENAI_API_KEY to send it") in r.stderr
    assert server.log == [] and not (tmp_path / "runs.db").exists()
    r = collab(["run", "prog.collab", "--store", "runs.db", "--key", "big=OPENAI_API_KEY"], cwd, env=ENV_SECRETS)
    assert r.returncode == 0, r.stdout + r.stderr
    assert _auth(server) == {f"Bearer {ENV_SECRETS['OPENAI_API_KEY']}"}
    assert _leaked(server.seen(), allowed=("OPENAI_API_KEY",)) == []


def test_a_bound_variable_that_is_not_set_stops_the_run_before_any_call(tmp_path, server):
    cwd = _program(tmp_path, server.base_url)
    r = collab(["run", "prog.collab", "--store", "runs.db", "--key", "big=COLLAB_NO_SUCH_VAR"], cwd)
    assert r.returncode == 1 and "--key big=COLLAB_NO_SUCH_VAR: $COLLAB_NO_SUCH_VAR is not set" in r.stderr
    assert server.log == []
    r = collab(["run", "prog.collab", "--key", "big=sk-a-key-value-not-a-name!"], cwd)
    assert r.returncode == 2 and "expected role=ENV_VAR" in r.stderr
    r = collab(["run", "prog.collab", "--key", "nosuch=MY_SERVER_KEY"], cwd, env=ENV_SECRETS)
    assert r.returncode == 1 and "--key nosuch=MY_SERVER_KEY: no model 'nosuch'" in r.stderr


def test_plan_lists_hosts_and_keys_by_name_never_by_value(tmp_path, server):
    cwd = _program(tmp_path, server.base_url, extra=', api_key_env: "MY_SERVER_KEY"')
    r = collab(["plan", "prog.collab", "--format", "json"], cwd, env=ENV_SECRETS)
    assert r.returncode == 0, r.stderr
    (net,) = json.loads(r.stdout)["access"]["network"]
    assert net["role"] == "big" and net["to"] == server.base_url
    assert "MY_SERVER_KEY" in net["key"] and "refuses until --key big=MY_SERVER_KEY" in net["key"]
    r = collab(["plan", "prog.collab", "--key", "big=MY_SERVER_KEY"], cwd, env=ENV_SECRETS)
    assert r.returncode == 0, r.stderr
    assert f"{server.base_url}  (model big, server; key: $MY_SERVER_KEY (--key big=MY_SERVER_KEY))" in r.stdout
    assert _leaked(r.stdout + r.stderr) == []
    assert server.log == []


def test_an_api_model_string_cannot_name_a_host(tmp_path, server):
    """litellm sends a huggingface/<URL> model's requests, with $HF_TOKEN, to that URL."""
    (tmp_path / "prog.collab").write_text(PROGRAM.replace('server("{url}", model: "m"{extra})', 'api("{ref}")')
                                          .format(ref=f"huggingface/{server.base_url}"))
    r = collab(["run", "prog.collab", "--store", "runs.db"], tmp_path, env=ENV_SECRETS)
    assert r.returncode == 1
    assert "prog.collab:2:1: E128 error: model 'big': api('huggingface/http://127.0.0.1:" in r.stderr
    assert server.log == []
    r = collab(["run", "prog.collab", "--model", f"big=api:huggingface/{server.base_url}"], tmp_path, env=ENV_SECRETS)
    assert r.returncode == 1 and "E128" in r.stderr and server.log == []
