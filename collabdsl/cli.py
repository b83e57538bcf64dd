"""The ``collab`` command line.

Start-up matters (``collab lint`` runs in editors and pre-commit hooks): at module level this
imports only typer and collabdsl's light modules. The compiler (lark) is imported by the
commands that compile; rich, networkx, ``collabdsl.render`` and ``collabdsl.plan`` only
inside the commands that need them. Nothing here imports torch, transformers, trl, vllm or
litellm; ``collab run`` hands over to ``runtime.run`` which loads backends itself.

Exit status: 0 ok; 1 the program has errors (or, with ``lint --strict``, warnings) or a run
failed; 2 usage errors (bad ``--set``/``--model``, a missing tool or runtime component).
"""
import enum
import importlib.util
import sys
from pathlib import Path
from typing import Any, NoReturn

import typer

from collabdsl import __version__
from collabdsl.lintcmd import collab_files, lint_impl, plural, print_diagnostics

RUNTIME_MISSING = ("collab run: the runtime is not available yet in this version; "
                   "use `collab plan` to see what would run")
STORE_MISSING = ("collab {cmd}: the run store is not available in this version "
                 "(it needs the runtime: pip install 'collab[run]')")
DEFAULT_STORE = Path(".collab") / "runs.db"


app = typer.Typer(
    name="collab",
    help="collab: compile, inspect and run collaboration schemes between small and large "
         "language models, written in the .collab language.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
)


class TextOrJson(str, enum.Enum):
    text = "text"
    json = "json"


class ShowFormat(str, enum.Enum):
    text = "text"
    json = "json"
    csv = "csv"


class GraphFormat(str, enum.Enum):
    mermaid = "mermaid"
    dot = "dot"
    json = "json"
    svg = "svg"
    png = "png"


SET_HELP = "Override a param: --set name=value (parsed by the param's type). Repeatable."
PROFILE_HELP = ("Apply the program's profile NAME (a named set of param values, before --set). "
                "Without it the program's default profile applies; `none`: the declared defaults.")
MODEL_HELP = ("Rebind a model role: --model role=KIND:VALUE, KIND one of "
              "embedded, hf, gguf, vllm, api, server, column "
              "(e.g. large=api:openai/gpt-4o-mini, small=hf:HuggingFaceTB/SmolLM2-360M-Instruct, "
              "large=server:http://127.0.0.1:8000/v1#model-name). Repeatable.")
ALLOW_HELP = ("Let the program read this file or folder too (besides its own folder and the current "
              "directory): --allow-read ../shared/data. Repeatable.")
KEY_HELP = ("Send the value of an environment variable as the API key of a server or api model: "
            "--key large=MY_SERVER_KEY. A server model gets no key without it. Repeatable.")


# ------------------------------------------------------------------ helpers
def _fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(code)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"collab {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", "-V", callback=_version_callback, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """collab: a language for small/large LM collaboration schemes.

    Check programs with `collab lint`, draw them with `collab graph`, see what a run would
    cost with `collab plan`, and run them with `collab run`.
    """


def parse_sets(values: list[str]) -> dict:
    """``["n=3", "p0=0.7"]`` -> ``{"n": "3", "p0": "0.7"}``; exits 2 on bad syntax."""
    out = {}
    for raw in values or []:
        name, sep, value = raw.partition("=")
        name = name.strip()
        if not sep or not name or not name.replace("_", "a").isalnum() or name[0].isdigit():
            _fail(f"--set {raw!r}: expected name=value, e.g. --set n_train=200")
        out[name] = value
    return out


def parse_allow_read(values: list[str]) -> list[str]:
    """``--allow-read PATH`` values; exits 2 when one does not exist."""
    import os

    out = []
    for raw in values or []:
        if not raw or not os.path.exists(os.path.expanduser(raw)):
            _fail(f"--allow-read {raw!r}: no such file or folder")
        out.append(os.path.expanduser(raw))
    return out


def parse_keys(values: list[str]) -> dict:
    """``["large=MY_KEY"]`` -> ``{"large": "MY_KEY"}``; exits 2 on bad syntax."""
    from collabdsl.access import ENV_NAME

    out = {}
    for raw in values or []:
        role, sep, env = raw.partition("=")
        role, env = role.strip(), env.strip()
        if not sep or not role or not role.replace("_", "a").isalnum() or role[0].isdigit() \
                or not ENV_NAME.match(env):
            _fail(f"--key {raw!r}: expected role=ENV_VAR (the name of an environment variable, not "
                  f"its value), e.g. --key large=MY_SERVER_KEY")
        out[role] = env
    return out


