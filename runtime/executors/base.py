"""The contract every executor backend implements.

An executor serves one model (base weights plus, per request, an optional LoRA adapter
of a trained version). Requests arrive in batches assembled by the model's agent.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol, Sequence


@dataclass(frozen=True)
class GenRequest:
    """One prompt to complete. ``prompt`` is the user message; executors apply the
    model's chat template when it has one (``chat=False`` sends raw text)."""

    prompt: str
    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 128
    n: int = 1  # samples for this prompt
    seed: int | None = None
    logprobs: bool = False  # fill token_logprobs and top2_margins
    adapter: str | None = None  # path of a PEFT LoRA adapter (a trained model version)
    chat: bool = True
    turns: tuple[tuple[str, str], ...] = ()  # (role, text) before the prompt: system, earlier turns


@dataclass
class Generation:
    text: str | None  # None: the backend's reply had no text (an API's "content": null)
    token_logprobs: list[float] | None = None  # log p of each generated token
    top2_margins: list[float] | None = None  # p(top1) - p(top2) at each generated step
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0  # USD, API backends only
    retries: int = 0


@dataclass(frozen=True)
class ChoiceRequest:
    """Multiple choice: score each option as a continuation of the prompt."""

    prompt: str
    options: tuple[str, ...]
    adapter: str | None = None
    chat: bool = True
    turns: tuple[tuple[str, str], ...] = ()  # (role, text) before the prompt, as GenRequest.turns


@dataclass
class ChoiceResult:
    probs: list[float]  # normalised over the options, sums to 1
    logliks: list[float] = field(default_factory=list)  # summed log-likelihood per option

    @property
    def index(self) -> int:
        return max(range(len(self.probs)), key=self.probs.__getitem__)


class Executor(Protocol):
    batch_size: int

    def generate(self, requests: Sequence[GenRequest]) -> list[list[Generation]]:
        """One list of ``request.n`` generations per request, in order."""

    def choose(self, requests: Sequence[ChoiceRequest]) -> list[ChoiceResult]:
        """One result per request, in order."""

    def close(self) -> None:
        """Free the backend (weights, processes, connections)."""


ESTIMATORS = ("option_prob", "mean_token_prob", "top2_margin")


def confidence(estimator: str, gen: Generation | None = None, choice: ChoiceResult | None = None,
               max_tokens: int = 16) -> float:
    """The three named confidence estimators, each in [0, 1].

    - option_prob: probability of the chosen option (DKT, multiple choice)
    - mean_token_prob: mean token probability of a generated answer (DKT, generative)
    - top2_margin: mean of p(top1) - p(top2) over up to the first ``max_tokens``
      generated tokens (NesyCD's gate, authors' code uses 16)
    """
    if estimator == "option_prob":
        if choice is None:
            raise ValueError("option_prob needs a choice result")
        return max(choice.probs)
    if gen is None:
        raise ValueError(f"{estimator} needs a generation with logprobs")
    if estimator == "mean_token_prob":
        lps = gen.token_logprobs or []
        return sum(math.exp(x) for x in lps) / len(lps) if lps else 0.0
    if estimator == "top2_margin":
        ms = (gen.top2_margins or [])[:max_tokens]
        return sum(ms) / len(ms) if ms else 0.0
    raise ValueError(f"unknown confidence estimator {estimator!r}; known: {', '.join(ESTIMATORS)}")


def chat_messages(prompt: str, turns=()) -> list[dict]:
    """The chat turns of a request: its ``turns`` (a system message, earlier user and
    assistant turns), then the prompt as the user's turn."""
    return [{"role": r, "content": t} for r, t in turns] + [{"role": "user", "content": prompt}]


def plain_text(prompt: str, turns=()) -> str:
    """A request's turns as one text, for a model without a chat template (``chat false``, or
    a base model): each earlier turn on its own paragraph, the prompt last."""
    return "\n\n".join([t for _, t in turns] + [prompt]) if turns else prompt


def encode_prompt(tokenizer, prompt: str, chat: bool, empty_id: int | None,
                  turns=()) -> tuple[str, list[int], bool]:
    """(text, ids, add_special_tokens) of a prompt: the chat template is applied to its turns
    when asked for and the tokenizer has one; an empty raw prompt is conditioned on
    ``empty_id``."""
    if chat and getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template(chat_messages(prompt, turns), tokenize=False,
                                             add_generation_prompt=True)
        special = False
    else:
        text, special = plain_text(prompt, turns), True
    ids = list(tokenizer(text, add_special_tokens=special)["input_ids"])
    if not ids:
        ids = [empty_id]
    return text, ids, special
