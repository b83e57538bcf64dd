"""Executor backend for API models through litellm (OpenAI, Anthropic, OpenAI-compatible
servers such as ``vllm.entrypoints.openai.api_server``, ...).

Calls go through ``litellm.acompletion`` (chat) or ``litellm.atext_completion``
(``chat=False``) on one process-wide background event loop, at most ``concurrency`` in flight
per executor (an ``asyncio.Semaphore`` held for each HTTP attempt, released while backing
off). The sync methods ``generate``/``choose`` submit to that loop and wait, so they work from
plain code and from inside a running event loop alike (they then block that loop's thread
until done; async callers should ``await agenerate(...)``/``achoose(...)`` instead).

Retries: tenacity, exponential backoff with jitter, on rate limits (429), server errors
(5xx), timeouts and connection errors (litellm's exception classes, plus any error carrying
such a status code). The client library's own retries are switched off (``max_retries=0``)
so every retry is counted. A call that still fails raises :class:`LiteLLMCallError` naming
the model, the attempts and the cause; other errors (400, 401, ...) fail at once. API keys
are read from the environment at call time, passed to litellm only, and scrubbed from every
error message (URL credentials and secret query values too); they never enter a
:class:`Generation`.

Keys and servers: an executor with ``api_base`` (an OpenAI-compatible server) sends the key
in ``$api_key_env`` when one is named, else the placeholder ``no-key``, never a key litellm or
the OpenAI client would take from the environment. Its requests go through a client of its
own (``openai.AsyncOpenAI`` with an ``httpx`` request hook) that sets ``Authorization`` to
that key and drops the ``OpenAI-Organization``/``OpenAI-Project`` headers both libraries fill
from ``OPENAI_ORGANIZATION``, ``OPENAI_ORG_ID`` and ``OPENAI_PROJECT_ID``. Without
``api_base`` (an ``api(...)`` model) litellm sends the provider's own key, as it reads it.

Accounting: a call's ``prompt_tokens``, ``cost`` and ``retries`` are put on the first
generation it produced and ``completion_tokens`` split over its choices, so summing a
request's generations gives the true totals. Greedy requests (``temperature == 0``) with
``n > 1`` are sent once and copied (copies carry zero tokens and cost). ``cost`` comes from
``litellm.completion_cost`` with the bundled (offline) price map; unknown models cost 0.0.

``choose``: the options are listed as lettered choices (A., B., ...) under the prompt and the
model is asked for the letter. When the provider returns ``top_logprobs`` (``choose_mode``
"auto" or "logprobs"), the option probabilities are the probabilities of the letter tokens
at the answer position (variants such as " A" summed; a letter missing from the top-k gets
the smaller of the least listed probability and an equal share of the unlisted mass), then
normalised; ``logliks`` are the letters' log-probabilities. Otherwise (or with
``choose_mode="parse"``) the answer text is parsed (a letter, else the one option whose text
it names in whole words):
``probs`` is one-hot on the parsed option, uniform when nothing parses (a reply without text
included; the choose handler reads uniform probs without logliks as no answer), ``logliks``
empty.

A generation whose reply has no text (``"content": null``) has ``text`` None, not ``""``.
"""
from __future__ import annotations

import asyncio
import atexit
import json
import math
import os
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from runtime.executors.base import ChoiceRequest, ChoiceResult, Generation, GenRequest, chat_messages, plain_text

_RETRY_STATUS = {408, 409, 429}
_LOOP: asyncio.AbstractEventLoop | None = None
_LOOP_LOCK = threading.Lock()
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


class LiteLLMCallError(RuntimeError):
    """A litellm call failed for good (after retries, or with a non-retryable error)."""

    def __init__(self, message: str, model: str, attempts: int, cause: str,
                 status_code: int | None = None):
        super().__init__(message)
        self.model, self.attempts, self.cause = model, attempts, cause
        self.status_code = status_code


def _litellm():
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    return litellm


def _shared_loop() -> asyncio.AbstractEventLoop:
    """The process-wide event loop (daemon thread) all LiteLLM executors run their calls on."""
    global _LOOP
    with _LOOP_LOCK:
        if _LOOP is None or _LOOP.is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, daemon=True, name="litellm-exec-loop").start()
            _LOOP = loop
            atexit.register(_shutdown_loop, loop)
        return _LOOP