def parse_models(values: list[str]) -> dict:
    """``["large=api:openai/gpt-4o"]`` -> ``{"large": "api:openai/gpt-4o"}``; exits 2 on bad syntax."""
    from collabdsl.masking import mask
    from collabdsl.vocab import REF_KINDS

    out = {}
    for raw in values or []:
        role, sep, ref = raw.partition("=")
        role = role.strip()
        kind, colon, value = ref.partition(":")
        shown = mask(raw)
        if not sep or not role or not role.replace("_", "a").isalnum() or role[0].isdigit():
            _fail(f"--model {shown!r}: expected role=KIND:VALUE, e.g. --model large=api:openai/gpt-4o-mini")
        if not colon or kind not in REF_KINDS or not value:
            _fail(f"--model {shown!r}: expected role=KIND:VALUE with KIND one of {', '.join(REF_KINDS)}, "
                  f"e.g. --model {role}=hf:HuggingFaceTB/SmolLM2-360M-Instruct")
        out[role] = ref
    return out


def _print_diagnostics(diags, sources: dict, err: bool) -> tuple[int, int]:
    return print_diagnostics(diags, sources, err)


def _plural(n: int, word: str) -> str:
    return plural(n, word)


def _compile(path: Path, sets: dict, models: dict, profile: str | None = None,
             allow_read: list | None = None, keys: dict | None = None):
    """Compile or exit 1 with the diagnostics (on stderr); warnings go to stderr too."""
    from collabdsl.compiler import compile_path

    result = compile_path(str(path), sets=sets or None, models=models or None, profile=profile,
                          allow_read=allow_read or (), keys=keys or None)
    errors, _ = _print_diagnostics(result.diagnostics, result.sources, err=True)
    if errors or result.graph is None:
        if not errors:
            typer.echo(f"{path}: could not be compiled", err=True)
        typer.echo(f"{_plural(errors, 'error')}: {path} was not compiled", err=True)
        raise typer.Exit(1)
    return result


def _collab_files(paths: list[Path]) -> list[str]:
    try:
        return collab_files(paths)
    except ValueError as exc:
        _fail(str(exc))


# ------------------------------------------------------------------ lint
@app.command()
def lint(
    paths: list[Path] = typer.Argument(..., help="Programs (.collab files) or folders to search for them.",
                                       show_default=False),
    format: TextOrJson = typer.Option(TextOrJson.text, "--format", "-f",
                                      help="text: diagnostics with source lines and carets; "
                                           "json: a list of diagnostic objects."),
    strict: bool = typer.Option(False, "--strict", help="Fail (exit 1) on warnings too."),
    allow_read: list[str] = typer.Option([], "--allow-read", help=ALLOW_HELP, show_default=False),
) -> None:
    """Check programs without running them.

    Reports syntax errors, undefined names, types, prompt slots, models, training objectives
    and thresholds, with the source line and a caret. Exit 1 if there are errors (or
    warnings with --strict), 0 otherwise."""
    code = lint_impl(paths, format.value, strict, parse_allow_read(allow_read))
    if code:
        raise typer.Exit(code)


# ------------------------------------------------------------------ graph
@app.command()
def graph(
    path: Path = typer.Argument(..., help="The program (.collab file).", show_default=False),
    format: GraphFormat = typer.Option(GraphFormat.mermaid, "--format", "-f",
                                       help="mermaid | dot (Graphviz source) | json (node-link) | "
                                            "svg | png (these two run Graphviz 'dot' and need -o)."),
    output: Path | None = typer.Option(None, "--output", "-o",
                                          help="Write to this file instead of standard output."),
    sets: list[str] = typer.Option([], "--set", help=SET_HELP, show_default=False),
    profile: str | None = typer.Option(None, "--profile", help=PROFILE_HELP, show_default=False),
    models: list[str] = typer.Option([], "--model", help=MODEL_HELP, show_default=False),
    allow_read: list[str] = typer.Option([], "--allow-read", help=ALLOW_HELP, show_default=False),
) -> None:
    """Draw a program's operation graph (mermaid, dot, json, svg, png).

    Loops are boxes titled "repeat N ×", gates are diamonds, training steps are double boxes
    with dashed edges to the operations that use the model versions they make."""
    fmt = format.value
    set_values, model_values = parse_sets(sets), parse_models(models)
    if fmt in ("svg", "png"):
        if output is None:
            _fail(f"--format {fmt} writes an image: give the file with -o FILE.{fmt}")
        import shutil

        from collabdsl.render import DOT_NOT_FOUND
        if shutil.which("dot") is None:
            _fail(DOT_NOT_FOUND)
    result = _compile(path, set_values, model_values, profile, parse_allow_read(allow_read))
    from collabdsl import render

    if fmt in ("svg", "png"):
        try:
            render.render_image(result.graph, fmt, output)
        except render.DotNotFound:
            _fail(render.DOT_NOT_FOUND)
        except render.DotFailed as exc:
            _fail(str(exc), 1)
        typer.echo(f"wrote {output}", err=True)
        return
    text = render.render(result.graph, fmt)
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {output}", err=True)


