"""One process of a launched training: ``accelerate launch ... -m runtime.train_worker SPEC.json``.

``SPEC.json`` (written by :func:`runtime.launch.launch_train`) holds ``objective``, ``base``,
``rows``, ``out_dir`` and the keywords of :func:`runtime.trainer.train`; every process calls
that same function (the data parallel rank and world size come from accelerate's environment),
and only the main process saves the version into ``out_dir`` and writes ``result.json`` (the
``TrainResult``) beside the spec. A process that fails writes ``error.RANK.json`` with its
error in one line, prints its traceback to stderr (the launcher keeps it in its log) and exits 1.
"""
from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path


def one_line(text: str, limit: int = 400) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[:limit - 3] + "..."


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m runtime.train_worker SPEC.json", file=sys.stderr)
        return 2
    spec_path = Path(args[0])
    rank = os.environ.get("RANK", "0")
    try:
        spec = json.loads(spec_path.read_text())
        from runtime.trainer import train

        result = train(spec["objective"], spec["base"], spec["rows"], spec["out_dir"], launcher="accelerate",
                       **spec["kwargs"])
        if result is not None:  # the main process
            (spec_path.parent / "result.json").write_text(json.dumps(result.to_json(), default=str))
        return 0
    except BaseException as exc:  # noqa: BLE001 - reported to the launcher in one line
        message = one_line(f"{type(exc).__name__}: {exc}")
        try:
            (spec_path.parent / f"error.{rank}.json").write_text(json.dumps({"rank": rank, "error": message}))
        finally:
            traceback.print_exc()
        return 1


if __name__ == "__main__":
    sys.exit(main())
