"""What a program may touch: the files it may read, the hosts it reaches, the keys it sends.

A program comes from someone else as often as not (a paper's program, a colleague's
scheme), so it gets only what the user gives it:

* **Files.** A program reads files in its own folder and in the current directory, and the
  package's own stdlib; any other folder only when the user names it with
  ``--allow-read PATH``. Every path is checked after ``~``, ``..`` and symbolic links are
  resolved (``os.path.realpath``), so ``../x``, ``/etc/passwd``, ``~/.env`` and a link
  inside the folder pointing out of it are all outside. The check runs before anything is
  read: imports (the linker), ``load`` sources, ``attach:`` files (every match of a glob),
  local model files and folders (``gguf``, ``hf``, ``vllm``) when the program is compiled,
  and again by the runtime on the file it actually opens. A refusal is one located line
  (``E126``) naming the path and the flag that allows it.
* **Keys.** A ``server(...)`` model gets no key unless the user binds one to its role on the
  command line (``--key ROLE=ENV_VAR``); ``api_key_env:`` in the program only says which
  variable it expects (``collab run`` refuses to start until ``--key`` confirms it). An
  ``api(...)`` model goes to its provider with the provider's own key, as litellm reads it;
  its model string may not name a host (``E128``).
* **Where.** :func:`summary` lists every file a compiled program reads, every host it
  contacts and every key it sends there (``collab plan`` prints it).

Light: no heavy imports; the runtime imports this module, never the reverse.
"""
from __future__ import annotations

import glob
import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from collabdsl import ast as A
from collabdsl.diagnostics import Diagnostic, error
from collabdsl.masking import mask

LOCAL_MODEL_BACKENDS = ("gguf", "hf", "vllm")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# the key each common litellm provider reads (for `collab plan`; litellm decides at run time)
PROVIDER_KEYS = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY", "gemini": "GEMINI_API_KEY",
                 "groq": "GROQ_API_KEY", "mistral": "MISTRAL_API_KEY", "deepseek": "DEEPSEEK_API_KEY",
                 "cohere": "COHERE_API_KEY", "openrouter": "OPENROUTER_API_KEY",
                 "together_ai": "TOGETHERAI_API_KEY", "xai": "XAI_API_KEY", "azure": "AZURE_API_KEY"}


class AccessDenied(ValueError):
    """A read outside the folders the program may read."""

    def __init__(self, message: str, path: str):
        super().__init__(message)
        self.path = path


class ModelFileMissing(ValueError):
    """A local model file or folder that does not exist."""


# ---------------------------------------------------------------------- the policy
def _real(path: str | os.PathLike) -> str:
    return os.path.realpath(os.path.expanduser(os.fspath(path)))


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except (OSError, ValueError):  # a name the system rejects: NUL, too long
        return False


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


@dataclass(frozen=True)
class ReadPolicy:
    """The folders a program may read: its own folder, the current directory, the
    package's stdlib and each ``--allow-read`` path (all as real paths)."""

    program_dir: str
    cwd: str
    allowed: tuple[str, ...] = ()
    package: tuple[str, ...] = ()

    @classmethod
    def for_program(cls, program_path: str | os.PathLike | None,
                    allow_read: tuple | list = ()) -> ReadPolicy:
        from collabdsl.resources import stdlib_dir

        cwd = _real(os.getcwd())
        pdir = _real(Path(program_path).parent) if program_path else cwd
        try:
            package = (_real(stdlib_dir()),)
        except FileNotFoundError:
            package = ()
        return cls(pdir, cwd, tuple(_real(p) for p in allow_read or ()), package)

    @property
    def roots(self) -> tuple[str, ...]:
        return (self.program_dir, self.cwd, *self.allowed, *self.package)

    def root_of(self, real: str) -> str | None:
        """Which allowed folder holds ``real`` (a real path), in words; None: none does."""
        for root, name in (*((p, "collab's stdlib") for p in self.package),
                           (self.program_dir, "the program's folder"), (self.cwd, "the current directory"),
                           *((a, f"--allow-read {a}") for a in self.allowed)):
            if _within(real, root):
                return name
        return None

    def where(self) -> str:
        out = f"the program's folder {self.program_dir}"
        if self.cwd != self.program_dir:
            out += f" and the current directory {self.cwd}"
        if self.allowed:
            out += ", and --allow-read " + ", ".join(self.allowed)
        return out

    def check(self, path: str | os.PathLike, what: str) -> Path:
        """The real path of ``path`` when the program may read it; else AccessDenied whose
        message names the path and the ``--allow-read`` that would allow it."""
        given = os.path.expanduser(os.fspath(path))
        try:
            real = _real(given)
        except (OSError, ValueError) as exc:  # NUL in the name, a link loop
            raise AccessDenied(f"{what} {given!r} is not a path that can be read ({exc})", given) from None
        if self.root_of(real) is not None:
            return Path(real)
        shown = real if os.path.normpath(os.path.abspath(given)) == real else \
            f"{os.path.normpath(os.path.abspath(given))} (a link to {real})"
        folder = real if os.path.isdir(real) else os.path.dirname(real)
        raise AccessDenied(f"{what} {shown} is outside the folders this program may read "
                           f"({self.where()}): pass --allow-read {shlex.quote(folder)} to allow it", real)

    def to_dict(self) -> dict:
        return {"program_dir": self.program_dir, "cwd": self.cwd, "allow_read": list(self.allowed)}