# ------------------------------------------------------------------ plan
@app.command()
def plan(
    path: Path = typer.Argument(..., help="The program (.collab file).", show_default=False),
    sets: list[str] = typer.Option([], "--set", help=SET_HELP, show_default=False),
    profile: str | None = typer.Option(None, "--profile", help=PROFILE_HELP, show_default=False),
    models: list[str] = typer.Option([], "--model", help=MODEL_HELP, show_default=False),
    format: TextOrJson = typer.Option(TextOrJson.text, "--format", "-f", help="text (a table) or json."),
    all_nodes: bool = typer.Option(False, "--all", help="Also list compute nodes (pure row expressions) "
                                                        "in the text table."),
    allow_read: list[str] = typer.Option([], "--allow-read", help=ALLOW_HELP, show_default=False),
    keys: list[str] = typer.Option([], "--key", help=KEY_HELP, show_default=False),
    grid: list[str] = typer.Option([], "--grid", show_default=False,
                                   help="Plan a sweep (collab sweep --plan): --grid p0=0.4,0.6. Repeatable."),
    seeds: str | None = typer.Option(None, "--seeds", show_default=False, help="A sweep's seeds: --seeds 0,1,2."),
    ablations: bool = typer.Option(False, "--ablations", help="Plan a sweep of the program's ablations."),
    store: Path = typer.Option(DEFAULT_STORE, "--store", help="The run store a sweep's plan looks into."),
) -> None:
    """Show what a run would do and cost, without running it.

    Every operation in run order with its model, estimated rows, model calls, tokens and API
    cost (litellm's price table, read offline), training examples and steps, and the totals;
    then every file it reads, every host it contacts and the key sent there. '~' marks
    estimates. With --grid, --seeds or --ablations: per setting of that sweep, the operations and
    trainings the run store holds already and the new ones (collab sweep --plan)."""
    if grid or seeds or ablations:
        from collabdsl.sweepcmd import plan_sweep

        plan_sweep(path, grid, seeds, ablations, sets, profile, models, allow_read, keys, store)
        return
    set_values, model_values = parse_sets(sets), parse_models(models)
    result = _compile(path, set_values, model_values, profile, parse_allow_read(allow_read), parse_keys(keys))
    if result.profile is not None:
        typer.echo(f"profile {result.profile}{' (the default)' if profile is None else ''}: "
                   f"{profile_values(result, set_values)}", err=True)
    from collabdsl.plan import plan as make_plan
    from collabdsl.plan import render_text

    p = make_plan(result.graph)
    if format == TextOrJson.json:
        typer.echo(p.to_json(), nl=False)
    else:
        import shutil

        tty = sys.stdout.isatty()
        width = max(shutil.get_terminal_size((200, 24)).columns, 120) if tty else 200
        typer.echo(render_text(p, width=width, color=tty, all_nodes=all_nodes), nl=False)


# ------------------------------------------------------------------ run
def _has_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


