"""``collab sweep``: the command line of a sweep (the runs are made by ``runtime.sweep``).

Light at module level like ``collabdsl.cli`` (typer and the standard library only): the
compiler, rich and the runtime are imported inside the command. Everything given is checked
before anything runs: every ``--grid`` value is parsed by its param's type like ``--set``
(a bad value, an unknown param, a repeated value or param is one line, exit 2) and every
setting is compiled (a setting with errors prints its diagnostics, exit 1).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import typer

GRID_HELP = ("Sweep a param over values: --grid p0=0.4,0.6,0.8 (each value parsed by the param's type, "
             "as --set; a comma inside a str value is written \\,). Repeatable: the sweep runs the product.")
SEEDS_HELP = "The seeds each setting runs with: --seeds 0,1,2 (default 0)."
ABLATIONS_HELP = ("Also run every ablation of the program (each bool param marked `ablation \"LABEL\"`), "
                  "one at a time: flipped from its value in the full setting, the others unchanged.")


def _cli():
    from collabdsl import cli

    return cli


def parse_grid(values: list[str]) -> dict[str, list[str]]:
    """``["p0=0.4,0.6"]`` -> ``{"p0": ["0.4", "0.6"]}`` (texts); exits 2 on bad syntax."""
    fail = _cli()._fail
    out: dict[str, list[str]] = {}
    for raw in values or []:
        name, sep, rest = raw.partition("=")
        name = name.strip()
        if not sep or not name or not name.replace("_", "a").isalnum() or name[0].isdigit():
            fail(f"--grid {raw!r}: expected name=value,value,..., e.g. --grid p0=0.4,0.6,0.8")
        if name in out:
            fail(f"--grid {name}: given twice; list all its values in one --grid {name}=a,b,c")
        items = [v.replace("\\,", ",") for v in re.split(r"(?<!\\),", rest)]
        if any(not v.strip() for v in items):
            fail(f"--grid {raw!r}: an empty value; expected name=value,value,..., e.g. --grid {name}=0.4,0.6")
        if len(set(items)) != len(items):
            fail(f"--grid {name}: a value is given twice ({rest})")
        out[name] = items
    return out


def parse_seeds(text: str | None) -> list[int]:
    fail = _cli()._fail
    if text is None:
        return [0]
    try:
        seeds = [int(s) for s in text.split(",")]
    except ValueError:
        fail(f"--seeds {text!r}: expected integers separated by commas, e.g. --seeds 0,1,2")
    if len(set(seeds)) != len(seeds):
        fail(f"--seeds {text}: a seed is given twice")
    return seeds


def typed_grid(program, grid: dict[str, list[str]], sets: dict, path) -> dict[str, list[tuple[str, object]]]:
    """Each grid value parsed by its param's type and checked against its ``in [...]``
    values; exits 2 with one line at the first problem."""
    from collabdsl import ast as A
    from collabdsl.checks import choice_problem
    from collabdsl.compiler import parse_value
    from collabdsl.masking import mask

    fail = _cli()._fail
    decls = {str(p.name): p for p in program.decls(A.Param)}
    out = {}
    for name, raws in grid.items():
        p = decls.get(name)
        if p is None:
            fail(f"--grid {name}: no param '{name}' in {path} (params: {', '.join(decls) or 'none'})")
        if name in sets:
            fail(f"--grid {name}: also given by --set {name}; a swept param takes its values from --grid only")
        vals = []
        for raw in raws:
            try:
                v = parse_value(raw, str(p.type))
            except ValueError as exc:
                fail(mask(f"--grid {name}={raw}: {exc} (param '{name}' is {p.type}, declared at "
                          f"{p.span.path}:{p.span.line})"))
            problem = choice_problem(p, v)
            if problem:
                fail(mask(f"--grid {name}={raw}: {problem} (declared at {p.span.path}:{p.span.line})"))
            vals.append((raw, v))
        if len({json.dumps(v) for _, v in vals}) != len(vals):
            fail(f"--grid {name}: two values are the same {p.type} ({', '.join(raws)})")
        out[name] = vals
    return out


def compile_settings(program: Path, settings: list, sets: dict, models: dict, profile, allow_read, keys) -> list:
    """[(Setting, graph, sources)]; a setting that does not compile prints its diagnostics and
    exits 1 before anything runs."""
    import os

    from collabdsl.access import check_keys
    from collabdsl.compiler import compile_path

    cli = _cli()
    out, cache = [], {}
    for st in settings:
        raw = tuple(sorted(st.raw.items()))
        if raw not in cache:  # the seeds of one setting share its graph
            r = compile_path(str(program), sets={**sets, **st.raw} or None, models=models or None,
                             profile=profile, allow_read=allow_read or (), keys=keys or None)
            missing = check_keys(r.graph.graph["models"], os.environ) if r.graph is not None else []
            if r.errors or r.graph is None or missing:
                typer.echo(f"collab sweep: setting {st.label(with_seed=False)} does not compile:", err=True)
                cli._print_diagnostics(r.diagnostics + missing, r.sources, err=True)
                typer.echo(f"{program} was not run (no setting of the sweep ran)", err=True)
                raise typer.Exit(1)
            cache[raw] = (r.graph, r.sources)
        G, sources = cache[raw]
        out.append((st, G, sources))
    return out


def ablations_of(result, grid: dict, path) -> dict[str, tuple[str, bool]]:
    """param -> (label, its value in the full setting) of the program's ablation switches."""
    fail = _cli()._fail
    marked = result.graph.graph.get("ablations") or {}
    if not marked:
        fail(f"--ablations: no param of {path} is marked as an ablation (`param no_x: bool = false "
             f"ablation \"w/o X\"`, docs/language.md §3)")
    for p in marked:
        if p in grid:
            fail(f"--grid {p}: '{p}' is an ablation switch; --ablations flips it already")
    return {p: (label, bool(result.params.get(p))) for p, label in marked.items()}