# ---------------------------------------------------------------------- locating files
def fill_split(source: str, split: str | None) -> str | None:
    """``source`` with ``{split}`` filled in; None when it has one and no split is given."""
    if "{split}" in source:
        return source.replace("{split}", split) if split else None
    return source


def bases(base_dir: str | os.PathLike | None) -> list[Path]:
    """Where a relative path is looked up: the program's folder, then the current directory
    (where a path given with ``--set`` or ``--model`` was typed)."""
    out = [Path(base_dir)] if base_dir is not None else []
    out.append(Path.cwd())
    return list(dict.fromkeys(out))


def locate(source: str, base_dir: str | os.PathLike | None) -> tuple[Path, str]:
    """The path ``source`` names (``~`` expanded; a relative one in the first of
    :func:`bases` where it exists, else the first) and a note saying where it was looked up
    ("" for an absolute path). Nothing is read."""
    path = Path(source).expanduser()
    if path.is_absolute():
        return Path(os.path.normpath(path)), ""
    where = bases(base_dir)
    found = next((b / path for b in where if _exists(b / path)), None)
    note = f" ({source!r} resolved against {' and '.join(map(str, where))})"
    return Path(os.path.normpath(found if found is not None else where[0] / path)), note


def is_glob(pattern: str) -> bool:
    return any(c in pattern for c in "*?[")


def natural_key(path: Path):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(path))]


def glob_files(pattern: str, base_dir: str | os.PathLike | None) -> tuple[list[Path], list[str]]:
    """The files a glob matches in the first of :func:`bases` where it matches any (an
    absolute pattern ignores them), in natural order (``_2`` before ``_10``), and the
    folders looked in."""
    pattern = os.path.expanduser(pattern)
    where = [str(b) for b in bases(base_dir)]
    for base in where:
        hits = [Path(h) for h in glob.glob(os.path.join(base, pattern)) if os.path.isfile(h)]
        if hits:
            return sorted(hits, key=natural_key), where
    return [], where


def hf_local(ref: str, base_dir: str | os.PathLike | None = None) -> bool:
    """True when an ``hf``/``vllm`` model or an ``hf:`` data id names a local path rather than
    a hub id: it starts with ``/``, ``./``, ``../``, ``~`` or ``.``, or exists next to the
    program or in the current directory."""
    if not ref:
        return False
    if ref.startswith(("/", "~", ".")) or os.sep != "/" and ref.startswith(os.sep):
        return True
    return any(_exists(b / ref) for b in bases(base_dir))


def _gguf_hub(ref: str) -> bool:
    """The hub form of a GGUF file, ``org/repo/file.gguf``."""
    parts = ref.split("/")
    return len(parts) == 3 and all(parts) and ref.lower().endswith(".gguf") and not ref.startswith(("~", "."))