@app.command()
def run(
    program: Path = typer.Argument(..., help="The program (.collab file).", show_default=False),
    sets: list[str] = typer.Option([], "--set", help=SET_HELP, show_default=False),
    profile: str | None = typer.Option(None, "--profile", help=PROFILE_HELP, show_default=False),
    models: list[str] = typer.Option([], "--model", help=MODEL_HELP, show_default=False),
    resume: bool = typer.Option(False, "--resume",
                                help="Continue the latest unfinished run of this program: finished "
                                     "operations and committed rows are reused."),
    limit: int | None = typer.Option(None, "--limit", min=1,
                                        help="Use at most N rows of every loaded data set (a smoke run)."),
    store: Path = typer.Option(DEFAULT_STORE, "--store", help="The run store (SQLite file)."),
    seed: int = typer.Option(0, "--seed", help="Seed of sampling and training (same seed, same outputs)."),
    allow_read: list[str] = typer.Option([], "--allow-read", help=ALLOW_HELP, show_default=False),
    keys: list[str] = typer.Option([], "--key", help=KEY_HELP, show_default=False),
    threads: int | None = typer.Option(None, "--threads", min=1,
                                       help="Threads of local model work (torch's OpenMP team); default: "
                                            "OMP_NUM_THREADS if set, else one per core. Idle threads sleep "
                                            "(OMP_WAIT_POLICY=PASSIVE) unless OMP_WAIT_POLICY is set.",
                                       show_default=False),
    dtype: str | None = typer.Option(None, "--dtype",
                                     help="Precision of every transformers model role (embedded, hf, gguf) "
                                          "that sets no dtype: auto (bf16 where the device computes it "
                                          "natively, else fp32), bf16 or fp32. Recorded with the run; part "
                                          "of the cache keys.", show_default=False),
    launcher: str | None = typer.Option(None, "--launcher",
                                        help="How every training that sets no launcher runs: accelerate (an "
                                             "`accelerate launch` subprocess) or none (in process).",
                                        show_default=False),
    processes: int | None = typer.Option(None, "--processes",
                                         help="Training processes (data parallel ranks) of every launched "
                                              "training that sets none; needs a launcher.", show_default=False),
    accelerate_config: Path | None = typer.Option(None, "--accelerate-config",
                                                  help="accelerate config file (DDP, FSDP, DeepSpeed) of every "
                                                       "launched training that sets none.", show_default=False),
    track: str | None = typer.Option(None, "--track", show_default=False,
                                     help="When the run ends, export it to this tracker: mlflow (as "
                                          "`collab export RUN --to mlflow`; off by default)."),
    track_dir: Path = typer.Option(Path("mlruns"), "--track-dir", help="The tracker's folder (--track)."),
) -> None:
    """Compile and run a program.

    Results, model versions and every row are recorded in the run store (see `collab runs`
    and `collab show`); an interrupted run continues with --resume. The program reads only
    its own folder and the current directory (more with --allow-read), and a server model
    gets an API key only through --key."""
    set_values, model_values = parse_sets(sets), parse_models(models)
    if track is not None and track != "mlflow":
        _fail(f"--track {track!r}: expected mlflow", 2)
    if track is not None and not _has_module("mlflow"):
        _fail("--track mlflow: MLflow is not installed: pip install 'collab[track]'", 2)
    result = _compile(program, set_values, model_values, profile, parse_allow_read(allow_read), parse_keys(keys))
    import os

    from collabdsl.access import check_keys

    if dtype is not None:
        _default_dtype(result.graph.graph["models"], dtype)
    if launcher is not None or processes is not None or accelerate_config is not None:
        _default_launch(result.graph, launcher, processes, accelerate_config)
    missing = check_keys(result.graph.graph["models"], os.environ)
    if missing:
        errors, _ = _print_diagnostics(missing, result.sources, err=True)
        typer.echo(f"{_plural(errors, 'error')}: {program} was not run", err=True)
        raise typer.Exit(1)
    if not _has_module("runtime.run"):
        _fail(RUNTIME_MISSING)
    try:
        from runtime.threads import configure  # type: ignore[import-not-found]

        thread_settings = configure(threads)  # before anything imports torch
        from runtime.allocator import configure as configure_malloc  # type: ignore[import-not-found]

        malloc_settings = configure_malloc()  # before the compute thread's first allocation
        from runtime.run import run_graph  # type: ignore[import-not-found]
    except ImportError as exc:
        _fail(f"{RUNTIME_MISSING} ({exc})")
    from rich.console import Console

    console = Console(stderr=True)
    if result.profile is not None:
        applied = profile_values(result, set_values)
        console.print(f"profile [bold]{result.profile}[/bold]"
                      f"{' (the default)' if profile is None else ''}: {applied}"
                      + ("; `--profile none` runs the declared defaults" if profile is None else ""),
                      highlight=False)
    try:
        outcome = run_graph(result.graph, program_path=str(program), sources=result.sources,
                            store_path=str(store), resume=resume, limit=limit, seed=seed, console=console)
    except KeyboardInterrupt:
        typer.echo("interrupted: continue with `collab run --resume`", err=True)
        raise typer.Exit(130)
    except Exception as exc:  # noqa: BLE001 - the store cannot be used, the run is busy: one line
        _fail(f"collab run: {_one_line(exc)}", 1)
    _print_outcome(outcome)
    typer.echo(f"{thread_settings.describe()}; {malloc_settings}")
    if track is not None and getattr(outcome, "run_id", None):
        _track_run(store, outcome.run_id, track_dir)
    if outcome.status == "interrupted":
        raise typer.Exit(130)
    if outcome.status != "finished":
        raise typer.Exit(1)


