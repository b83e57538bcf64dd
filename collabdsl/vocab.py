"""The fixed vocabulary of the language: backends, model and knowledge-base methods,
training objectives, metrics and their arguments. The checker, the IR and the runtime
all read these tables, so a name means the same thing at every layer. The options of
models, backends, methods, trainings and loads, with where each one lands, are in
``collabdsl.options`` (re-exported here)."""
from __future__ import annotations

from dataclasses import dataclass

from collabdsl.options import (BACKEND_KWARGS, LOAD_OPTIONS, LORA_OPTIONS, METHOD_OPTIONS, MODEL_OPTIONS,
                               TRAIN_OPTIONS)

EMBEDDED_MODELS = ("smollm2-135m-instruct",)


@dataclass(frozen=True)
class Backend:
    name: str
    doc: str
    trainable: bool  # can the trainer produce new versions of it
    local: bool  # weights loaded in this process


BACKENDS: dict[str, Backend] = {b.name: b for b in [
    Backend("embedded", 'the model shipped with collab: embedded("smollm2-135m-instruct")', True, True),
    Backend("hf", 'a Hugging Face hub id or a local folder: hf("HuggingFaceTB/SmolLM2-360M-Instruct")', True, True),
    Backend("gguf", 'a GGUF file: gguf("models/m.gguf")', True, True),
    Backend("vllm", 'a model served by the vLLM offline engine: vllm("Qwen/Qwen2.5-7B-Instruct")', True, True),
    Backend("api", 'any litellm model string: api("openai/gpt-4o-mini")', False, False),
    Backend("server", 'an OpenAI-compatible server: server("http://127.0.0.1:8000/v1", model: "m")', False, False),
    Backend("column", 'stored outputs: column("rationale") answers with that column of the row', False, False),
]}

# `--model role=REF` on the command line: REF is KIND:VALUE with these kinds.
REF_KINDS = tuple(BACKENDS)


@dataclass(frozen=True)
class Method:
    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    returns: str  # text | gen | list | number | choice
    doc: str


def _method(name: str, returns: str, doc: str) -> Method:
    """A model method whose options are those of METHOD_OPTIONS that apply to it."""
    return Method(name, tuple(o.name for o in METHOD_OPTIONS.values() if name in o.required),
                  tuple(o.name for o in METHOD_OPTIONS.values() if name in o.applies and name not in o.required),
                  returns, doc)


MODEL_METHODS: dict[str, Method] = {m.name: m for m in [
    _method("generate", "text", "one completion; with confidence: E a record {text, confidence}"),
    _method("sample", "list", "k sampled completions"),
    _method("score", "number", "a number parsed from the reply, checked against the declared range"),
    _method("choose", "choice", "the most likely option by log-likelihood: {answer, index, confidence, probs}"),
]}

KB_METHODS: dict[str, Method] = {m.name: m for m in [
    Method("write", (), ("key",), "none", "store a text entry (a statement)"),
    Method("retrieve", ("by",), ("top",), "text",
           "the texts of the top entries by BM25 over the field `by:` names (key or text), joined by newlines"),
]}

# Record fields of method results.
RESULT_FIELDS = {
    "choice": ("answer", "index", "confidence", "probs"),
    "gen": ("text", "confidence"),
}

ESTIMATOR_RANGE = {"option_prob": (0.0, 1.0), "mean_token_prob": (0.0, 1.0), "top2_margin": (0.0, 1.0)}


@dataclass(frozen=True)
class Objective:
    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    doc: str


# Entries of each objective (expressions over the row); its options (lambda, beta, lr, ...)
# are TRAIN_OPTIONS, each naming the objectives it applies to.
OBJECTIVES: dict[str, Objective] = {o.name: o for o in [
    Objective("sft", ("input", "target"), (), "supervised fine-tuning, loss on the target only"),
    Objective("kd", ("input", "gold", "teacher"), (), "(1 - lambda) * L(gold) + lambda * L(teacher)"),
    Objective("multitask", ("input", "tasks"), (), "sum over tasks of weight * L(prefix + input -> target)"),
    Objective("dpo", (), ("prompt", "chosen", "rejected"), "direct preference optimisation"),
]}


def objective_options(objective: str) -> tuple[str, ...]:
    return tuple(n for n, o in TRAIN_OPTIONS.items() if objective in o.applies)

METRICS = ("accuracy", "exact_match", "token_f1", "macro_f1", "mean", "answered")
GOLD_FREE_METRICS = ("mean", "answered")  # read only the system's values: a rate or a cost, the share answered

PARAM_TYPES = {"int": int, "float": (int, float), "bool": bool, "str": str}

__all__ = ["BACKENDS", "BACKEND_KWARGS", "EMBEDDED_MODELS", "ESTIMATOR_RANGE", "GOLD_FREE_METRICS",
           "KB_METHODS", "LOAD_OPTIONS", "LORA_OPTIONS", "METHOD_OPTIONS", "METRICS", "MODEL_METHODS",
           "MODEL_OPTIONS", "OBJECTIVES", "PARAM_TYPES", "REF_KINDS", "RESULT_FIELDS", "TRAIN_OPTIONS",
           "objective_options"]