def model_location(spec: dict, base_dir: str | os.PathLike | None,
                   policy: ReadPolicy | None) -> tuple[str | None, bool]:
    """``(what the executor loads, is it local)`` for a model spec. Local model files and
    folders are located like ``load`` sources (the program's folder, then the current
    directory), checked against ``policy`` (AccessDenied) and must exist (ModelFileMissing).
    Other backends: ``(None, False)``."""
    backend, ref = spec.get("backend"), spec.get("ref")
    if backend not in LOCAL_MODEL_BACKENDS or not isinstance(ref, str) or not ref:
        return None, False
    kwargs = spec.get("kwargs") or {}
    full = ref
    if backend == "gguf" and isinstance(kwargs.get("file"), str) and kwargs["file"]:
        full = f"{ref.rstrip('/')}/{kwargs['file']}"
    if backend == "gguf":
        local = not _gguf_hub(full) or any(_exists(b / full) for b in bases(base_dir))
    else:
        local = hf_local(full, base_dir)
    if not local:
        return full, False
    path, note = locate(full, base_dir)
    what = "model file" if backend == "gguf" else "model folder"
    if policy is not None:
        policy.check(path, what)
    if backend == "gguf" and not path.is_file() or backend != "gguf" and not path.exists():
        shown = f"{backend}({full!r})"
        raise ModelFileMissing(f"{what} not found: {path}"
                               + (note.replace(f"{full!r} resolved", f"{shown} resolved") if note else "")
                               + (" (it is a folder)" if path.is_dir() else ""))
    return str(path), True


def api_ref_problem(ref) -> str | None:
    """Why an ``api(...)`` model string is refused, or None. litellm sends some providers'
    requests, with their key, to a URL given in the model string (``huggingface/https://...``):
    an api model names a provider's model, never a host."""
    if isinstance(ref, str) and "://" in ref:
        return (f"api({mask(ref)!r}) names a host: an api model is a provider's model name, sent "
                f"with that provider's key; a server is server(URL, model: \"m\"), which gets a key only "
                f"when --key binds one")
    return None


# ---------------------------------------------------------------------- diagnostics
def span_of(text: str | None) -> A.Span:
    """A span from its ``path:line:col`` text (IR nodes and model specs carry that)."""
    parts = str(text or "").rsplit(":", 2)
    if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
        ln, c = int(parts[1]), int(parts[2])
        return A.Span(parts[0], ln, c, ln, c)
    return A.Span(str(text or "<program>"), 0, 0, 0, 0)


def _source_reads(source, split, attach, base_dir, policy: ReadPolicy, what: str) -> list[tuple[str, Path]]:
    """``(what, real path)`` of everything a load would read (checked: AccessDenied)."""
    out = []
    if isinstance(source, str) and source.startswith("hf:"):
        ds_id = source[3:].partition(":")[0].strip()
        if hf_local(ds_id):  # datasets reads a local path relative to the current directory
            out.append((what, policy.check(locate(ds_id, None)[0], what)))
    elif isinstance(source, str) and source and not source.startswith("builtin:"):
        filled = fill_split(source, split)
        if filled is not None:
            out.append((what, policy.check(locate(filled, base_dir)[0], what)))
    for col, pattern in (attach or {}).items() if isinstance(attach, dict) else ():
        if not isinstance(pattern, str) or not pattern:
            continue
        filled = fill_split(pattern, split)
        if filled is None:
            continue
        label = f"{what} attach {col}"
        if is_glob(filled):
            hits, _ = glob_files(filled, base_dir)
            out += [(label, policy.check(h, label)) for h in hits]
        else:
            out.append((label, policy.check(locate(filled, base_dir)[0], label)))
    return out


def lint_literals(program: A.Program, policy: ReadPolicy) -> list[Diagnostic]:
    """``collab lint``: literal paths and model references (params are not bound here):
    a ``load``/``attach:`` path outside the readable folders (E126), a local model file
    outside them (E126) or missing (E127), an api model string naming a host (E128)."""
    out: list[Diagnostic] = []
    base = policy.program_dir
    for n in program.walk():
        if isinstance(n, A.Call) and n.fname == "load" and n.args:
            src = n.args[0].value if isinstance(n.args[0], A.Str) else None
            split = n.kwarg("split")
            split = split.value if isinstance(split, A.Str) else None
            attach = n.kwarg("attach")
            pairs = {}
            if isinstance(attach, A.DictLit):
                pairs = {str(k): v.value for k, v in zip(attach.keys, attach.values) if isinstance(v, A.Str)}
            try:
                _source_reads(src, split, pairs, base, policy, "load")
            except AccessDenied as exc:
                out.append(error("E126", str(exc), n.args[0].span if src is not None else attach.span))
        elif isinstance(n, A.Model) and len(n.args) == 1 and isinstance(n.args[0], A.Str):
            spec = {"backend": str(n.backend), "ref": n.args[0].value,
                    "kwargs": {str(k.name): k.value.value for k in n.kwargs if isinstance(k.value, A.Str)}}
            out += model_diagnostics(str(n.name), spec, policy, n.args[0].span)
    return out