def _default_dtype(models: dict, dtype: str) -> None:
    """``--dtype``: the dtype option of every transformers role that sets none."""
    from collabdsl.options import DTYPES, TRANSFORMERS_BACKENDS

    name = DTYPES.get(dtype.lower())
    if name is None:
        _fail(f"--dtype {dtype!r}: expected one of {', '.join(sorted(DTYPES))}", 2)
    for spec in models.values():
        if spec.get("backend") in TRANSFORMERS_BACKENDS:
            options = spec.setdefault("options", {})
            options.setdefault("dtype", name)


def _default_launch(G, launcher: str | None, processes: int | None, config: Path | None) -> None:
    """``--launcher``, ``--processes``, ``--accelerate-config``: the launch options of every
    training that does not set them (a value the program sets wins, as with --dtype). Bad values
    exit 2; the config file must exist (the user named it: it is allowed to be read, and listed
    among the run's reads)."""
    import os

    from collabdsl.options import TRAIN_OPTIONS

    given = {"launcher": launcher, "processes": processes}
    for name, value in given.items():
        problem = TRAIN_OPTIONS[name].problem(value)
        if problem:
            _fail(f"--{name} {value}: {problem}", 2)
    if (processes or 1) > 1 and launcher in (None, "none") or config is not None and launcher in (None, "none"):
        _fail(f"--{'processes' if (processes or 1) > 1 else 'accelerate-config'} needs --launcher accelerate", 2)
    real = None
    if config is not None:
        real = os.path.realpath(os.path.expanduser(str(config)))
        if not os.path.isfile(real):
            _fail(f"--accelerate-config {config}: no such file", 2)
    values = {"launcher": launcher, "processes": processes, "accelerate_config": real}
    for n, a in G.nodes(data=True):
        if a.get("kind") != "train":
            continue
        o = a.setdefault("options", {})
        for name, value in values.items():
            if value is not None and o.get(name) is None:
                o[name] = value
                if name == "accelerate_config":
                    a["accelerate_config"], a["accelerate_config_from"] = value, "--accelerate-config"
                    G.graph.setdefault("access", {}).setdefault("reads", []).append(
                        {"what": f"accelerate config of train {a.get('out') or n}", "path": value,
                         "span": "--accelerate-config", "allowed_by": "--accelerate-config"})


def profile_values(result, sets: dict | None = None) -> str:
    """``n_train=32, weak_max_tokens=96``: the values the applied profile sets; one that
    --set overrides is shown with the value that wins, marked ``(--set)``."""
    from collabdsl import ast as A

    prof = next(p for p in result.program.body if isinstance(p, A.Profile) and str(p.name) == result.profile)
    return ", ".join(f"{ps.name}={result.params.get(str(ps.name))!r}"
                     + (" (--set)" if str(ps.name) in (sets or {}) else "") for ps in prof.sets)


def _print_outcome(outcome: Any) -> None:
    status = getattr(outcome, "status", "?")
    line = f"run {getattr(outcome, 'run_id', '?')}: {status} in {getattr(outcome, 'seconds', 0.0):.1f}s"
    typer.echo(line)
    if getattr(outcome, "error", None):
        from collabdsl.masking import mask

        typer.echo(f"error: {mask(outcome.error)}", err=True)
    if getattr(outcome, "restarted", None):
        stats = getattr(outcome, "stats", None) or {}
        typer.echo("started afresh (their inputs changed since the run was interrupted): " + ", ".join(
            f"{k} ({stats[k].label})" if k in stats else k for k in outcome.restarted), err=True)
    results = [r for r in (getattr(outcome, "results", None) or []) if isinstance(r, dict)]
    _echo_results(results, table_key="table")
    if hasattr(outcome, "stats"):
        from runtime.report import node_rows, totals_lines

        cols, rows = node_rows(outcome.stats)
        typer.echo(_table(cols, rows, title="operations"), nl=False)
        for line in totals_lines(outcome):
            typer.echo(line)
    _echo_warnings(getattr(outcome, "warnings", None) or [])
    if status in ("failed", "interrupted"):
        typer.echo("continue with `collab run --resume`", err=True)
    typer.echo(f"details: collab show {getattr(outcome, 'run_id', 'latest')}", err=True)


def _echo_warnings(warnings: list[dict]) -> None:
    """What the run noticed without stopping (run store table ``warnings``), one line each."""
    from runtime.report import warning_line

    for w in warnings:
        typer.echo(warning_line(w))