def _shutdown_loop(loop: asyncio.AbstractEventLoop) -> None:
    """At exit: close litellm's pooled HTTP sessions on the loop that opened them."""
    if loop.is_closed() or not loop.is_running():
        return
    try:
        from litellm.llms.custom_httpx.async_client_cleanup import close_litellm_async_clients

        asyncio.run_coroutine_threadsafe(close_litellm_async_clients(), loop).result(5)
    except Exception:  # noqa: BLE001, S110 -- best effort at interpreter exit
        pass
    loop.call_soon_threadsafe(loop.stop)


def _get(obj: Any, name: str, default: Any = None) -> Any:
    if obj is None:
        return default
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _margin(lps: list[float]) -> float:
    lps = sorted(lps, reverse=True)
    if not lps:
        return 0.0
    return math.exp(lps[0]) - (math.exp(lps[1]) if len(lps) > 1 else 0.0)


def _steps(choice: Any, chat: bool) -> list[tuple[str, float, list[tuple[str, float]]]] | None:
    """(token, logprob, [(token, logprob) of the top alternatives]) per generated token, or
    None when the response has no logprobs. Handles chat and legacy completion formats."""
    lp = _get(choice, "logprobs")
    if lp is None:
        return None
    content = _get(lp, "content")
    if content is not None:
        return [(_get(c, "token", ""), float(_get(c, "logprob")),
                 [(_get(t, "token", ""), float(_get(t, "logprob")))
                  for t in (_get(c, "top_logprobs") or [])]) for c in content]
    toks, vals = _get(lp, "tokens"), _get(lp, "token_logprobs")
    if vals is None:
        return None
    tops = _get(lp, "top_logprobs") or [None] * len(vals)
    toks = toks or [""] * len(vals)
    return [(t, float(v if v is not None else -math.inf), list((top or {}).items()))
            for t, v, top in zip(toks, vals, tops)]