def model_diagnostics(role: str, spec: dict, policy: ReadPolicy, span: A.Span) -> list[Diagnostic]:
    """E126/E127/E128/E132 for one bound model. On success a local-backend spec gets ``resolved``
    (what the executor and the trainer load: a real path, or the hub id) and ``local``."""
    if spec.get("backend") == "api":
        problem = api_ref_problem(spec.get("ref"))
        return [error("E128", f"model '{role}': {problem}", span)] if problem else []
    try:
        resolved, local = model_location(spec, policy.program_dir, policy)
    except AccessDenied as exc:
        return [error("E126", f"model '{role}': {exc}", span)]
    except ModelFileMissing as exc:
        return [error("E127", f"model '{role}': {exc}", span)]
    if resolved is not None:
        spec["resolved"], spec["local"] = resolved, local
    from collabdsl.modelkind import encoder_problem, known_config

    config = known_config(spec)
    problem = encoder_problem(config, f"{spec['backend']}({spec['ref']!r})") if config else None
    return [error("E132", f"model '{role}': {problem}", span)] if problem else []


def check_graph(G, policy: ReadPolicy, imports=()) -> list[Diagnostic]:
    """After binding: every model's files and every load's files of the IR ``G`` (E126-E128,
    located at the declaration), and ``G.graph["access"]`` filled for the plan and the run
    (``imports``: the module files the linker read, listed as reads)."""
    diags: list[Diagnostic] = []
    reads: list[dict] = [_read("import", _real(m), "", policy) for m in imports]
    for role, spec in (G.graph.get("models") or {}).items():
        if spec.get("derived_from"):
            continue
        got = model_diagnostics(role, spec, policy, span_of(spec.get("span")))
        diags += got
        if not got and spec.get("local"):
            reads.append(_read(f"model {role}", spec["resolved"], spec.get("span"), policy))
        weights = spec.get("weights")  # the local weights a server serves (what its trainings load)
        if weights and not got:
            got = model_diagnostics(role, weights, policy, span_of(spec.get("span")))
            diags += got
            if not got and weights.get("local"):
                reads.append(_read(f"model {role} (weights)", weights["resolved"], spec.get("span"), policy))
    for n, a in G.nodes(data=True):
        if a.get("kind") != "load":
            continue
        o = a.get("options") or {}
        what = f"load {a.get('out') if isinstance(a.get('out'), str) else n}"
        try:
            for label, real in _source_reads(o.get("source"), o.get("split"), o.get("attach"),
                                             policy.program_dir, policy, what):
                reads.append(_read(label, str(real), a.get("span"), policy))
        except AccessDenied as exc:
            diags.append(error("E126", str(exc), span_of(a.get("span"))))
    for n, a in G.nodes(data=True):
        cfg = (a.get("options") or {}).get("accelerate_config") if a.get("kind") == "train" else None
        if not isinstance(cfg, str) or not cfg:
            continue
        try:
            real = train_config_path(cfg, policy)
        except (AccessDenied, FileNotFoundError) as exc:
            diags.append(error("E126" if isinstance(exc, AccessDenied) else "E127", str(exc), span_of(a.get("span"))))
            continue
        a["accelerate_config"] = str(real)  # what the launcher is given (the option keeps the program's text)
        reads.append(_read(f"accelerate config of train {a.get('out') or n}", str(real), a.get("span"), policy))
    G.graph["access"] = {**policy.to_dict(), "reads": reads, "network": network(G.graph.get("models") or {}, G)}
    return diags


def train_config_path(path: str, policy: ReadPolicy | None, base_dir=None) -> Path:
    """The real path of a training's ``accelerate_config`` file, located like a ``load`` source
    (the program's folder, then the current directory) and checked against ``policy``
    (AccessDenied); FileNotFoundError when it is not a file."""
    where = base_dir if base_dir is not None else (policy.program_dir if policy is not None else None)
    located, note = locate(path, where)
    real = Path(_real(located))
    if policy is not None:
        policy.check(real, "accelerate config")
    if not real.is_file():
        raise FileNotFoundError(f"accelerate config not found: {located}{note}"
                                + (" (it is a folder)" if real.is_dir() else ""))
    return real


def _read(what: str, real: str, span, policy: ReadPolicy) -> dict:
    return {"what": what, "path": real, "span": str(span or ""), "allowed_by": policy.root_of(real)}