def _echo_results(results: list[dict], table_key: str) -> None:
    """Result rows {table, iteration, system, n?, metric: value...} as one table per
    (table, iteration)."""
    fixed = (table_key, "table_name", "table", "iteration", "system", "n")
    tables: dict = {}
    for row in results:
        tables.setdefault((row.get(table_key), row.get("iteration")), []).append(row)
    for (name, iteration), rows in tables.items():
        metrics: list[str] = []
        for row in rows:
            metrics += [k for k in row if k not in fixed and k not in metrics]
        has_n = any(row.get("n") is not None for row in rows)
        cols = ["system"] + metrics + (["n"] if has_n else [])
        title = f"{name or 'results'}" + (f" (iteration {iteration})" if iteration is not None else "")
        typer.echo(_table(cols, [[row.get("system")] + [_fmt_num(row.get(m)) for m in metrics] +
                                 ([_fmt_num(row.get("n"))] if has_n else []) for row in rows], title=title),
                   nl=False)


# ------------------------------------------------------------------ runs / show
def _one_line(exc: BaseException) -> str:
    return " ".join(line.strip() for line in str(exc).splitlines() if line.strip()) or type(exc).__name__


def _open_store(cmd: str, store: Path):
    """The store opened read-only; None when there is no file; exit 1 with one line when
    it cannot be read (a folder, not SQLite, damaged)."""
    if not _has_module("runtime.store"):
        _fail(STORE_MISSING.format(cmd=cmd))
    try:
        from runtime.store import RunStore, StoreError  # type: ignore[import-not-found]
    except ImportError:
        _fail(STORE_MISSING.format(cmd=cmd))
    if not store.exists():
        return None
    try:
        return RunStore(store, readonly=True)
    except StoreError as exc:
        _fail(f"collab {cmd}: {_one_line(exc)}", 1)


def _table(columns: list[str], rows: list[list[Any]], title: str | None = None) -> str:
    import io

    from rich.console import Console
    from rich.table import Table

    buf = io.StringIO()
    tty = sys.stdout.isatty()
    console = Console(file=buf, width=160, force_terminal=tty, no_color=not tty, highlight=False)
    from rich.text import Text

    t = Table(*columns, title=Text(title) if title else None, box=None, header_style="bold", pad_edge=False,
              title_justify="left")
    for r in rows:
        t.add_row(*[Text("" if v is None else str(v)) for v in r])
    console.print(t)
    return buf.getvalue()


def _fmt_num(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):  # 12,345.6 MB or seconds: whole, never 1.235e+04
        return f"{v:.0f}" if abs(v) >= 1000 else f"{v:.4g}"
    return str(v)


@app.command()
def runs(
    store: Path = typer.Option(DEFAULT_STORE, "--store", help="The run store (SQLite file)."),
    limit: int = typer.Option(20, "--limit", "-n", min=1, help="Show the N newest runs."),
    format: TextOrJson = typer.Option(TextOrJson.text, "--format", "-f", help="text or json."),
) -> None:
    """List recorded runs, newest first."""
    from collabdsl.masking import mask_all

    s = _open_store("runs", store)
    items = [] if s is None else mask_all(s.list_runs(limit=limit))
    if s is not None:
        s.close()
    if format == TextOrJson.json:
        import json

        typer.echo(json.dumps(items, indent=2, sort_keys=True, default=str))
        return
    if not items:
        typer.echo(f"no runs yet in {store}")
        return
    rows = [[r.get("id"), r.get("program_name"), r.get("status"), r.get("started"), r.get("finished"),
             r.get("program_path")] for r in items]
    typer.echo(_table(["run", "program", "status", "started", "finished", "path"], rows), nl=False)