def echo_plan(plans: list) -> None:
    cli = _cli()
    rows = []
    for sp in plans:
        if sp.finished:
            rows.append([sp.label, "finished before: nothing runs", "", "", ""])
            continue
        approx = "" if sp.exact else "~"
        rows.append([sp.label, f"{sp.ops_reused} reused, {sp.ops_new} new",
                     f"{approx}{round(sp.calls_reused):,} reused, at most {approx}{round(sp.calls_new):,} new",
                     f"{sp.trainings_reused} reused, {sp.trainings_new} new",
                     f"{sp.within}" if sp.within else ""])
    typer.echo(cli._table(["setting", "model operations", "model calls", "trainings", "from this sweep"], rows,
                          title="sweep plan"), nl=False)
    new = sum(sp.calls_new for sp in plans if not sp.finished)
    typer.echo(f"new model calls: at most {round(new):,} (a gate may send fewer rows; the call cache may answer "
               "prompts asked before, e.g. a deterministic call under another seed); '~': an estimate of rows or "
               "iterations (collab plan)")
    notes = sorted({n for sp in plans for n in sp.notes})
    for n in notes:
        typer.echo(f"note: {n}")


def echo_summary(summary: dict, fmt: str = "text") -> None:
    from collabdsl.masking import mask_all
    from runtime.sweepsummary import cell_text, method_text

    summary = mask_all(summary)
    if fmt == "json":
        typer.echo(json.dumps(summary, indent=2, sort_keys=True, default=str))
        return
    cli = _cli()
    sw = summary["sweep"] or {}
    typer.echo(f"sweep {sw.get('id')}: {sw.get('program_name')} ({sw.get('program_path')}), status "
               f"{sw.get('status')}; grid {json.dumps(sw.get('grid'))}, seeds {sw.get('seeds')}"
               + (f", ablations {sw.get('ablations')}" if sw.get("ablations") is not None else ""))
    if not summary["tables"]:
        typer.echo("no finished run of this sweep has results yet")
    for t in summary["tables"]:
        title = f"{t['table'] or 'results'}" + (f" (iteration {t['iteration']})" if t["iteration"] is not None else "")
        rows = [[r["label"] + (" (reference)" if r["reference"] else ""),
                 r["system"] + (f" (vs {r['compared_with']})" if r.get("compared_with") else "")]
                + [cell_text(r["cells"][m]) if m in r["cells"] else "" for m in t["metrics"]]
                + ["-".join(str(n) for n in (r["n"][0], r["n"][-1]) if True) if len(r["n"]) > 1
                   else (str(r["n"][0]) if r["n"] else ""), r["seeds"], method_text(r)] for r in t["rows"]]
        typer.echo(cli._table(["setting", "system"] + [f"{m} (95%)" for m in t["metrics"]] + ["rows", "seeds",
                                                                                            "interval"],
                              rows, title=title), nl=False)
    typer.echo(summary["rule"])
    for n in summary["notes"]:
        typer.echo(f"note: {n}")


