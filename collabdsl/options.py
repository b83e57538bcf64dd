"""Every option the language accepts, and where each one lands: the one contract the
checker, the lowering and the runtime read.

An option is honoured or rejected: each entry names what it configures (the executor
keyword, the ``GenRequest`` field, the TRL/PEFT config field, the ``load_rows`` keyword)
and where it applies (backends for model options, objectives for training options,
methods for per-call options). The checker rejects an option used where it does not
apply (``E112``, at the option) and a value outside its range or set (``E109``); the
lowering repeats both checks on the bound values (params after ``--set``, roles after
``--model``); the runtime builds its calls from these tables, so a name added here
without a landing fails the contract tests (tests/runtime/test_option_contract.py).

Pure Python: no heavy import (lint must stay fast). That every listed scheduler and
optimizer is a name the installed transformers knows is asserted by a test, not here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from collabdsl import loadmap as _loadmap
from collabdsl import vllm_args as _vllm_args

TRANSFORMERS_BACKENDS = ("embedded", "hf", "gguf")  # runtime.executors.transformers_exec
VLLM_BACKENDS = ("vllm",)  # runtime.executors.vllm_exec
LITELLM_BACKENDS = ("api", "server")  # runtime.executors.litellm_exec
GENERATING = TRANSFORMERS_BACKENDS + VLLM_BACKENDS + LITELLM_BACKENDS  # every backend but column

# Precision names -> the canonical name given to the executors (torch's and vLLM's spelling).
DTYPES = {"auto": "auto", "bf16": "bfloat16", "bfloat16": "bfloat16", "fp16": "float16",
          "float16": "float16", "half": "float16", "fp32": "float32", "float32": "float32",
          "float": "float32"}

# transformers' SchedulerType values that need no extra arguments and no evaluation loop.
SCHEDULERS = ("linear", "cosine", "cosine_with_restarts", "polynomial", "constant",
              "constant_with_warmup", "inverse_sqrt")
# transformers' OptimizerNames values that need no package beyond torch.
OPTIMIZERS = ("adamw_torch", "adamw_torch_fused", "adafactor", "sgd", "adagrad", "rmsprop")
OPTIMIZER_ALIASES = {"adamw": "adamw_torch"}  # the one short name accepted besides them

# How a training's processes are started (runtime.launch); "none": in the run's own process.
LAUNCHERS = ("none", "accelerate")

# Schedulers whose learning rate ignores the warmup (transformers' get_constant_schedule).
NO_WARMUP_SCHEDULERS = ("constant",)


@dataclass(frozen=True)
class Option:
    """One option name of one table."""

    name: str
    lands: str  # what it configures, in words naming the object and field
    applies: tuple[str, ...] = ()  # backends, objectives or methods it applies to
    kwarg: str | None = None  # the keyword the runtime passes it as (see each table)
    check: Callable[[Any], str | None] | None = None  # value -> what is wrong, or None
    normalize: Callable[[Any], Any] | None = None  # value -> the value passed on
    default: Any = None  # the value when not given (documentation)
    required: tuple[str, ...] = ()  # methods where it must be given

    def problem(self, value) -> str | None:
        """What is wrong with ``value`` for this option (None: fine, or not known yet)."""
        if value is None or self.check is None:
            return None
        msg = self.check(value)
        if msg is None or msg.startswith("unknown "):
            return msg
        return f"{self.name}: {msg}" if msg.startswith("expected ") else f"{self.name} {msg}"

    def value(self, value):
        return self.normalize(value) if (self.normalize and value is not None) else value


# ------------------------------------------------------------------ value checks
def _show(v) -> str:
    return f'"{v}"' if isinstance(v, str) else str(v).lower() if isinstance(v, bool) else f"{v}"


def _num(v) -> str:
    """A number as written: whole numbers in full (1000000, not 1e+06)."""
    return str(int(v)) if float(v).is_integer() and abs(v) < 1e15 else f"{v:g}"


def _number(lo=None, hi=None, *, lo_open=False, hi_open=False, integer=False, why=""):
    def check(v):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or (
                integer and not float(v).is_integer()):
            return f"expected {'an integer' if integer else 'a number'}, got {_show(v)}"
        below = lo is not None and (v <= lo if lo_open else v < lo)
        above = hi is not None and (v >= hi if hi_open else v > hi)
        if below or above:
            if hi is None:
                rng = f"{'>' if lo_open else '>='} {_num(lo)}"
            elif lo is None:
                rng = f"{'<' if hi_open else '<='} {_num(hi)}"
            else:
                rng = f"{'(' if lo_open else '['}{_num(lo)}, {_num(hi)}{')' if hi_open else ']'}"
            where = "outside" if lo is not None and hi is not None else "not"
            return f"{_num(v)} is {where} {rng}" + (f": {why}" if why else "")
        return None
    return check


def _one_of(names, aliases=None, what="name"):
    aliases = aliases or {}

    def check(v):
        if not isinstance(v, str) or (v not in names and v not in aliases):
            extra = f" (or {', '.join(aliases)})" if aliases else ""
            return f"unknown {what} {_show(v)}; expected one of {', '.join(names)}{extra}"
        return None
    return check


def _bool(v):
    return None if isinstance(v, bool) else f"expected true or false, got {_show(v)}"


def _text(v):
    return None if isinstance(v, str) else f"expected a text, got {_show(v)}"


def _text_or_list(v):
    ok = isinstance(v, str) or (isinstance(v, (list, tuple)) and all(isinstance(x, str) for x in v))
    return None if ok else f"expected a text or a list of texts, got {_show(v)}"


_POS_INT = _number(1, integer=True)

# Upper bounds that keep one call's work and memory bounded whatever a program asks (no model
# has a context window of a million tokens; a row's samples are held together in memory).
MAX_TOKENS = 1_000_000
MAX_SAMPLES = 10_000
MAX_REPLICAS = 1_024

# Options that decide where a call runs, not what it answers: they are no part of a node's
# fingerprint, so changing them reuses what ran (outputs do not depend on them).
EXECUTION_OPTIONS = ("replicas",)


def _at_most(hi: int, what: str):
    """An upper bound only (the lower one is E110's, "must be at least 1")."""
    def check(v):
        if isinstance(v, (int, float)) and not isinstance(v, bool) and v > hi:
            return f"{_num(v)} is more than {hi:,} {what}"
        return None
    return check


# ------------------------------------------------------------------ model options
# ``kwarg``: the keyword of the executor's constructor (runtime.agents.make_executor);
# None: the option travels with every request (GenRequest / ChoiceRequest fields).
def _model_options():
    return [
        Option("temperature", "GenRequest.temperature: sampling temperature of generate, sample and "
               "score (0 = greedy)", GENERATING, check=_number(0), default=0.0),
        Option("top_p", "GenRequest.top_p: nucleus sampling", GENERATING,
               check=_number(0, 1, lo_open=True), default=1.0),
        Option("max_tokens", "GenRequest.max_tokens: completion length limit (the transformers "
               "executor also refuses one that does not fit the model's context window)", GENERATING,
               check=_number(1, MAX_TOKENS, integer=True), default=128),
        Option("seed", "GenRequest.seed of sampled calls (temperature > 0); otherwise one derived "
               "from the run seed, the operation and the row", GENERATING, check=_number(integer=True)),
        Option("system", "GenRequest.turns and ChoiceRequest.turns: the system message every call of "
               "the role starts with (the chat template's system turn; a plain paragraph before the "
               "prompt without one)", GENERATING, check=_text),
        Option("chat", "GenRequest.chat and ChoiceRequest.chat (the chat template at inference), "
               "and trainer.train(chat=) (the same template in training)", GENERATING, check=_bool,
               default=True),
        Option("batch_size", "the agent's batch (requests sent to the backend at once) and the "
               "executor's batch_size", GENERATING, kwarg="batch_size", check=_POS_INT,
               default="local: the executor's limit (by memory); API: 16"),
        Option("concurrency", "LiteLLMExecutor(concurrency=): requests in flight", LITELLM_BACKENDS,
               kwarg="concurrency", check=_POS_INT, default=16),
        Option("timeout", "LiteLLMExecutor(timeout=): seconds per request, litellm.acompletion(timeout=)",
               LITELLM_BACKENDS, kwarg="timeout", check=_number(0, lo_open=True), default=60),
        Option("max_retries", "LiteLLMExecutor(max_retries=): retries after the first attempt",
               LITELLM_BACKENDS, kwarg="max_retries", check=_number(0, integer=True), default=5),
        Option("device", 'TransformersExecutor(device=): "cpu", "cuda", "cuda:1", ...',
               TRANSFORMERS_BACKENDS, kwarg="device", check=_text),
        Option("dtype", "TransformersExecutor(dtype=) and vLLM's dtype engine argument",
               TRANSFORMERS_BACKENDS + VLLM_BACKENDS, kwarg="dtype",
               check=_one_of(tuple(DTYPES), what="dtype"), normalize=DTYPES.get),
        Option("replicas", "runtime.replicas.ReplicatedExecutor: the role's executor runs as this many "
               "Ray actors (each with its own copy of the weights on its own CPUs or GPUs) and the "
               "agent's batches are spread over them", TRANSFORMERS_BACKENDS + VLLM_BACKENDS,
               check=_number(1, MAX_REPLICAS, integer=True), default=1),
    ]


MODEL_OPTIONS: dict[str, Option] = {o.name: o for o in _model_options()}

# Keyword arguments of a backend reference; ``kwarg`` is the executor keyword (None: part of
# the reference itself, replaced by the reference of a ``--model`` binding).
BACKEND_KWARGS: dict[str, dict[str, Option]] = {
    "server": {"model": Option("model", 'the served model: LiteLLMExecutor(model="openai/MODEL"), '
                               "litellm.acompletion(model=)", ("server",), check=_text),
               "api_key_env": Option("api_key_env", "the environment variable the program expects the "
                                     "server's key in: `collab run` refuses to start until the user "
                                     "confirms it with --key ROLE=NAME, which makes "
                                     "LiteLLMExecutor(api_key_env=NAME) send $NAME as the Authorization "
                                     "header (collabdsl.access.check_keys)", ("server",), check=_text)},
    "gguf": {"file": Option("file", "the .gguf file in the folder or hub repository of the reference: "
                            "TransformersExecutor(REF/FILE)", ("gguf",), check=_text)},
    "vllm": {
        "gpu_memory_utilization": Option("gpu_memory_utilization", "VLLMExecutor(gpu_memory_utilization=)",
                                         ("vllm",), kwarg="gpu_memory_utilization",
                                         check=_number(0, 1, lo_open=True)),
        "max_model_len": Option("max_model_len", "VLLMExecutor(max_model_len=)", ("vllm",),
                                kwarg="max_model_len", check=_POS_INT),
    },
}


def _engine_arg(name: str) -> Option:
    """A vLLM engine argument (collabdsl.vllm_args): passed to vllm.LLM under its own name."""
    return Option(name, f"vLLM's engine argument {name}: VLLMExecutor({name}=) -> vllm.LLM({name}=)",
                  ("vllm",), kwarg=name, check=lambda v: _vllm_args.problem(name, v),
                  normalize=lambda v: _vllm_args.normalize(name, v))


# every other field of vLLM's EngineArgs, under the engine's own name (the names collab sets
# itself, collabdsl.vllm_args.RESERVED, are not options)
BACKEND_KWARGS["vllm"].update({n: _engine_arg(n) for n in _vllm_args.ENGINE_ARGS
                               if n not in BACKEND_KWARGS["vllm"] and n not in _vllm_args.RESERVED})
for _n in ("tensor_parallel_size", "pipeline_parallel_size", "data_parallel_size", "max_num_seqs", "max_loras"):
    BACKEND_KWARGS["vllm"][_n] = Option(_n, BACKEND_KWARGS["vllm"][_n].lands, ("vllm",), kwarg=_n, check=_POS_INT,
                                        normalize=int)
# the weights a server serves (a hub id, a local folder or embedded:NAME): what a training of
# the role fine-tunes locally, its adapter then loaded into the server (docs/runtime.md)
BACKEND_KWARGS["server"]["weights"] = Option(
    "weights", "the weights the server serves, which trainings of the role fine-tune locally (LoRA): "
    "runtime.trainer.train(base) on them, the adapter loaded into the server (POST /v1/load_lora_adapter) "
    "and called by its name", ("server",), check=_text)

# ------------------------------------------------------------------ per-call options
_GEN_METHODS = ("generate", "sample", "score")
CONFIDENCE = {"generate": ("mean_token_prob", "top2_margin"), "choose": ("option_prob",)}


def _method_options():
    gen = {o.name: o for o in _model_options() if o.name in ("temperature", "top_p", "max_tokens", "seed")}
    return [
        Option("temperature", gen["temperature"].lands + "; overrides the model's", _GEN_METHODS,
               check=gen["temperature"].check),
        Option("top_p", gen["top_p"].lands + "; overrides the model's", _GEN_METHODS, check=gen["top_p"].check),
        Option("max_tokens", gen["max_tokens"].lands + "; overrides the model's", _GEN_METHODS,
               check=gen["max_tokens"].check),
        Option("seed", gen["seed"].lands + "; overrides the model's", _GEN_METHODS, check=gen["seed"].check),
        Option("k", "GenRequest.n: the number of samples", ("sample",), required=("sample",),
               check=_at_most(MAX_SAMPLES, "samples of one prompt")),
        Option("range", "the range a score must lie in: the first number of the reply inside it",
               ("score",), required=("score",)),
        Option("on_parse_error", "what a reply that does not parse becomes: drop, keep (none), fail, "
               "or a default value", ("score",)),
        Option("options", "ChoiceRequest.options: the options scored", ("choose",), required=("choose",)),
        Option("system", "GenRequest.turns and ChoiceRequest.turns: this call's system message; "
               "overrides the model's", _GEN_METHODS + ("choose",), check=_text),
        Option("history", "GenRequest.turns and ChoiceRequest.turns: the conversation before the "
               "prompt, a list of texts from the user's first turn, user and assistant taking turns "
               "(a row expression, evaluated per row)", _GEN_METHODS + ("choose",)),
        Option("confidence", "generate: GenRequest.logprobs and the estimator of the result's "
               ".confidence (mean_token_prob, top2_margin); choose: option_prob, the chosen option's "
               "probability", ("generate", "choose")),
    ]


METHOD_OPTIONS: dict[str, Option] = {o.name: o for o in _method_options()}

# ------------------------------------------------------------------ training options
# ``kwarg``: the keyword of runtime.trainer.train; "lora.KEY" a key of its ``lora`` settings
# (LORA_OPTIONS); "lora" for ``full`` (true: lora=None).
OBJECTIVE_NAMES = ("sft", "kd", "multitask", "dpo")


def _train_options():
    every = OBJECTIVE_NAMES
    return [
        Option("lr", "learning_rate of the SFTConfig/DPOConfig", every, "lr", _number(0, lo_open=True)),
        Option("epochs", "num_train_epochs", every, "epochs", _number(0, lo_open=True), default=1),
        Option("batch_size", "per_device_train_batch_size", every, "batch_size", _POS_INT, default=4),
        Option("grad_accum", "gradient_accumulation_steps", every, "grad_accum", _POS_INT, default=1),
        Option("max_length", "max_length of the SFTConfig/DPOConfig (tokens per example; longer ones "
               "are truncated)", every, "max_length", _POS_INT, default=512),
        Option("max_steps", "max_steps (optimizer steps; overrides epochs)", every, "max_steps", _POS_INT),
        Option("seed", "seed and data_seed (model init, LoRA init, data order); default: the run seed",
               every, "seed", _number(integer=True)),
        Option("warmup", "warmup_steps given as a ratio: the share of the optimizer steps warming "
               "up linearly from 0", every, "warmup",
               _number(0, 1, hi_open=True, why="warmup is the share of the training steps spent warming "
                       "up"), default=0.0),
        Option("scheduler", "lr_scheduler_type", every, "scheduler", _one_of(SCHEDULERS, what="scheduler"),
               default="linear"),
        Option("optimizer", "optim (transformers' OptimizerNames)", every, "optimizer",
               _one_of(OPTIMIZERS, OPTIMIZER_ALIASES, what="optimizer"),
               normalize=lambda v: OPTIMIZER_ALIASES.get(v, v), default="transformers' default"),
        Option("weight_decay", "weight_decay of the optimizer (every weight but biases and norm layers)",
               every, "weight_decay", _number(0), default=0.0),
        Option("lora_r", "LoraConfig.r of a new adapter", every, "lora.r", _POS_INT, default=16),
        Option("lora_alpha", "LoraConfig.lora_alpha of a new adapter", every, "lora.alpha",
               _number(0, lo_open=True), default=32),
        Option("lora_dropout", "LoraConfig.lora_dropout of a new adapter", every, "lora.dropout",
               _number(0, 1, hi_open=True), default=0.05),
        Option("full", "true: train all weights (no LoraConfig); false: a LoRA adapter even on a "
               "`trainable full` role", every, "lora", _bool),
        Option("restart", "true: train the role's declared weights (a new adapter, or all weights), not "
               "the version it has now: trainer.train(adapter=None) from the declared model (STaR fine-tunes "
               "the pre-trained model again in every iteration)", every, "restart", _bool, default=False),
        Option("lambda", "the teacher's weight in (1 - lambda) * L(gold) + lambda * L(teacher)", ("kd",),
               "lam", _number(0, 1, why="kd mixes (1 - lambda) gold and lambda teacher"), default=0.5),
        Option("beta", "DPOConfig.beta", ("dpo",), "beta", _number(0, lo_open=True), default=0.1),
        # how the training runs (runtime.launch.launch_train; also `collab run --launcher/--processes/
        # --accelerate-config` for every training that does not set them)
        Option("launcher", '"accelerate": runtime.launch.launch_train runs the training as an `accelerate '
               'launch` subprocess (runtime.train_worker); "none": runtime.trainer.train in process',
               every, "launcher", _one_of(LAUNCHERS, what="launcher"), default="none"),
        Option("processes", "launch_train(processes=): accelerate launch --num_processes (data parallel "
               "ranks; batch_size stays the inputs of a step over all of them)", every, "processes", _POS_INT,
               default=1),
        Option("accelerate_config", "launch_train(accelerate_config=): accelerate launch --config_file (DDP, "
               "FSDP, DeepSpeed ...); a file the program may read", every, "accelerate_config", _text),
    ]


TRAIN_OPTIONS: dict[str, Option] = {o.name: o for o in _train_options()}
LORA_TRAIN_OPTIONS = tuple(n for n, o in TRAIN_OPTIONS.items() if (o.kwarg or "").startswith("lora."))

# ``trainable lora(...)`` of a model declaration; ``kwarg``: the key of trainer.train's ``lora``.
LORA_OPTIONS: dict[str, Option] = {o.name: o for o in [
    Option("r", "LoraConfig.r", kwarg="r", check=_POS_INT, default=16),
    Option("alpha", "LoraConfig.lora_alpha", kwarg="alpha", check=_number(0, lo_open=True), default=32),
    Option("dropout", "LoraConfig.lora_dropout", kwarg="dropout", check=_number(0, 1, hi_open=True),
           default=0.05),
    Option("target_modules", 'LoraConfig.target_modules: "all-linear" or a list of module names',
           kwarg="target_modules", check=_text_or_list, default="all-linear"),
]}

# ------------------------------------------------------------------ load options
# ``kwarg``: the keyword of runtime.data.load_rows.
LOAD_OPTIONS: dict[str, Option] = {o.name: o for o in [
    Option("split", "the split of a builtin: or hf: source", kwarg="split"),
    Option("format", "the file format (jsonl, json, csv, parquet) instead of the extension's", kwarg="format"),
    Option("columns", "{new: old} renames columns and declares the schema", kwarg="columns"),
    Option("limit", "keep the first N rows (none: all)", kwarg="limit"),
    Option("seed", "the seed of shuffle", kwarg="seed"),
    Option("shuffle", "shuffle the rows (with seed) before the limit", kwarg="shuffle"),
    Option("attach", "{column: path or glob} adds columns from JSON lists aligned with the rows",
           kwarg="attach"),
    Option("templates", "{column: \"text with {source_column} slots\"} builds columns from templates of the "
           "source's columns (runtime.loadmap.build)", kwarg="templates", check=_loadmap.check_templates),
    Option("options", "the options of every row, a list of texts or \"a|b|c\": the options column "
           "(runtime.loadmap.build)", kwarg="options", check=_loadmap.check_options),
    Option("answer_is", "how the answer column gives the answer: text, index0, index1, letter or bool; "
           "it becomes its option's text (runtime.loadmap.map_answers)", kwarg="answer_is",
           check=_loadmap.check_answer_is, default="text"),
]}


# ------------------------------------------------------------------ rules
def backend_problem(option: Option, backend: str, what: str = "model option") -> str | None:
    """Why ``option`` cannot apply to a ``backend()`` model, or None."""
    if backend in option.applies or not backend:
        return None
    where = ", ".join(f"{b}()" for b in option.applies) if option.applies else "no backend"
    art = "an" if backend[0] in "aeiou" else "a"
    if backend == "column":
        return (f"{what} '{option.name}' does not apply to a column() model, which answers with the "
                f"stored values of its column: it sets {option.lands}, for {where} models")
    return (f"{what} '{option.name}' does not apply to {art} {backend}() model: it sets {option.lands}, "
            f"which only {where} models have")


def objective_problem(option: Option, objective: str) -> str | None:
    if objective in option.applies:
        return None
    return (f"'{option.name}' does not apply to {objective}: it sets {option.lands} "
            f"({' and '.join(option.applies)} only)")


def train_conflicts(values: dict) -> list[tuple[str, str]]:
    """(option, message) for training options that cannot go together (values known)."""
    out = []
    if values.get("full") is True:
        out += [(n, f"'{n}' sets the LoRA adapter, but full: true trains all weights (no adapter)")
                for n in LORA_TRAIN_OPTIONS if n in values]
    if values.get("launcher") == "none":
        out += [(n, f"'{n}' sets how the launcher starts the training, but launcher \"none\" trains in "
                 f"process: use launcher: \"accelerate\"") for n in ("accelerate_config",) if n in values]
        if (values.get("processes") or 1) > 1:
            out.append(("processes", f"processes {values['processes']} needs launcher: \"accelerate\" (launcher "
                        f"\"none\" trains in the run's own process)"))
    # batch_size known (a literal or a param's value; the default 4 and unknown values are the
    # train handler's check, before anything is launched)
    if isinstance(values.get("processes"), int) and values["processes"] > 1 and \
            isinstance(values.get("batch_size"), int) and values["batch_size"] % values["processes"]:
        out.append(("processes", f"batch_size {values['batch_size']} does not divide among "
                    f"{values['processes']} processes: batch_size counts the inputs of an optimizer step over "
                    f"all processes, so it must be a multiple of {values['processes']}"))
    if values.get("scheduler") in NO_WARMUP_SCHEDULERS and values.get("warmup"):
        out.append(("warmup", f'the "{values["scheduler"]}" scheduler ignores warmup: use '
                    '"constant_with_warmup"'))
    return out


def executor_kwargs(spec: dict) -> dict:
    """The executor constructor keywords from a model spec's options and backend kwargs:
    each option that applies to the backend and is given, under its ``kwarg``."""
    backend = spec["backend"]
    out = {}
    for name, value in (spec.get("options") or {}).items():
        opt = MODEL_OPTIONS.get(name)
        if opt is not None and opt.kwarg and backend in opt.applies and value is not None:
            out[opt.kwarg] = opt.value(value)
    for name, value in (spec.get("kwargs") or {}).items():
        opt = BACKEND_KWARGS.get(backend, {}).get(name)
        if opt is not None and opt.kwarg and value is not None:
            out[opt.kwarg] = opt.value(value)
    return out