@app.command()
def show(
    run_id: str = typer.Argument(..., metavar="RUN", help="A run id from `collab runs`, or 'latest'.",
                                 show_default=False),
    store: Path = typer.Option(DEFAULT_STORE, "--store", help="The run store (SQLite file)."),
    format: ShowFormat = typer.Option(ShowFormat.text, "--format", "-f",
                                      help="text, json or csv (csv needs --table)."),
    table: str | None = typer.Option(None, "--table", "-t", show_default=False,
                                     help="Print only this table: run, nodes, metrics, trainings, warnings, "
                                          "a result table by its eval's name (or results:NAME), "
                                          "rows:NODE (a node's output rows)."),
) -> None:
    """Show one recorded run.

    Its params and model bindings, every operation with its counters (calls, tokens, cost,
    cache hits, parse failures), its result tables, its trainings (examples kept and dropped
    per task) and its warnings. `--table NAME` prints one table (`--format csv` or `json`
    for other tools); an unknown NAME lists the run's tables."""
    if format == ShowFormat.csv and table is None:
        _fail("collab show: --format csv prints one table: add --table NAME (e.g. --table results)", 2)
    if run_id.startswith("sweep-"):  # a sweep id: the sweep's summary (collab sweep --show)
        from collabdsl.sweepcmd import show_summary

        show_summary(store, run_id, "json" if format.value == "json" else "text")
        return
    s = _open_store("show", store)
    if s is None:
        _fail(f"collab show: no run store at {store} (see `collab runs --store FILE`)", 1)
    r = None
    if s is not None:
        if run_id == "latest":
            latest = s.list_runs(limit=1)
            r = latest[0] if latest else None
        else:
            r = s.get_run(run_id)
    if r is None:
        _fail(f"collab show: no run {run_id!r} in {store} (see `collab runs`)", 1)
    if table is not None:
        _show_table(s, r["id"], table, format)
        return
    from collabdsl.masking import mask_all

    r, nodes, results = mask_all(r), mask_all(s.list_nodes(r["id"])), mask_all(s.results_table(r["id"]))
    warnings, trainings = mask_all(s.list_warnings(r["id"])), mask_all(s.list_trainings(r["id"]))
    s.close()
    if format == ShowFormat.json:
        import json

        typer.echo(json.dumps({"run": r, "nodes": nodes, "results": results, "trainings": trainings,
                               "warnings": warnings}, indent=2, sort_keys=True, default=str))
        return
    lines = [f"run {r['id']}: {r.get('program_name')} ({r.get('program_path')})",
             f"status {r.get('status')}, started {r.get('started')}, finished {r.get('finished') or '-'}"]
    if r.get("error"):
        lines.append(f"error: {r['error']}")
    if r.get("params"):
        lines.append("params: " + ", ".join(f"{k}={v}" for k, v in sorted(r["params"].items())))
    if r.get("settings"):
        lines.append("settings: " + ", ".join(f"--{k} {v}" for k, v in sorted(r["settings"].items())
                                             if v is not None and k != "precision"))
        if r["settings"].get("precision"):
            lines.append("precision: " + ", ".join(f"{k}={v}" for k, v in sorted(r["settings"]["precision"].items())))
    if r.get("bindings"):
        from collabdsl.plan import safe_ref

        lines.append("models: " + ", ".join(
            f"{k}={safe_ref(v.get('backend'))}:{safe_ref(v.get('ref'))}" if isinstance(v, dict)
            else f"{k}={safe_ref(v)}" for k, v in sorted(r["bindings"].items())))
    typer.echo("\n".join(lines))
    if nodes:
        cols = ["node", "kind", "status", "seconds", "calls", "prompt_tokens", "completion_tokens", "cost",
                "cache_hits", "retries", "parse_failures", "peak_mb"]
        typer.echo(_table(cols, [[n.get("node_id"), n.get("kind"), n.get("status")] +
                                 [_fmt_num(n.get(c)) for c in cols[3:]] for n in nodes],
                          title="operations"), nl=False)
    _echo_results(results, table_key="table_name")
    if trainings:
        from runtime.report import training_line

        for t in trainings:
            typer.echo(training_line({**(t.get("info") or {}), **t}))
    _echo_warnings(warnings)


class Tracker(str, enum.Enum):
    mlflow = "mlflow"


@app.command()
def export(
    ref: str = typer.Argument(..., metavar="RUN|SWEEP", show_default=False,
                              help="A run id (or 'latest') or a sweep id from the run store."),
    to: Tracker = typer.Option(..., "--to", help="The tracker: mlflow (local, offline)."),
    folder: Path = typer.Option(Path("mlruns"), "--dir",
                                help="The tracker's folder: MLflow's SQLite backend DIR/mlflow.db, "
                                     "artifacts in DIR/artifacts."),
    experiment: str | None = typer.Option(None, "--experiment", show_default=False,
                                          help="The MLflow experiment (default: collab/PROGRAM_NAME)."),
    store: Path = typer.Option(DEFAULT_STORE, "--store", help="The run store (SQLite file)."),
) -> None:
    """Export a recorded run, or a sweep's runs, to an experiment tracker.

    Params, settings, model bindings (masked), every eval metric, each node's counters,
    training losses and the program file; a sweep becomes a parent MLflow run with one
    child per run. Needs the `track` extra (pip install 'collab[track]'). Nothing leaves
    the machine: MLflow writes to DIR."""
    s = _open_store("export", store)
    if s is None:
        _fail(f"collab export: no run store at {store} (see `collab runs --store FILE`)", 1)
    if not _has_module("mlflow"):
        s.close()
        _fail("collab export: MLflow is not installed: pip install 'collab[track]'", 2)
    from runtime.track import ExportError, export_mlflow  # type: ignore[import-not-found]

    try:
        lines = export_mlflow(s, ref, folder, experiment)
    except ExportError as exc:
        _fail(f"collab export: {_one_line(exc)}", 1)
    finally:
        s.close()
    for line in lines:
        typer.echo(line)


