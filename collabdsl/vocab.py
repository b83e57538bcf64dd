"""The fixed vocabulary of the language: backends, model and knowledge-base methods,
training objectives, metrics and their arguments. The checker, the IR and the runtime
all read these tables, so a name means the same thing at every layer."""
from __future__ import annotations

from dataclasses import dataclass

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

BACKEND_KWARGS = {"server": ("model", "api_key_env"), "gguf": ("file",), "vllm": ("gpu_memory_utilization", "max_model_len")}

# `--model role=REF` on the command line: REF is KIND:VALUE with these kinds.
REF_KINDS = tuple(BACKENDS)

MODEL_OPTIONS = ("temperature", "top_p", "max_tokens", "batch_size", "seed", "concurrency",
                 "device", "dtype", "chat", "timeout", "max_retries")


@dataclass(frozen=True)
class Method:
    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    returns: str  # text | gen | list | number | choice
    doc: str


_GEN = ("temperature", "top_p", "max_tokens", "seed")
MODEL_METHODS: dict[str, Method] = {m.name: m for m in [
    Method("generate", (), _GEN + ("confidence",), "text",
           "one completion; with confidence: E a record {text, confidence}"),
    Method("sample", ("k",), _GEN, "list", "k sampled completions"),
    Method("score", ("range",), _GEN + ("on_parse_error",), "number",
           "a number parsed from the reply, checked against the declared range"),
    Method("choose", ("options",), ("confidence",), "choice",
           "the most likely option by log-likelihood: {answer, index, confidence, probs}"),
]}

KB_METHODS: dict[str, Method] = {m.name: m for m in [
    Method("write", (), ("key",), "none", "store a text entry (a statement)"),
    Method("retrieve", (), ("top",), "text", "the top entries by BM25, joined by newlines"),
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


TRAIN_OPTIONS = ("lr", "epochs", "batch_size", "grad_accum", "max_length", "max_steps", "seed",
                 "warmup", "scheduler", "lora_r", "lora_alpha", "lora_dropout", "full")
OBJECTIVES: dict[str, Objective] = {o.name: o for o in [
    Objective("sft", ("input", "target"), (), "supervised fine-tuning, loss on the target only"),
    Objective("kd", ("input", "gold", "teacher"), ("lambda",),
              "(1 - lambda) * L(gold) + lambda * L(teacher)"),
    Objective("multitask", ("input", "tasks"), (), "sum over tasks of weight * L(prefix + input -> target)"),
    Objective("dpo", (), ("prompt", "chosen", "rejected", "beta"), "direct preference optimisation"),
]}
OBJECTIVE_DEFAULTS = {"kd": {"lambda": 0.5}, "dpo": {"beta": 0.1}}

METRICS = ("accuracy", "exact_match", "token_f1", "macro_f1", "mean", "answered")
GOLD_FREE_METRICS = ("mean", "answered")  # read only the system's values: a rate or a cost, the share answered

PARAM_TYPES = {"int": int, "float": (int, float), "bool": bool, "str": str}