def _spec_of(grid: dict, seeds: list, ablations: bool, sets: dict, models: dict, profile, limit, allow_read,
             keys: dict) -> dict:
    """Every input of the sweep command that decides what runs (the sweep's key and how
    `collab sweep --resume` runs it again)."""
    return {"grid": grid, "seeds": seeds, "ablations": ablations, "sets": sets, "models": models,
            "profile": profile, "limit": limit, "allow_read": list(allow_read or []), "keys": keys}


def register(app) -> None:
    """Add ``collab sweep`` to the typer app of collabdsl.cli."""
    from collabdsl import cli as C

    @app.command()
    def sweep(
        program: Path | None = typer.Argument(None, help="The program (.collab file).", show_default=False),
        grid: list[str] = typer.Option([], "--grid", help=GRID_HELP, show_default=False),
        seeds: str | None = typer.Option(None, "--seeds", help=SEEDS_HELP, show_default=False),
        ablations: bool = typer.Option(False, "--ablations", help=ABLATIONS_HELP),
        sets: list[str] = typer.Option([], "--set", help=C.SET_HELP, show_default=False),
        profile: str | None = typer.Option(None, "--profile", help=C.PROFILE_HELP, show_default=False),
        models: list[str] = typer.Option([], "--model", help=C.MODEL_HELP, show_default=False),
        limit: int | None = typer.Option(None, "--limit", min=1,
                                         help="Use at most N rows of every loaded data set (a smoke sweep)."),
        store: Path = typer.Option(C.DEFAULT_STORE, "--store", help="The run store (SQLite file)."),
        allow_read: list[str] = typer.Option([], "--allow-read", help=C.ALLOW_HELP, show_default=False),
        keys: list[str] = typer.Option([], "--key", help=C.KEY_HELP, show_default=False),
        threads: int | None = typer.Option(None, "--threads", min=1, show_default=False,
                                           help="Threads of local model work (as collab run)."),
        resume: bool = typer.Option(False, "--resume",
                                    help="Continue the newest unfinished sweep (of PROGRAM, if given) as it "
                                         "was started. Rerunning the same sweep command continues it too."),
        plan_only: bool = typer.Option(False, "--plan", help="Do not run: per setting, what the store holds "
                                                             "already and what is new."),
        show_id: str | None = typer.Option(None, "--show", metavar="SWEEP", show_default=False,
                                           help="Print the summary of a recorded sweep (or 'latest')."),
        format: str = typer.Option("text", "--format", "-f", help="text or json (the summary)."),
    ) -> None:
        """Run a program over a grid of param values x seeds (and its ablations) as one sweep.

        Each setting is an ordinary run in the run store, tagged with the sweep; settings run one
        after the other in this process and share the call cache and every finished operation or
        training whose inputs they share. Rerunning the same command (or `--resume`) continues the
        sweep: finished settings are skipped, an interrupted one resumes. At the end: per setting,
        each result's mean with its 95% interval, and which settings differ from their reference
        (docs/results.md, "Sweeps")."""
        if format not in ("text", "json"):
            C._fail(f"--format {format}: expected text or json")
        if show_id is not None:
            _show(store, show_id, format)
            return
        if resume and (program is None or not (grid or seeds or ablations)):
            program, grid, seeds, ablations, sets, models, profile, limit, allow_read, keys = _from_store(store, program)
        if program is None:
            C._fail("collab sweep: give the program (collab sweep PROGRAM --grid p=a,b --seeds 0,1,2), "
                    "or --resume, or --show SWEEP")
        base, typed, seed_list, abl, items, spec, key = prepare(program, grid, seeds, ablations, sets, profile,
                                                                models, limit, allow_read, keys)
        if plan_only:
            _plan(store, key, items, program, limit)
            return
        _run(store, key, items, program, base, typed, seed_list, abl, spec, limit, threads, format)


