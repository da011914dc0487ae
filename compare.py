"""Compare runs: python compare.py RUN_OR_SWEEP_DIR [...] [--metric test/psnr] [--out DIR]

Prints a markdown table (swept config values, metrics, status) sorted by --metric, and
writes summary.csv and summary.md into --out (default: the first directory given).
"""

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="+", type=Path, help="run or sweep directories")
    parser.add_argument("--metric", action="append", dest="metrics",
                        help="metric column (repeatable); the first one sorts the table")
    parser.add_argument("--out", type=Path, help="where to write summary.csv / summary.md")
    args = parser.parse_args(argv)

    from aelab.compare import build_table, markdown, write_outputs

    missing = [d for d in args.dirs if not d.is_dir()]
    if missing:
        print(f"error: not a directory: {', '.join(map(str, missing))}", file=sys.stderr)
        return 2
    header, table = build_table(args.dirs, args.metrics)
    if not table:
        print(f"error: no runs (folders with .hydra/config.yaml) under {args.dirs}", file=sys.stderr)
        return 2
    print(markdown(header, table), end="")
    write_outputs(args.out or args.dirs[0], header, table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
