"""A study's tables, declared in experiments/<study>/study.yaml and regenerated from its run
dirs by one command: `python compare.py --study experiments/<study>`.

    out: outputs/experiments/<study>   # the run roots' root, as the study's run.sh has OUT
                                       # (the default; --out-root overrides it)
    results: results                   # where the tables go, under the study's folder
    tables:
      - name: code_sizes               # a compare table: what `compare.py ROOTS --metric ...`
        runs: {pca: pca, conv_ae: conv_ae}   # writes, into results/<dir> (dir: default name)
        label: root
        metrics: [test/psnr, test/ssim]
        rows: [label]                  # with cols: pivot_<metric>.md/.csv, one per metric
        cols: model.latent_dim
        baseline: label=pca
      - name: screen                   # a flat table (it has `columns`): results/<dir>/<name>.md
        runs: [screen]                 # and .csv, one line per run (dir: default ".")
        columns: [overrides, val/psnr, test/psnr]

Every table:
- `runs` (required): run roots relative to `out`, each a run or a folder of runs; a list, or
  {label: root} to name each root;
- `label`: how a run is named: `dir` (its folder relative to its root), `root` (its root's
  name or the label given to it; the default where `runs` is a mapping), or a config key or
  group (`model`). A labelled run's `label` can be a pivot's row key and is the first column
  of a flat table; a compare table's unlabelled runs are named as compare.py names them;
- `where` {config key or group: value or list of values}: only the runs that have it;
- `derived` {name: formula}: metrics computed from others, e.g. `train_s: time/mean_epoch_s *
  epoch` (names and numbers, + - * / between spaces, brackets; aelab.compare.derive);
- `formats` {column: format spec, e.g. ".2f" or ",.0f"}, `titles` {column: header},
  `missing` (what an empty cell shows, default empty): the markdown's look; the csv keeps the
  values as they are;
- `dir`: the folder under `results`.

A compare table (no `columns`) also takes `metrics`, `rows` + `cols` [+ `baseline` KEY=VALUE,
`absolute`: metrics whose pivot shows no difference from the baseline, `col_title` e.g.
"{} floats", `keep_order`: pivot rows in the order of the runs], `by` (swept keys to plot the
first metric against; default every swept key, [] none) and `curves` (TensorBoard tags;
default compare.py's, [] none). A flat table takes `columns` (metrics, config keys or
groups, `overrides`, `status`, `epochs_run`), `sort` (a column; default the order of
`runs`), `baseline` KEY=VALUE (each metric beside its difference from that run's, but
those in `absolute`),
`plus_minus` {metric: its spread, shown "40.2 ± 3.4"} and `total` (columns summed in a last
line). A mistake in the file (an unknown key, a missing run root) is one AelabError line.
"""

from pathlib import Path

from omegaconf import OmegaConf

from aelab.errors import AelabError

STUDY_KEYS = ("out", "results", "tables")
COMMON_KEYS = ("name", "runs", "label", "where", "derived", "formats", "titles", "missing", "dir",
               "baseline", "absolute")
COMPARE_KEYS = ("metrics", "rows", "cols", "col_title", "keep_order", "by", "curves")
FLAT_KEYS = ("columns", "sort", "plus_minus", "total")


def study_file(path: Path) -> Path:
    return path / "study.yaml" if path.is_dir() else path


def load_study(path: Path) -> dict:
    """The study.yaml at `path` (a study folder or the file), checked: every key known, every
    table named, with runs, and of one kind."""
    file = study_file(path)
    if not file.is_file():
        raise AelabError(f"{file}: no such study file (a study folder holds study.yaml)")
    try:
        study = OmegaConf.to_container(OmegaConf.load(file), resolve=True)
    except Exception as err:  # noqa: BLE001 - YAML fails in many ways
        raise AelabError(f"{file} is not valid YAML: {str(err).splitlines()[0]}") from None
    if not isinstance(study, dict):
        raise AelabError(f"{file}: a study is a mapping with {', '.join(STUDY_KEYS)}")
    unknown(file, "the study", study, STUDY_KEYS)
    tables = study.get("tables")
    if not isinstance(tables, list) or not tables:
        raise AelabError(f"{file}: 'tables' must be a list of tables (each with name and runs)")
    names = set()
    for i, table in enumerate(tables):
        if not isinstance(table, dict) or not table.get("name"):
            raise AelabError(f"{file}: table {i + 1} has no name")
        where = f"table '{table['name']}'"
        if table["name"] in names:
            raise AelabError(f"{file}: two tables are named '{table['name']}'")
        names.add(table["name"])
        flat = "columns" in table
        unknown(file, where, table, COMMON_KEYS + (FLAT_KEYS if flat else COMPARE_KEYS),
                hint=f"; {', '.join(FLAT_KEYS)} are for flat tables (with columns), "
                     f"{', '.join(COMPARE_KEYS)} for tables without columns")
        runs = table.get("runs")
        if not runs or not isinstance(runs, list | dict):
            raise AelabError(f"{file}: {where} needs runs: a list of run roots (relative to "
                             "out) or {label: root}")
        if bool(table.get("rows")) != bool(table.get("cols")) or (
                table.get("rows") and not table.get("metrics")):
            raise AelabError(f"{file}: {where}: a pivot takes rows, cols and metrics")
        if table.get("baseline") and "=" not in str(table["baseline"]):
            raise AelabError(f"{file}: {where}: baseline is KEY=VALUE, not {table['baseline']}")
        for name, formula in (table.get("derived") or {}).items():
            from aelab.compare import parse_formula

            try:
                parse_formula(str(formula))
            except ValueError as err:
                raise AelabError(f"{file}: {where}: derived {name}: {err}") from None
    study["file"], study["folder"] = file, file.parent
    return study