def prepare(program: Path, grid: list[str], seeds: str | None, ablations: bool, sets: list[str], profile,
            models: list[str], limit, allow_read: list[str], keys: list[str]):
    """Parse and check everything given, compile every setting (exits on the first problem).
    Returns (base compile result, typed grid, seeds, ablations, items, spec, key)."""
    C = _cli()
    raw_grid, seed_list = parse_grid(grid), parse_seeds(seeds)
    if not raw_grid and not ablations and len(seed_list) < 2:
        C._fail("collab sweep: nothing to sweep: give --grid NAME=a,b, --seeds 0,1,2 or --ablations")
    set_values, model_values = C.parse_sets(sets), C.parse_models(models)
    allow, key_values = C.parse_allow_read(allow_read), C.parse_keys(keys)
    base = C._compile(program, set_values, model_values, profile, allow, key_values)
    typed = typed_grid(base.program, raw_grid, set_values, program)
    abl = ablations_of(base, typed, program) if ablations else None
    if not C._has_module("runtime.sweep"):
        C._fail(C.RUNTIME_MISSING)
    from runtime.sweep import expand, sweep_key

    items = compile_settings(program, expand(typed, seed_list, abl), set_values, model_values, profile,
                             allow, key_values)
    spec = _spec_of(raw_grid, seed_list, ablations, set_values, model_values, profile, limit, allow_read,
                    key_values)
    return base, typed, seed_list, abl, items, spec, sweep_key(str(program), items, spec)


def plan_sweep(program: Path, grid: list[str], seeds: str | None, ablations: bool, sets: list[str], profile,
               models: list[str], allow_read: list[str], keys: list[str], store: Path, limit=None) -> None:
    """``collab plan PROGRAM --grid ...``: the sweep's plan (as ``collab sweep --plan``)."""
    *_, items, _spec, key = prepare(program, grid, seeds, ablations, sets, profile, models, limit, allow_read, keys)
    _plan(store, key, items, program, limit)


def _from_store(store: Path, program: Path | None = None):
    """The command of the newest unfinished sweep (of ``program`` if given), from its record."""
    cli = _cli()
    s = cli._open_store("sweep", store)
    found = None if s is None else next((w for w in s.list_sweeps() if w["status"] != "finished" and (
        program is None or Path(w["program_path"]).resolve() == program.resolve())), None)
    if s is not None:
        s.close()
    if found is None:
        cli._fail(f"collab sweep --resume: no unfinished sweep{f' of {program}' if program else ''} in {store}", 1)
    sp = found.get("spec") or {}
    if not sp.get("resumable", True):
        cli._fail(f"collab sweep --resume: sweep {found['id']} was started with a secret in its command (masked "
                  "in the store): rerun that command to continue it", 1)
    typer.echo(f"continuing sweep {found['id']} ({found['program_path']})", err=True)
    grid = [f"{k}=" + ",".join(v.replace(",", "\\,") for v in vals) for k, vals in (sp.get("grid") or {}).items()]
    return (Path(found["program_path"]), grid, ",".join(str(s) for s in sp.get("seeds") or [0]),
            bool(sp.get("ablations")), [f"{k}={v}" for k, v in (sp.get("sets") or {}).items()],
            [f"{k}={v}" for k, v in (sp.get("models") or {}).items()], sp.get("profile"), sp.get("limit"),
            list(sp.get("allow_read") or []), [f"{k}={v}" for k, v in (sp.get("keys") or {}).items()])


def _finished_indices(store: Path, key: str, items: list) -> set:
    from runtime.sweep import same_setting

    cli = _cli()
    s = cli._open_store("sweep", store)
    if s is None:
        return set()
    try:
        sw = s.find_sweep(key)
        runs = s.sweep_runs(sw["id"]) if sw else []
    finally:
        s.close()
    return {i for i, (st, _, _) in enumerate(items)
            if any(r["status"] == "finished" and same_setting(r.get("setting"), st.record()) for r in runs)}


def _plan(store: Path, key: str, items: list, program: Path, limit) -> None:
    from runtime.sweepplan import plan_settings

    echo_plan(plan_settings(items, store, str(program), limit, _finished_indices(store, key, items)))


