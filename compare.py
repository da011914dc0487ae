"""Compare runs: python compare.py RUN_OR_SWEEP_DIR [...] [--metric test/psnr] [--by KEY] [--out DIR]
[--rows KEY ... --cols KEY [--baseline KEY=VALUE]]; or a study's tables:
python compare.py --study experiments/STUDY [--out-root OUT] [--results DIR] [--table NAME]

Prints a markdown table (swept config values, metrics, status) sorted by --metric, and
writes summary.csv, summary.md, one PNG per --by key (default: every swept key) of the
first metric against it, and learning curves from the TensorBoard events (--curve TAG;
default: val/loss and the validation twin of the first metric) into --out (default: the
first directory given). With --rows and --cols, also a pivot table of each --metric
(pivot_<metric>.md / .csv): e.g. models by code size, each beside a baseline row.

With --study, every table declared in the study's study.yaml (aelab.study: its run roots
under OUT, default outputs/experiments/STUDY; its tables, each a compare.py table as above or
a flat table of chosen columns, overrides and eval.py's metrics) is regenerated from the run
dirs into the study's results/.
"""

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="*", type=Path, help="run or sweep directories")
    parser.add_argument("--study", type=Path,
                        help="a study folder (or its study.yaml): regenerate its tables")
    parser.add_argument("--out-root", type=Path,
                        help="with --study: the root of its run dirs (run.sh's OUT)")
    parser.add_argument("--results", type=Path,
                        help="with --study: write the tables here instead of its results/")
    parser.add_argument("--table", action="append", default=[],
                        help="with --study: only this table (repeatable)")
    parser.add_argument("--metric", action="append", dest="metrics",
                        help="metric column (repeatable); the first one sorts the table")
    parser.add_argument("--by", action="append", default=[],
                        help="swept key to plot the first metric against (repeatable)")
    parser.add_argument("--curve", action="append", default=[],
                        help="scalar tag to draw learning curves of (repeatable), e.g. val/psnr")
    parser.add_argument("--out", type=Path, help="where to write summary.csv / summary.md / plots")
    parser.add_argument("--rows", action="append", default=[],
                        help="with --cols: a pivot table of each metric, one row per value of "
                             "these keys (repeatable; a config key or a group, e.g. model)")
    parser.add_argument("--cols", help="the key whose values are the pivot's columns")
    parser.add_argument("--baseline", help="KEY=VALUE of --rows (e.g. model=pca): each cell "
                                           "also gives its difference from that row's")
    args = parser.parse_args(argv)
    if args.study:
        if args.dirs or args.metrics or args.rows or args.cols:
            print("error: --study takes its runs and tables from study.yaml, not from the "
                  "command line", file=sys.stderr)
            return 2
        from aelab.errors import AelabError
        from aelab.study import run_study

        try:
            written = run_study(args.study, args.out_root, args.results, args.table)
        except AelabError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        print(f"wrote {len(written)} files")
        return 0
    if args.out_root or args.results or args.table:
        print("error: --out-root, --results and --table go with --study", file=sys.stderr)
        return 2
    if not args.dirs:
        print("error: give run or sweep directories, or --study", file=sys.stderr)
        return 2
    if bool(args.rows) != bool(args.cols) or (args.rows and not args.metrics):
        print("error: a pivot table takes --rows, --cols and at least one --metric",
              file=sys.stderr)
        return 2

    from aelab.compare import (
        build_table,
        labelled_runs,
        markdown,
        pivot_table,
        plot_metric_by_key,
        swept_columns,
        write_outputs,
    )
    from aelab.curves import default_curves, plot_curves

    missing = [d for d in args.dirs if not d.is_dir()]
    if missing:
        print(f"error: not a directory: {', '.join(map(str, missing))}", file=sys.stderr)
        return 2
    from aelab.errors import exit_on_user_error

    with exit_on_user_error():
        header, table = build_table(args.dirs, args.metrics)
    if not table:
        print(f"error: no runs (folders with .hydra/config.yaml) under {args.dirs}", file=sys.stderr)
        return 2
    print(markdown(header, table), end="")
    out = args.out or args.dirs[0]
    write_outputs(out, header, table)
    for metric in (args.metrics or []) if args.rows else []:
        try:
            pivot = pivot_table(args.dirs, metric, args.rows, args.cols, args.baseline)
        except ValueError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        name = metric.replace("/", "_")
        print(f"\n{metric}\n\n" + markdown(*pivot), end="")
        write_outputs(out, *pivot, stem=f"pivot_{name}")
    metric = args.metrics[0] if args.metrics else next((h for h in header if "/" in h), None)
    swept = swept_columns(header)
    for key in args.by or swept:  # default: one plot per swept key
        plot = plot_metric_by_key(out, header, table, metric, key) if metric else None
        if plot:
            print(f"plot: {plot}")
    runs = labelled_runs(args.dirs)
    for tag in args.curve or default_curves(metric):
        plot = plot_curves(out, runs, tag)
        if plot:
            print(f"curves: {plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