@app.command("datasette-metadata")
def datasette_metadata(
    store: Path = typer.Option(DEFAULT_STORE, "--store",
                               help="The run store Datasette will serve (only its file name counts: "
                                    "Datasette names the database after it)."),
) -> None:
    """Print Datasette metadata for the run store: every table's and column's description
    and the canned query `results`. Use: `collab datasette-metadata > metadata.json`, then
    `datasette .collab/runs.db --metadata metadata.json` (docs/runtime.md)."""
    if not _has_module("runtime.store"):
        _fail(STORE_MISSING.format(cmd="datasette-metadata"))
    import json

    from runtime.store import datasette_metadata as make  # type: ignore[import-not-found]

    typer.echo(json.dumps(make(store.stem), indent=2))


def _track_run(store: Path, run_id: str, folder: Path) -> None:
    """``collab run --track mlflow``: export the run that just ended; exit 1 when that fails
    (the run itself is recorded either way: `collab export` can try again)."""
    from runtime.store import RunStore, StoreError  # type: ignore[import-not-found]
    from runtime.track import ExportError, export_mlflow  # type: ignore[import-not-found]

    try:
        with RunStore(store, readonly=True) as s:
            lines = export_mlflow(s, run_id, folder)
    except (ExportError, StoreError) as exc:
        _fail(f"--track mlflow: {_one_line(exc)} (the run is recorded: `collab export {run_id} --to mlflow`)", 1)
    for line in lines:
        typer.echo(line, err=True)


def _show_table(s, run_id: str, name: str, format: ShowFormat) -> None:
    """``collab show RUN --table NAME``: one table of the run (runtime.tables), masked."""
    from runtime.tables import STORE_TABLES, UnknownTable, cell, columns, read_table, result_table_names, to_csv

    try:
        rows = read_table(s, run_id, name)
        if name in STORE_TABLES and name in result_table_names(s, run_id):
            typer.echo(f"note: {name!r} is the store's table; the result table of that name is "
                       f"--table results:{name}", err=True)
    except UnknownTable as exc:
        _fail(f"collab show: {exc}", 1)
    finally:
        s.close()
    if format == ShowFormat.csv:
        typer.echo(to_csv(rows), nl=False)
    elif format == ShowFormat.json:
        import json

        typer.echo(json.dumps(rows, indent=2, sort_keys=True, default=str))
    else:
        cols = columns(rows)
        typer.echo(_table(cols, [[_fmt_num(cell(r.get(c))) for c in cols] for r in rows], title=name), nl=False)


# ------------------------------------------------------------------ report
@app.command()
def report(
    target: str = typer.Argument(..., metavar="RUN|SWEEP", show_default=False,
                                 help="A run id or a sweep id (`collab runs`), or 'latest' (the newest run)."),
    store: Path = typer.Option(DEFAULT_STORE, "--store", help="The run store (SQLite file)."),
    out: Path | None = typer.Option(None, "--out", "-o", show_default=False,
                                    help="The HTML file to write (default report-ID.html); its figures "
                                         "also go to NAME_files/ beside it."),
    large: str | None = typer.Option(None, "--large", show_default=False,
                                     help="The role whose calls are the large-model calls of the "
                                          "accuracy/calls plot (default: large, strong or teacher)."),
) -> None:
    """Write a run's or a sweep's report: one self-contained HTML file.

    Result tables, a metric per loop iteration, metrics against swept params (mean and 95%
    interval over seeds), accuracy against large-model calls, training loss curves, calls,
    tokens, time and cost per operation, and the program's graph; figures inline (no network
    needed) and as PNG files in NAME_files/. Needs matplotlib: pip install 'collab[report]'."""
    if not _has_module("runtime.htmlreport"):
        _fail(STORE_MISSING.format(cmd="report"))
    if not _has_module("matplotlib"):
        _fail("collab report: needs matplotlib: pip install 'collab[report]'")
    from runtime.htmlreport import ReportError, make_report  # type: ignore[import-not-found]

    try:
        page = make_report(store, target, out, large)
    except ReportError as exc:
        _fail(f"collab report: {_one_line(exc)}", 1)
    typer.echo(f"wrote {page.out}" + (f" and {len(page.pngs)} figure(s) in {page.files_dir}" if page.pngs else ""))


# ------------------------------------------------------------------ sweep (collabdsl.sweepcmd)
from collabdsl.sweepcmd import register as _register_sweep  # noqa: E402 - light: typer and the stdlib

_register_sweep(app)


if __name__ == "__main__":
    app(prog_name="collab")