class LiteLLMExecutor:
    """One API model through litellm. ``model`` is litellm's name (``"gpt-4o-mini"``,
    ``"anthropic/claude-3-5-haiku-latest"``, ``"openai/<served name>"`` with ``api_base``
    for an OpenAI-compatible server). ``api_key_env`` names the environment variable holding
    the key; without it an api model gets litellm's provider default and a server
    (``api_base``) the placeholder ``no-key``, never a key from the environment.
    ``adapter`` (a PEFT LoRA folder of a trained version) is honoured by a server only: the
    adapter is loaded into the server (vLLM's ``POST {api_base}/load_lora_adapter``) under
    ``runtime.served.adapter_name`` and called by that name as the model; ``served_weights``
    (the weights the adapters were trained on) is checked against the server's base model
    first. An ``api`` model refuses an adapter (raise)."""

    def __init__(self, model: str, api_base: str | None = None, api_key_env: str | None = None,
                 concurrency: int = 16, max_retries: int = 5, timeout: float = 60,
                 batch_size: int = 64, backoff_initial: float = 0.5, backoff_max: float = 30.0,
                 choose_mode: str = "auto", choose_top_logprobs: int = 20,
                 extra_params: dict | None = None, served_weights: str | None = None):
        if choose_mode not in ("auto", "logprobs", "parse"):
            raise ValueError(f"choose_mode must be auto, logprobs or parse, not {choose_mode!r}")
        self.model, self.api_base, self.api_key_env = model, api_base, api_key_env
        self.concurrency, self.max_retries = max(1, int(concurrency)), int(max_retries)
        self.timeout, self.batch_size = timeout, batch_size
        self.backoff_initial, self.backoff_max = backoff_initial, backoff_max
        self.choose_mode, self.choose_top_logprobs = choose_mode, choose_top_logprobs
        self.extra_params = dict(extra_params or {})
        self.served_weights = served_weights
        self._loras: dict[str, str] = {}  # adapter folder -> the name it is loaded under in the server
        self._lora_lock: asyncio.Lock | None = None
        self._sem: asyncio.Semaphore | None = None
        self._client = None  # the server client (api_base only), made on the first call
        self._closed = False
        self._unpriced = False
        _litellm()

    # ------------------------------------------------------------------ plumbing
    def _api_key(self) -> str | None:
        if self.api_key_env:
            key = os.environ.get(self.api_key_env)
            if not key:
                raise LiteLLMCallError(f"model {self.model!r}: environment variable "
                                       f"{self.api_key_env} (API key) is not set",
                                       self.model, 0, "missing API key")
            return key
        return None

    def _secrets(self) -> list[str]:
        """Values to scrub from messages: the configured key and any key-like env value."""
        out = []
        for name, value in os.environ.items():
            if len(value) >= 8 and (name == self.api_key_env or re.search(
                    r"(KEY|TOKEN|SECRET|PASSWORD)", name.upper())):
                out.append(value)
        return sorted(out, key=len, reverse=True)

    def _redact(self, text: str) -> str:
        from collabdsl.masking import mask

        for s in self._secrets():
            text = text.replace(s, "***")
        return mask(re.sub(r"(Bearer\s+)\S+", r"\1***", text))

    def _server_client(self, key: str):
        """The OpenAI client of a server executor: exactly ``key`` as its credential, no
        organization or project header from the environment (see the module docstring)."""
        if self._client is None:
            import httpx
            import openai

            async def only_the_bound_key(request):
                for name in ("OpenAI-Organization", "OpenAI-Project"):
                    request.headers.pop(name, None)
                request.headers["Authorization"] = f"Bearer {key}"

            self._client = openai.AsyncOpenAI(
                api_key=key, base_url=self.api_base, organization=None, project=None, max_retries=0,
                timeout=self.timeout, http_client=httpx.AsyncClient(
                    timeout=self.timeout, event_hooks={"request": [only_the_bound_key]},
                    limits=httpx.Limits(max_connections=max(100, self.concurrency))))
        return self._client

    @staticmethod
    def _retryable(exc: BaseException) -> bool:
        litellm = _litellm()
        if isinstance(exc, (litellm.RateLimitError, litellm.InternalServerError,
                            litellm.ServiceUnavailableError, litellm.BadGatewayError,
                            litellm.Timeout, litellm.APIConnectionError, asyncio.TimeoutError,
                            ConnectionError, TimeoutError)):
            return True
        code = getattr(exc, "status_code", None)
        return isinstance(code, int) and (code in _RETRY_STATUS or code >= 500)

    def _run(self, coro):
        loop = _shared_loop()
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            coro.close()
            raise RuntimeError("LiteLLMExecutor sync methods called on the executor's own loop; "
                               "await agenerate()/achoose() instead")
        return asyncio.run_coroutine_threadsafe(coro, loop).result()

    async def _served_model(self, adapter: str | None) -> str | None:
        """The litellm model name of a request's adapter (None: the base model): the adapter
        loaded into the server once, under its stable name."""
        if adapter is None:
            return None
        if not self.api_base:
            raise ValueError(f"model {self.model!r}: API models take no LoRA adapter ({adapter})")
        if self._lora_lock is None:
            self._lora_lock = asyncio.Lock()
        async with self._lora_lock:
            path = str(Path(adapter).resolve())
            if path not in self._loras:
                self._loras[path] = await self._load_adapter(path)
            return f"openai/{self._loras[path]}"

    async def _load_adapter(self, path: str) -> str:
        """Load the adapter folder ``path`` into the server (vLLM's runtime LoRA loading); its name."""
        import httpx

        from runtime.served import adapter_name, same_weights

        name, base = adapter_name(path), self.api_base.rstrip("/")
        served = self.model.removeprefix("openai/")
        key = self._api_key() or "no-key"
        where = self._redact(base)

        def fail(what: str) -> LiteLLMCallError:
            try:
                rank = json.loads(Path(path, "adapter_config.json").read_text()).get("r", 16)
            except (OSError, ValueError):
                rank = 16
            rank = next((x for x in (8, 16, 32, 64, 128, 256, 512) if x >= int(rank)), rank)
            how = (f"start it as VLLM_ALLOW_RUNTIME_LORA_UPDATING=True vllm serve "
                   f"{self.served_weights or 'WEIGHTS'} --served-model-name {served} --enable-lora "
                   f"--max-lora-rank {rank}, where it can read {path}")
            return LiteLLMCallError(f"server {where} cannot serve the trained version (LoRA adapter {path}): "
                                    f"{what}; {how}", self.model, 1, what)

        async with httpx.AsyncClient(timeout=self.timeout,
                                     headers={"Authorization": f"Bearer {key}"}) as http:
            try:
                if self.served_weights:  # the adapter was trained on these weights: the server's must match
                    resp = await http.get(f"{base}/models")
                    cards = resp.json().get("data") or [] if resp.status_code == 200 else []
                    root = next((c.get("root") for c in cards if c.get("id") == served), None)
                    if not same_weights(root, self.served_weights):
                        raise LiteLLMCallError(
                            f"server {where} serves {served!r} from {root!r}, but the role's weights are "
                            f"{self.served_weights!r}: an adapter trained on them would run on other weights "
                            "(set weights: to what the server serves)", self.model, 1, "other weights")
                resp = await http.post(f"{base}/load_lora_adapter",
                                       json={"lora_name": name, "lora_path": path})
            except httpx.HTTPError as e:
                raise fail(self._redact(f"{type(e).__name__}: {e}")) from None
        if resp.status_code == 200:
            return name
        detail = self._redact(resp.text.strip().replace("\n", " "))[:300]
        if resp.status_code == 400 and "already been loaded" in detail:
            return name  # loaded earlier under this name: the same folder and contents
        if resp.status_code == 404:
            raise fail("it has no runtime LoRA loading (HTTP 404 on /load_lora_adapter)")
        raise fail(f"HTTP {resp.status_code} on /load_lora_adapter: {detail}")

    async def _call(self, chat: bool, prompt: str, params: dict, turns=(),
                    model: str | None = None) -> tuple[Any, int]:
        """One completion call with retries; returns (response, retries). ``model``: a loaded
        adapter's name instead of the executor's model."""
        from tenacity import (
            AsyncRetrying,
            retry_if_exception,
            stop_after_attempt,
            wait_exponential,
            wait_random,
        )

        litellm = _litellm()
        if self._sem is None:
            self._sem = asyncio.Semaphore(self.concurrency)
        kwargs = dict(self.extra_params, **params, model=model or self.model, timeout=self.timeout,
                      max_retries=0, drop_params=True)
        key = self._api_key()
        if self.api_base:  # a server gets the key bound to it, or a placeholder: never the environment's
            key = key if key is not None else "no-key"
            kwargs.update(api_base=self.api_base, api_key=key, client=self._server_client(key))
        elif key is not None:
            kwargs["api_key"] = key
        if chat:
            fn, kwargs["messages"] = litellm.acompletion, chat_messages(prompt, turns)
        else:
            fn, kwargs["prompt"] = litellm.atext_completion, plain_text(prompt, turns)
        attempts = 0
        try:
            async for attempt in AsyncRetrying(
                    stop=stop_after_attempt(self.max_retries + 1), reraise=True,
                    wait=wait_exponential(multiplier=self.backoff_initial, max=self.backoff_max)
                    + wait_random(0, self.backoff_initial),
                    retry=retry_if_exception(self._retryable)):
                with attempt:
                    attempts += 1
                    async with self._sem:
                        resp = await asyncio.wait_for(fn(**kwargs), self.timeout + 10)
            return resp, attempts - 1
        except Exception as e:  # noqa: BLE001 -- re-raised as one clear error, secrets scrubbed
            code = getattr(e, "status_code", None)
            cause = self._redact(f"{type(e).__name__}: {e}".strip())
            if len(cause) > 600:
                cause = cause[:600] + "..."
            what = f"after {attempts} attempts" if self._retryable(e) else "(not retryable)"
            where = f" at {self._redact(self.api_base)}" if self.api_base else ""
            err = LiteLLMCallError(f"litellm call to model {self.model!r}{where} failed {what}: "
                                   f"{cause}", self.model, attempts, cause,
                                   code if isinstance(code, int) else None)
        raise err  # outside the except block: no chained cause that could hold a key

    def _cost(self, resp: Any) -> float:
        """USD cost of a response: litellm's own figure when it attached one, else
        ``litellm.completion_cost``; 0.0 for models the (offline) price map lacks, which
        are then not priced again."""
        hidden = _get(resp, "_hidden_params")
        cost = hidden.get("response_cost") if isinstance(hidden, dict) else None
        if cost is None and not self._unpriced:
            try:
                cost = _litellm().completion_cost(completion_response=resp)
            except Exception:  # noqa: BLE001 -- unknown model / provider: no price
                self._unpriced = True
        try:
            cost = float(cost or 0.0)
        except (TypeError, ValueError):
            return 0.0
        return cost if math.isfinite(cost) and cost > 0 else 0.0

    # ------------------------------------------------------------------ generate
    async def _gen_one(self, r: GenRequest) -> list[Generation]:
        model = await self._served_model(r.adapter)
        n = max(1, r.n)
        greedy = r.temperature <= 0
        gens: list[Generation] = []
        for _ in range(n):  # normally one round; more if the provider ignores n
            want = 1 if greedy else n - len(gens)
            params: dict = {"temperature": r.temperature, "top_p": r.top_p,
                            "max_tokens": r.max_tokens}
            if want > 1:
                params["n"] = want
            if r.seed is not None:
                params["seed"] = r.seed + len(gens)
            if r.logprobs:
                params.update({"logprobs": True, "top_logprobs": 2} if r.chat else {"logprobs": 2})
            resp, retries = await self._call(r.chat, r.prompt, params, r.turns, model=model)
            gens.extend(self._parse(resp, r, retries))
            if greedy or len(gens) >= n:
                break
        if greedy:  # copies of the one greedy answer, carrying no tokens, cost or retries
            g = gens[0]
            lps, margins = g.token_logprobs, g.top2_margins
            gens += [Generation(g.text, None if lps is None else list(lps),
                                None if margins is None else list(margins)) for _ in range(n - 1)]
        return gens[:n]

    def _parse(self, resp: Any, r: GenRequest, retries: int) -> list[Generation]:
        choices = list(_get(resp, "choices") or [])
        if not choices:
            raise LiteLLMCallError(f"litellm call to model {self.model!r} returned no choices",
                                   self.model, 1, "empty response")
        usage = _get(resp, "usage")
        prompt_tokens = int(_get(usage, "prompt_tokens", 0) or 0)
        total = int(_get(usage, "completion_tokens", 0) or 0)
        steps = [_steps(c, r.chat) for c in choices]
        if all(s is not None for s in steps) and sum(len(s) for s in steps) == total:
            counts = [len(s) for s in steps]
        else:
            counts = [total // len(choices)] * len(choices)
            counts[0] += total - sum(counts)
        cost = self._cost(resp)
        out = []
        for k, (c, st) in enumerate(zip(choices, steps)):
            text = _get(_get(c, "message"), "content") if r.chat else _get(c, "text")
            # content null (a filtered or refused reply, a tool call): no text, which is not
            # the empty text; the generate handler fails the row with its id
            g = Generation(text=text, completion_tokens=counts[k])
            if r.logprobs and st is not None:
                g.token_logprobs = [lp for _, lp, _ in st]
                g.top2_margins = [_margin([v for _, v in top] or [lp]) for _, lp, top in st]
            if k == 0:
                g.prompt_tokens, g.cost, g.retries = prompt_tokens, cost, retries
            out.append(g)
        return out

    async def agenerate(self, requests: Sequence[GenRequest]) -> list[list[Generation]]:
        return await asyncio.wrap_future(
            asyncio.run_coroutine_threadsafe(self._generate(requests), _shared_loop()))

    async def _generate(self, requests: Sequence[GenRequest]) -> list[list[Generation]]:
        return list(await asyncio.gather(*(self._gen_one(r) for r in requests)))

    def generate(self, requests: Sequence[GenRequest]) -> list[list[Generation]]:
        """One list of ``request.n`` generations per request, in order."""
        self._check_open()
        return self._run(self._generate(requests))

    # ------------------------------------------------------------------ choose
    @staticmethod
    def choice_prompt(r: ChoiceRequest) -> str:
        lines = [f"{LETTERS[i]}. {o.strip()}" for i, o in enumerate(r.options)]
        return (f"{r.prompt.rstrip()}\n\nOptions:\n" + "\n".join(lines)
                + "\n\nAnswer with the letter of the correct option only.")

    async def _choose_one(self, r: ChoiceRequest) -> ChoiceResult:
        k = len(r.options)
        if k == 0:
            return ChoiceResult(probs=[], logliks=[])
        if k > len(LETTERS):
            raise ValueError(f"at most {len(LETTERS)} options, got {k}")
        model = await self._served_model(r.adapter)
        params: dict = {"temperature": 0.0, "max_tokens": 5}
        if self.choose_mode != "parse":
            params.update({"logprobs": True, "top_logprobs": self.choose_top_logprobs} if r.chat
                          else {"logprobs": min(self.choose_top_logprobs, 5)})
        resp, _ = await self._call(r.chat, self.choice_prompt(r), params, r.turns, model=model)
        choice = (_get(resp, "choices") or [None])[0]
        steps = _steps(choice, r.chat) if self.choose_mode != "parse" else None
        if steps:
            res = self._from_logprobs(steps, k)
            if res is not None:
                return res
        if self.choose_mode == "logprobs":
            raise LiteLLMCallError(f"model {self.model!r} returned no usable option logprobs",
                                   self.model, 1, "no logprobs")
        text = (_get(_get(choice, "message"), "content") if r.chat else _get(choice, "text")) or ""
        idx = self.parse_choice(text, r.options)
        if idx is None:
            return ChoiceResult(probs=[1.0 / k] * k, logliks=[])
        return ChoiceResult(probs=[1.0 if i == idx else 0.0 for i in range(k)], logliks=[])

    @staticmethod
    def _letter(token: str, k: int) -> str | None:
        t = token.strip().strip("()[]*.:").strip()
        return t if len(t) == 1 and t in LETTERS[:k] else None

    def _from_logprobs(self, steps, k: int) -> ChoiceResult | None:
        pos = next((i for i, (t, _, _) in enumerate(steps) if self._letter(t, k)), None)
        if pos is None:
            pos = next((i for i, (_, _, top) in enumerate(steps)
                        if any(self._letter(t, k) for t, _ in top)), None)
        if pos is None:
            return None
        tok, lp, top = steps[pos]
        listed = dict(top)
        listed.setdefault(tok, lp)
        mass = [0.0] * k
        for t, v in listed.items():
            letter = self._letter(t, k)
            if letter is not None:
                mass[LETTERS.index(letter)] += math.exp(v)
        seen = [math.exp(v) for v in listed.values()]
        missing = [i for i in range(k) if mass[i] == 0.0]
        if missing:
            rest = max(0.0, 1.0 - sum(seen)) / len(missing)
            floor = min(min(seen), rest) if rest > 0 else min(seen) * 1e-3
            for i in missing:
                mass[i] = max(floor, 1e-300)
        total = sum(mass)
        return ChoiceResult(probs=[m / total for m in mass], logliks=[math.log(m) for m in mass])

    @staticmethod
    def parse_choice(text: str, options: Sequence[str]) -> int | None:
        """The option a free-text answer names: a leading letter, "answer: X", a lone
        letter, else the one option whose text it names in whole words (``named_option``
        of the language's builtins: "no" is not in "know", several options named is none).
        None when nothing matches."""
        from collabdsl.builtins import named_option

        valid = LETTERS[:len(options)]
        patterns = (r"^\W*([A-Z])\b", r"(?i:answer|option)\W*(?:is\W*)?\(?([A-Z])\b",
                    r"\b([A-Z])\b")
        for pat in patterns:
            for m in re.finditer(pat, text.strip()):
                if m.group(1) in valid:
                    return valid.index(m.group(1))
        return named_option(text, list(options))

    async def achoose(self, requests: Sequence[ChoiceRequest]) -> list[ChoiceResult]:
        return await asyncio.wrap_future(
            asyncio.run_coroutine_threadsafe(self._choose(requests), _shared_loop()))

    async def _choose(self, requests: Sequence[ChoiceRequest]) -> list[ChoiceResult]:
        return list(await asyncio.gather(*(self._choose_one(r) for r in requests)))

    def choose(self, requests: Sequence[ChoiceRequest]) -> list[ChoiceResult]:
        """One result per request, in order (see the module docstring for the method)."""
        self._check_open()
        return self._run(self._choose(requests))

    # ------------------------------------------------------------------ lifecycle
    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"LiteLLMExecutor({self.model!r}) is closed")

    def close(self) -> None:
        """Refuse further calls and close the server client. litellm's pooled HTTP clients
        are process-wide and stay."""
        self._closed = True
        client, self._client = self._client, None
        if client is not None and _LOOP is not None and _LOOP.is_running():
            try:
                asyncio.run_coroutine_threadsafe(client.close(), _LOOP).result(5)
            except Exception:  # noqa: BLE001, S110 -- best effort: the process may be ending
                pass

    def __enter__(self) -> LiteLLMExecutor:  # noqa: PYI034
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:  # no key, ever
        from collabdsl.masking import mask

        return (f"LiteLLMExecutor(model={self.model!r}, api_base={mask(self.api_base)!r}, "
                f"concurrency={self.concurrency})")