def _show(store: Path, sweep_id: str, fmt: str) -> None:
    from runtime.sweepsummary import summarize

    cli = _cli()
    s = cli._open_store("sweep", store)
    if s is None:
        cli._fail(f"collab sweep --show: no run store at {store}", 1)
    try:
        sw = (s.list_sweeps(limit=1) or [None])[0] if sweep_id == "latest" else s.get_sweep(sweep_id)
        if sw is None:
            cli._fail(f"collab sweep --show: no sweep {sweep_id!r} in {store}", 1)
        summary = summarize(s, sw["id"])
    finally:
        s.close()
    echo_summary(summary, fmt)


def _run(store: Path, key, items, program, base, typed, seed_list, abl, spec, limit, threads, fmt) -> None:
    cli = _cli()
    try:
        from runtime.threads import configure  # before anything imports torch

        thread_settings = configure(threads)
        from runtime.allocator import configure as configure_malloc

        configure_malloc()
        from runtime.store import RunStore, StoreError, redact
        from runtime.sweep import open_sweep, run_sweep
    except ImportError as exc:
        cli._fail(f"{cli.RUNTIME_MISSING} ({exc})")
    from rich.console import Console

    console = Console(stderr=True)
    if base.profile is not None:
        console.print(f"profile [bold]{base.profile}[/bold]: {cli.profile_values(base, spec['sets'])}",
                      highlight=False)
    spec = {**spec, "resumable": json.loads(json.dumps(redact(spec), default=str)) == spec}
    try:
        with RunStore(store) as s:
            sw, continued = open_sweep(s, str(program), base.graph.graph.get("name"), key,
                                       {k: [v for _, v in vals] for k, vals in typed.items()}, seed_list,
                                       None if abl is None else [label for label, _ in abl.values()], spec)
    except StoreError as exc:
        cli._fail(f"collab sweep: {cli._one_line(exc)}", 1)
    typer.echo(f"sweep {sw['id']}: {len(items)} runs ({len(items) // len(seed_list)} settings x "
               f"{len(seed_list)} seeds)" + (" - continuing it" if continued else ""), err=True)

    def on_setting(i, n, res):
        what = {"skipped": "finished before, skipped"}.get(res.status, res.status)
        typer.echo(f"[{i + 1}/{n}] {res.setting.label()}: run {res.run_id or '-'} {what}"
                   + (f" in {res.seconds:.1f}s, {res.calls} model calls, {res.cache_hits} cache hits, "
                      f"{res.reused} operations reused" if res.status not in ("skipped", "failed") or res.run_id
                      and res.status != "skipped" else ""), err=True)
        if res.error:
            typer.echo(f"  error: {res.error}", err=True)

    try:
        outcome = run_sweep(store, sw, items, program_path=str(program), limit=limit, console=console,
                            on_setting=on_setting)
    except Exception as exc:  # noqa: BLE001 - the sweep is busy in another process, the store failed
        cli._fail(f"collab sweep: {cli._one_line(exc)}", 1)
    try:
        from runtime.sweepsummary import summarize

        with RunStore(store, readonly=True) as s:
            summary = summarize(s, sw["id"])
    except Exception as exc:  # noqa: BLE001 - the runs are recorded; the summary is made again by --show
        typer.echo(f"collab sweep: the summary could not be made ({type(exc).__name__}: {cli._one_line(exc)}); "
                   f"the runs are recorded: collab sweep --show {sw['id']}", err=True)
        summary = None
    if summary is not None:
        echo_summary(summary, fmt)
    typer.echo(f"sweep {sw['id']}: {outcome.status} in {outcome.seconds:.1f}s; "
               f"{thread_settings.describe()}")
    if outcome.status != "finished":
        typer.echo(f"continue with the same command (or `collab sweep --resume`); details: collab sweep --show "
                   f"{sw['id']}", err=True)
        raise typer.Exit(130 if outcome.status == "interrupted" else 1)
    if summary is None:
        raise typer.Exit(1)


def show_summary(store: Path, sweep_id: str, fmt: str = "text") -> None:
    """``collab show SWEEP``: the summary of a recorded sweep."""
    _show(store, sweep_id, fmt)