def unknown(file: Path, where: str, given: dict, known: tuple, hint: str = "") -> None:
    extra = [k for k in given if k not in known]
    if extra:
        raise AelabError(f"{file}: {where}: unknown key '{extra[0]}' (known: "
                         f"{', '.join(known)}){hint}")


def run_study(path: Path, out_root: Path | None = None, results: Path | None = None,
              only: list[str] | None = None) -> list[Path]:
    """Regenerate the study's tables (those named in `only`, else all) from the run dirs
    under `out_root` (default: the study's `out`, else outputs/experiments/<study>) into
    `results` (default: the study's `results` folder); returns the files written."""
    study = load_study(path)
    folder = study["folder"]
    out_root = Path(out_root or study.get("out") or f"outputs/experiments/{folder.name}")
    results = Path(results) if results else folder / study.get("results", "results")
    tables = study["tables"]
    if only:
        missing = sorted(set(only) - {t["name"] for t in tables})
        if missing:
            raise AelabError(f"{study['file']}: no table named {missing[0]} (tables: "
                             f"{', '.join(t['name'] for t in tables)})")
        tables = [t for t in tables if t["name"] in only]
    for table in tables:  # every root there before any table is written
        roots_of(study["file"], table, out_root)
    written = []
    for table in tables:
        written += make_table(study["file"], table, out_root, results)
    return written


def roots_of(file: Path, table: dict, out_root: Path) -> list[tuple[str | None, Path]]:
    runs = table["runs"]
    pairs = list(runs.items()) if isinstance(runs, dict) else [(None, r) for r in runs]
    roots = [(None if name is None else str(name), out_root / str(root)) for name, root in pairs]
    for _, root in roots:
        if not root.is_dir():
            raise AelabError(f"{file}: table '{table['name']}': run root {root} does not exist "
                             "(run the study's run.sh first, or give --out-root)")
    return roots


def make_table(file: Path, table: dict, out_root: Path, results: Path) -> list[Path]:
    from aelab import compare

    roots = roots_of(file, table, out_root)
    label = table.get("label") or ("root" if isinstance(table["runs"], dict) else None)
    flat = "columns" in table
    if label or flat:
        runs = compare.label_runs(roots, label)
    else:  # as compare.py ROOTS reads them, so its tables come out the same
        runs = [compare.read_run(run) for run in compare.find_runs([r for _, r in roots])]
    if table.get("where"):
        runs = compare.keep_where(runs, table["where"])
    if not runs:
        raise AelabError(f"{file}: table '{table['name']}': no runs under "
                         f"{', '.join(str(r) for _, r in roots)}" +
                         (f" with {table['where']}" if table.get("where") else ""))
    compare.derive(runs, table.get("derived") or {})
    style = {"formats": table.get("formats"), "titles": table.get("titles"),
             "missing": table.get("missing", "")}
    out = results / str(table.get("dir", "." if flat else table["name"]))
    try:
        if flat:
            header, lines = compare.flat_table(
                runs, list(table["columns"]), table.get("sort"), table.get("baseline"),
                style["formats"], table.get("plus_minus"), table.get("total"),
                table.get("absolute"))
            compare.write_outputs(out, header, lines, stem=table["name"], **style)
            print(f"{table['name']}:\n\n" + compare.markdown(header, lines, **style))
            return [out / f"{table['name']}.md", out / f"{table['name']}.csv"]
        return compare_table(table, [r for _, r in roots], runs, out, style)
    except ValueError as err:
        raise AelabError(f"{file}: table '{table['name']}': {err}") from None


def compare_table(table: dict, roots: list[Path], runs: list[dict], out: Path,
                  style: dict) -> list[Path]:
    """What `compare.py ROOTS --metric ... [--rows --cols --baseline] [--by] [--curve]
    --out OUT` writes: summary.md/.csv, pivot_<metric>.md/.csv, plots, learning curves."""
    from aelab import compare
    from aelab.curves import default_curves, plot_curves

    metrics = list(table.get("metrics") or [])
    header, lines = compare.build_table(roots, metrics, runs=runs)
    compare.write_outputs(out, header, lines, **style)
    print(f"{table['name']}:\n\n" + compare.markdown(header, lines, **style))
    written = [out / "summary.md", out / "summary.csv"]
    formats = table.get("formats") or {}
    for metric in metrics if table.get("rows") else []:
        baseline = None if metric in (table.get("absolute") or []) else table.get("baseline")
        pivot = compare.pivot_table(roots, metric, list(table["rows"]), table["cols"], baseline,
                                    runs=runs, spec=formats.get(metric),
                                    col_title=table.get("col_title"),
                                    keep_order=bool(table.get("keep_order")))
        stem = f"pivot_{metric.replace('/', '_')}"
        compare.write_outputs(out, *pivot, stem=stem, titles=style["titles"],
                              missing=style["missing"])
        written += [out / f"{stem}.md", out / f"{stem}.csv"]
    metric = metrics[0] if metrics else next((h for h in header if "/" in h), None)
    by = table.get("by")
    for key in compare.swept_columns(header) if by is None else by:
        plot = compare.plot_metric_by_key(out, header, lines, metric, key) if metric else None
        written += [plot] if plot else []
    curves = table.get("curves")
    tags = default_curves(metric) if curves is None else curves
    if tags:
        labelled = compare.labelled_runs(roots, runs)
        for tag in tags:
            plot = plot_curves(out, labelled, tag)
            written += [plot] if plot else []
    return written