def link_check(path: Path, policy: ReadPolicy | None, shown: str) -> str | None:
    """The E126 message for an import of ``path``, or None when it may be read."""
    if policy is None:
        return None
    try:
        policy.check(path, f"import {shown}:")
    except AccessDenied as exc:
        return str(exc)
    return None


# ---------------------------------------------------------------------- keys and hosts
def bind_keys(models: dict, keys: dict | None) -> list[Diagnostic]:
    """``--key ROLE=ENV_VAR``: the role's requests carry the value of ``$ENV_VAR``
    (``spec["api_key_env"]``). Only server and api models take a key."""
    out = []
    where = A.Span("--key", 0, 0, 0, 0)
    for role, env in (keys or {}).items():
        spec = models.get(role)
        if spec is None:
            out.append(error("E120", f"--key {role}={env}: no model '{role}' (models: {', '.join(models)})", where))
        elif spec.get("backend") not in ("server", "api"):
            out.append(error("E120", f"--key {role}={env}: model '{role}' is {spec.get('backend')}(...); only "
                             f"server and api models send a key", where))
        elif not ENV_NAME.match(env or ""):
            out.append(error("E120", f"--key {role}={env}: expected the name of an environment variable, "
                             f"e.g. --key {role}=MY_SERVER_KEY", where))
        else:
            spec["api_key_env"] = env
    return out


def check_keys(models: dict, environ) -> list[Diagnostic]:
    """Before a run: a server whose program asks for a key (``api_key_env:``) the user did not
    bind with ``--key``, and a bound variable that is not set."""
    out = []
    for role, spec in models.items():
        if spec.get("derived_from"):
            continue
        asked = (spec.get("kwargs") or {}).get("api_key_env")
        bound = spec.get("api_key_env")
        where = span_of(spec.get("span"))
        if spec.get("backend") == "server" and asked and not bound:
            out.append(error("E120", f"model '{role}' (server {mask(spec.get('ref'))}) asks for the key in "
                             f"${asked}: pass --key {role}={asked} to send it", where))
        if bound and not environ.get(bound):
            out.append(error("E120", f"--key {role}={bound}: ${bound} is not set", A.Span("--key", 0, 0, 0, 0)))
    return out


def network(models: dict, G=None) -> list[dict]:
    """Every host a run may contact, for what, and which key goes there."""
    out = []
    for role, spec in sorted(models.items()):
        if spec.get("derived_from"):
            continue
        backend, ref = spec.get("backend"), spec.get("ref")
        bound = spec.get("api_key_env")
        if backend == "server":
            asked = (spec.get("kwargs") or {}).get("api_key_env")
            key = (f"${bound} (--key {role}={bound})" if bound else
                   f"none: the program asks for ${asked}; the run refuses until --key {role}={asked}"
                   if asked else "none (a placeholder; --key binds one)")
            out.append({"role": role, "to": mask(ref), "for": "server", "key": key})
            w = spec.get("weights") or {}
            if w.get("backend") == "hf" and not w.get("local"):  # the weights its trainings load
                out.append({"role": role, "to": "huggingface.co (hub)", "for": f"download the served weights "
                            f"{mask(w.get('resolved') or w.get('ref'))} to train them, unless cached",
                            "key": "$HF_TOKEN if set (the hub's own token)"})
        elif backend == "api":
            provider = str(ref).split("/", 1)[0] if "/" in str(ref) else "openai (inferred by litellm)"
            env = PROVIDER_KEYS.get(provider.split(" ")[0])
            key = (f"${bound} (--key {role}={bound})" if bound else
                   f"the provider's own key (${env})" if env else "the provider's own key (as litellm reads it)")
            out.append({"role": role, "to": f"provider {provider}", "for": f"api {mask(ref)}", "key": key})
        elif backend in LOCAL_MODEL_BACKENDS and not spec.get("local"):
            out.append({"role": role, "to": "huggingface.co (hub)", "for": f"download {mask(spec.get('resolved') or ref)} unless cached",
                        "key": "$HF_TOKEN if set (the hub's own token)"})
    for _, a in (G.nodes(data=True) if G is not None else ()):
        src = (a.get("options") or {}).get("source") if a.get("kind") == "load" else None
        if isinstance(src, str) and src.startswith("hf:") and not hf_local(src[3:].partition(":")[0].strip()):
            out.append({"role": None, "to": "huggingface.co (hub)", "for": f"data set {mask(src)} unless cached",
                        "key": "$HF_TOKEN if set (the hub's own token)"})
    return out
