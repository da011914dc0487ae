"""What the benchmark scripts share: the repo root, an offline environment, the JSON output."""

import json
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def offline_env(**extra: str) -> dict:
    """The environment for child processes: never wait on the hub."""
    return {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", **extra}


def write_results(path: Path, results: dict) -> None:
    """The figures to `path` (JSON) and, for a benchmark that has one, their table beside it
    (<path>.md, benchmarks/tables.py)."""
    from tables import write_table

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written: {path}")
    table = write_table(path, results)
    if table:
        print(f"written: {table}")


def write_run(args, results: list) -> None:
    """A benchmark's figures to `args.out`, with its settings (paths relative to the repo)
    and the torch version beside them."""
    import torch

    settings = {k: (os.path.relpath(v, ROOT) if isinstance(v, Path) else v)
                for k, v in vars(args).items()}
    write_results(args.out, {"settings": settings, "torch": torch.__version__, "results": results})


def take_turns(cases: list, rounds: int, steps, warmup: int) -> None:
    """Run `cases` (each with `run(steps)` appending one rate to `case.rates`) in turns:
    `warmup` uncounted steps each, then `rounds` rounds of `steps(case)` steps each, so that a
    slow spell of the machine hits every case alike."""
    for case in cases:
        case.run(warmup)
        case.rates.clear()
    for _ in range(rounds):
        for case in cases:
            case.run(steps(case))
