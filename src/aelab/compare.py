"""Tables (and plots) of finished runs: what compare.py prints and writes.

A run is a folder with `.hydra/config.yaml`; its results are `metrics.json`. A folder
of runs (a multirun sweep, or any tree of runs) is searched recursively. The columns are
the config keys that differ between the runs (what was swept) and the chosen metrics.

A run's row (`read_run`) also holds:
- the metrics eval.py wrote beside metrics.json: `eval_metrics.json` (a re-test of the run's
  checkpoint, e.g. with FID in a classifier's features) adds and replaces the `test/` metrics
  under their own names; `eval_metrics_<variant>.json` (`eval.py self_ensemble=true` writes
  `eval_metrics_self_ensemble.json`, `iw_samples=500` writes `eval_metrics_iw500.json`) adds its
  `test/` metrics prefixed by the variant: `self_ensemble/test/psnr_y`, beside the plain
  `test/psnr_y`;
- the quality of a text run's samples that `generate.py task=sample` wrote
  (`generated/sample_metrics.json`: `sample/...` and `real/...`, docs/generation_metrics.md)
  under their own names; a later draw's (`sample-1_metrics.json`) prefixed `sample-1/`, a tagged
  one's (`generate.py tag=nucleus05`: `sample_nucleus05_metrics.json`) `sample_nucleus05/`;
- `epochs_run`: the epochs the run trained (`epoch` of metrics.json, plus one for a run an
  Optuna pruner stopped, whose `epoch` is the last one it began);
- `overrides`: its command-line overrides (.hydra/overrides.yaml), e.g.
  `experiment=image_zoo/conv_ae model.latent_dim=32`.

Flat tables (`flat_table`) list chosen columns (metrics, config keys, `overrides`, `label`,
`status`) for runs labelled by `label_runs`, with metrics derived from others (`derive`);
a study (aelab.study) declares its tables in a study.yaml.
"""

import ast
import csv
import json
import logging
import operator
import re
from pathlib import Path

from omegaconf import OmegaConf

from aelab.errors import AelabError

log = logging.getLogger(__name__)
HIGHER_IS_BETTER = ("psnr", "ssim", "bleu", "acc", "usage", "active_units", "mi", "perplexity_codes")
IGNORED_KEYS = ("paths.", "hydra.", "callbacks.", "logger.", "trainer.enable_progress_bar",
                "trainer.default_root_dir", "ckpt_path", "optuna.")  # optuna: the trial's address


GROUP_PREFIX = "choice:"  # config-group choices sit beside the config keys under this prefix


def find_runs(roots: list[Path]) -> list[Path]:
    runs = []
    for root in roots:
        if (root / ".hydra" / "config.yaml").exists():
            runs.append(root)
        else:
            runs += sorted(p.parent.parent for p in root.rglob(".hydra/config.yaml"))
    return runs


def flat_config(run: Path) -> dict:
    """The run's config as {dotted key: value}, plus its config-group choices
    ({"optimizer": "sgd"}) from .hydra/hydra.yaml: a swept group shows as one column."""
    config = OmegaConf.to_container(OmegaConf.load(run / ".hydra" / "config.yaml"), resolve=False)
    out = {}

    def walk(node, prefix):
        for key, value in node.items():
            if isinstance(value, dict):
                walk(value, f"{prefix}{key}.")
            else:
                out[f"{prefix}{key}"] = value

    walk(config, "")
    hydra_file = run / ".hydra" / "hydra.yaml"
    if hydra_file.exists():
        choices = OmegaConf.select(OmegaConf.load(hydra_file), "hydra.runtime.choices") or {}
        out.update({GROUP_PREFIX + group: choice for group, choice in choices.items()
                    if not group.startswith(("hydra", "sweep"))})
    return {k: v for k, v in out.items() if not k.startswith(IGNORED_KEYS)}


def overrides_of(run: Path) -> list[str]:
    """The run's command-line overrides (.hydra/overrides.yaml), in the order given."""
    file = run / ".hydra" / "overrides.yaml"
    return [str(o) for o in readable(file, lambda: OmegaConf.load(file))] if file.exists() else []


def explicit_overrides(run: Path) -> set[str]:
    """Keys set on the command line (.hydra/overrides.yaml), e.g. {"optimizer.lr"}."""
    return {o.split("=", 1)[0].lstrip("+~") for o in overrides_of(run)}


EVAL_METRICS = "eval_metrics"


def eval_metrics(run: Path) -> dict:
    """The `test/` metrics of the run's eval_metrics*.json files, named as in the module
    docstring: eval_metrics.json's under their own names, eval_metrics_<variant>.json's as
    `<variant>/test/...`."""
    return scores_of(run.glob(f"{EVAL_METRICS}*.json"),
                     lambda file: file.stem.removeprefix(EVAL_METRICS).lstrip("_"),
                     keep=lambda key: key.startswith("test/"))


def sample_metrics(run: Path) -> dict:
    """The sample quality `generate.py task=sample` wrote for a text run, named as in the
    module docstring: sample_metrics.json's under their own names, sample-<k>_metrics.json's
    as `sample-<k>/...` and a tagged draw's (generate.py tag=T) as `sample_T/...`."""
    def draw(file: Path) -> str:  # sample_metrics.json: ""; sample-1_metrics.json: "sample-1"
        name = file.stem.removesuffix("_metrics")
        return "" if name == "sample" else name

    return scores_of((run / "generated").glob("sample*_metrics.json"), draw)


def scores_of(files, prefix, keep=lambda key: True) -> dict:
    """The scores of json files, in name order, each file's kept keys under `prefix(file)/`
    (as they are where the prefix is empty)."""
    out = {}
    for file in sorted(files):
        scores = readable(file, lambda f=file: json.loads(f.read_text()))
        head = prefix(file)
        out.update({f"{head}/{k}" if head else k: v for k, v in scores.items() if keep(k)})
    return out


def read_run(run: Path) -> dict:
    """Config, metrics (with eval.py's), overrides and status ('done', 'pruned',
    'failed: reason', 'unfinished': running or killed)."""
    metrics_file, failure_file = run / "metrics.json", run / "failure.txt"
    if metrics_file.exists():
        metrics = readable(metrics_file, lambda: json.loads(metrics_file.read_text()))
        status = "pruned" if metrics.get("pruned") else "done"
    elif failure_file.exists():
        metrics, status = {}, "failed: " + failure_file.read_text().strip().splitlines()[0]
    else:
        metrics, status = {}, "unfinished"
    if isinstance(metrics.get("epoch"), int | float):
        metrics["epochs_run"] = metrics["epoch"] + (1 if metrics.get("pruned") else 0)
    metrics.update(eval_metrics(run))
    metrics.update(sample_metrics(run))
    config = readable(run / ".hydra" / "config.yaml", lambda: flat_config(run))
    return {"run": run, "config": config, "metrics": metrics, "status": status,
            "overrides": overrides_of(run)}


def readable(file: Path, read):
    """`read()`, or one line naming the file when it is cut short or not what it should be."""
    try:
        return read()
    except Exception as err:  # noqa: BLE001 - JSON, YAML and decoding fail in many ways
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise AelabError(f"{file} cannot be read ({reason[:120]}); it may be truncated: "
                         "restore it, or leave its run out of the comparison") from None


def varying_keys(rows: list[dict]) -> list[str]:
    """Config keys whose values differ between the runs. When a config group's choice
    differs (optimizer=adam,sgd), the group is one column named after it, and the keys inside
    it that merely came with the choice (optimizer.momentum) are left out."""
    keys = sorted({k for row in rows for k in row["config"]})
    varying = [k for k in keys if len({json.dumps(row["config"].get(k), default=str)
                                       for row in rows}) > 1]
    groups = [k.removeprefix(GROUP_PREFIX) for k in varying if k.startswith(GROUP_PREFIX)]
    explicit = set().union(*(explicit_overrides(row["run"]) for row in rows))
    out = []
    for key in varying:
        if key.startswith(GROUP_PREFIX):
            out.append(key.removeprefix(GROUP_PREFIX))
        elif key in explicit or not any(key.startswith(g + ".") for g in groups):
            out.append(key)
    return sorted(out)


def config_value(row: dict, key: str):
    """A config key's value, or a config group's choice; `label`, `status` and `overrides`
    (the command line, one string) where the config has no such key."""
    config = row["config"]
    if key in config:
        return config[key]
    if GROUP_PREFIX + key in config:
        return config[GROUP_PREFIX + key]
    if key == "overrides":
        return " ".join(o for o in row.get("overrides", []) if not o.startswith("hydra."))
    return row.get(key) if key in ("label", "status") else None


def as_key(value):
    """A config value as a pivot's row or column key: a list (`optimizer.no_decay`) as its
    text, `[to_latent, decoder.memory]`, since a list cannot key a table."""
    if isinstance(value, list | tuple):
        return "[" + ", ".join(str(as_key(v)) for v in value) + "]"
    return value


def value_of(row: dict, key: str):
    """A column's value: a metric (derived ones included), else as config_value."""
    return row["metrics"][key] if key in row["metrics"] else config_value(row, key)


def higher_is_better(metric: str) -> bool:
    return any(word in metric.rsplit("/", 1)[-1] for word in HIGHER_IS_BETTER)


# Columns of a table over seeds that are neither swept keys nor metrics.
STAT_COLUMNS = ("seeds", "vs best")


def swept_columns(header: list[str]) -> list[str]:
    """The swept-key columns of a table (metrics have a '/', like test/psnr)."""
    return [h for h in header[1:-1] if "/" not in h and h not in STAT_COLUMNS]


def build_table(roots: list[Path], metrics: list[str] | None = None,
                sort_by: str | None = None, runs: list[dict] | None = None
                ) -> tuple[list[str], list[list]]:
    """One row per run; or, when the runs differ in `seed`, one row per cell of runs that
    differ only in it (mean, 95% CI, standard deviation, the test against the best cell).
    `runs`: rows already read (and labelled) instead of the runs under `roots`; a labelled
    row is named by its label in the `run` column."""
    rows = list(runs) if runs is not None else [read_run(run) for run in find_runs(roots)]
    if not rows:
        return [], []
    swept = varying_keys(rows) if len(rows) > 1 else []
    if not metrics:
        metrics = sorted({k for row in rows for k in row["metrics"] if k.startswith("test/")})
        metrics += [m for m in ("time/mean_epoch_s",) if any(m in r["metrics"] for r in rows)]
    sort_by = sort_by or (metrics[0] if metrics else None)
    if "seed" in swept:
        return seed_table(rows, [k for k in swept if k != "seed"], metrics, sort_by)
    if sort_by:
        sign = -1 if higher_is_better(sort_by) else 1
        rows.sort(key=lambda r: (r["metrics"].get(sort_by) is None,
                                 sign * (r["metrics"].get(sort_by) or 0)))
    header = ["run", *swept, *metrics, "status"]
    common = Path(*Path(rows[0]["run"]).parts[:-1]) if len(rows) > 1 else None
    table = []
    for row in rows:
        inside = common and row["run"].is_relative_to(common)
        name = str(row["run"].relative_to(common)) if inside else str(row["run"])
        name = row.get("label") or name
        table.append([name, *(config_value(row, k) for k in swept),
                      *(row["metrics"].get(m) for m in metrics), row["status"]])
    return header, table


def seed_table(rows: list[dict], swept: list[str], metrics: list[str],
               sort_by: str | None) -> tuple[list[str], list[list]]:
    """Rows grouped into cells by their swept values other than `seed`. Per metric three
    columns: the mean over seeds, `<metric> ci95` (half width of the 95% Student-t
    interval) and `<metric> sd`; then the number of seeds and, for the sorting metric, how
    the cell compares with the best one (Welch's t-test, see aelab.seeds)."""
    from aelab.seeds import Cell, mark_against_best

    cells: dict[tuple, list[dict]] = {}
    for row in rows:
        key = tuple(json.dumps(config_value(row, k), default=str) for k in swept)
        cells.setdefault(key, []).append(row)
    stats = {key: {m: Cell([r["metrics"][m] for r in members
                            if isinstance(r["metrics"].get(m), int | float)]) for m in metrics}
             for key, members in cells.items()}
    order = list(cells)
    if sort_by in metrics:
        sign = -1 if higher_is_better(sort_by) else 1
        order.sort(key=lambda k: (not stats[k][sort_by].n, sign * (
            stats[k][sort_by].mean if stats[k][sort_by].n else 0)))
    marks = dict(zip(order, mark_against_best([stats[k][sort_by] for k in order],
                                              higher_is_better(sort_by)), strict=True)
                 ) if sort_by in metrics else {}
    header = ["run", *swept]
    for m in metrics:
        header += [m, f"{m} ci95", f"{m} sd"]
    header += ["seeds", "vs best", "status"]
    table = []
    for key in order:
        members = cells[key]
        first = members[0]
        label = ",".join(f"{k}={fmt(config_value(first, k))}" for k in swept) or "all"
        values = []
        for m in metrics:
            cell = stats[key][m]
            values += [cell.mean if cell.n else None, cell.ci_half_width, cell.std]
        done = sum(r["status"] == "done" for r in members)
        status = "done" if done == len(members) else f"{done} of {len(members)} done"
        seeds = ",".join(sorted(str(config_value(r, "seed")) for r in members))
        table.append([label, *(config_value(first, k) for k in swept), *values, seeds,
                      marks.get(key, ""), status])
    return header, table


def pivot_table(roots: list[Path], metric: str, rows: list[str], cols: str,
                baseline: str | None = None, runs: list[dict] | None = None,
                spec: str | None = None, col_title: str | None = None,
                keep_order: bool = False) -> tuple[list[str], list[list]]:
    """`metric` of finished runs laid out by config values: one row per combination of the
    `rows` keys (a config key, `data.path`, or a group's choice, `model`; `label` for labelled
    runs), one column per value of `cols` (`model.latent_dim`). With `baseline` KEY=VALUE
    (`model=pca`) each cell also gives its difference from the row that has VALUE for KEY and
    the same other row keys, in the same column: "22.45 (+3.49)". Two runs in one cell are an
    error, not an average. `runs`: rows already read instead of the runs under `roots`;
    `spec`: the format of the values and differences (".2f"; default: 4 digits, differences
    to 0.01 from 10 up, else 0.001); `col_title`: the column headers ("{} floats"; default
    "<cols>=<value>"); `keep_order`: the rows in the order of their first run, not sorted."""
    cells: dict[tuple, dict] = {}
    for row in runs if runs is not None else map(read_run, find_runs(roots)):
        run = row["run"]
        value = row["metrics"].get(metric)
        if value is None:
            continue
        key = tuple(as_key(config_value(row, k)) for k in rows)
        col = as_key(config_value(row, cols))
        if col in cells.setdefault(key, {}):
            raise ValueError(f"two runs with {dict(zip(rows, key, strict=True))} and "
                             f"{cols}={col}: {run} and another; add the key that tells them "
                             "apart to --rows")
        cells[key][col] = value
    columns = sorted({c for line in cells.values() for c in line}, key=lambda c: (str(type(c)), c))
    base_key, base_value = baseline.split("=", 1) if baseline else (None, None)
    if base_key is not None and base_key not in rows:
        raise ValueError(f"--baseline {baseline}: {base_key} is not one of --rows {rows}")

    def base_of(key: tuple) -> dict | None:
        if base_key is None:
            return None
        at = rows.index(base_key)
        match = [line for k, line in cells.items() if str(k[at]) == base_value
                 and all(a == b for i, (a, b) in enumerate(zip(k, key, strict=True)) if i != at)]
        return match[0] if match else None

    table = []
    order = list(cells) if keep_order else sorted(cells, key=lambda k: tuple(str(v) for v in k))
    for key in order:
        base = base_of(key)
        line = []
        for c in columns:
            value = cells[key].get(c)
            if value is not None and base is not None and c in base and str(
                    key[rows.index(base_key)]) != base_value:
                line.append(with_difference(value, base[c], spec))
            elif spec and value is not None:
                line.append(format(value, spec))
            else:
                line.append(None if value is None else round(value, 4))
        table.append([*key, *line])
    titles = [col_title.format(c) if col_title else f"{cols}={c}" for c in columns]
    return [*rows, *titles], table


def with_difference(value: float, base: float, spec: str | None = None) -> str:
    """"22.45 (+3.49)": the value and its difference from a baseline's."""
    if spec is None:
        digits = 2 if abs(base) >= 10 else 3  # dB: 0.01; SSIM, accuracy: 0.001
        spec = f".{digits}f"
    return f"{value:{spec}} ({value - base:+{spec}})"


def label_runs(roots: list[tuple[str | None, Path]], label: str | None = None) -> list[dict]:
    """The rows of the runs under each (name, root), each with a `label`: by `label` "dir"
    (the default) the run dir relative to its root (the root's name for a root that is one
    run), by "root" the root's name (or the name it is given), else the value of that config
    key or group (`model`, `model.latent_dim`)."""
    out = []
    for name, root in roots:
        for run in find_runs([root]):
            row = read_run(run)
            if label in (None, "dir"):
                row["label"] = str(run.relative_to(root)) if run != root else (name or root.name)
            elif label == "root":
                row["label"] = name or root.name
            else:
                row["label"] = fmt(config_value(row, label))
            out.append(row)
    return out


def keep_where(rows: list[dict], where: dict) -> list[dict]:
    """The rows whose config has each key at the value given (or at one of a list of values),
    compared as text: {"model": "pca"}, {"model.latent_dim": [16, 32]}."""
    def wanted(row):
        return all(str(config_value(row, key)) in {str(v) for v in (
            values if isinstance(values, list | tuple) else [values])} for key, values in where.items())
    return [row for row in rows if wanted(row)]


NAME = re.compile(r"[A-Za-z_][\w./]*")
OPERATORS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
             ast.Div: operator.truediv}


def parse_formula(formula: str) -> tuple[ast.Expression, list[str]]:
    """A formula of metric / config names (`time/mean_epoch_s * epochs_run`: operators
    between spaces, as names hold '/'), numbers, + - * / and brackets, parsed; or
    ValueError."""
    names: list[str] = []

    def placeholder(match):
        names.append(match.group(0))
        return f"_{len(names) - 1}"

    try:
        tree = ast.parse(NAME.sub(placeholder, formula), mode="eval")
    except SyntaxError:
        raise ValueError(f"'{formula}' is not a formula of names and + - * /") from None
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Name, ast.Load,
                                 ast.USub, ast.Constant, *OPERATORS)):
            raise ValueError(f"'{formula}' is not a formula of names and + - * /")
        if isinstance(node, ast.Constant) and not isinstance(node.value, int | float):
            raise ValueError(f"'{formula}': {node.value!r} is not a number")
    return tree, names


def derive(rows: list[dict], formulas: dict[str, str]) -> None:
    """Add a metric to every row per {name: formula} (in order: a formula may use the ones
    before it), e.g. {"train_s": "time/mean_epoch_s * epoch"}; None where a value is missing
    or not a number, or on a division by zero."""
    parsed = {name: parse_formula(formula) for name, formula in formulas.items()}
    for row in rows:
        for name, (tree, names) in parsed.items():
            values = [value_of(row, key) for key in names]
            ok = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
            row["metrics"][name] = evaluate(tree.body, values) if ok else None


def evaluate(node, values: list):
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return values[int(node.id[1:])]
    if isinstance(node, ast.UnaryOp):
        inner = evaluate(node.operand, values)
        return None if inner is None else -inner
    left, right = evaluate(node.left, values), evaluate(node.right, values)
    if left is None or right is None or (isinstance(node.op, ast.Div) and right == 0):
        return None
    return OPERATORS[type(node.op)](left, right)


def natural(text) -> list:
    """Sort key: trial_2 before trial_10."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part)
            for part in re.split(r"(\d+)", str(text))]


def flat_table(rows: list[dict], columns: list[str], sort_by: str | None = None,
               baseline: str | None = None, formats: dict | None = None,
               plus_minus: dict | None = None, total: list[str] | None = None,
               absolute: list[str] | None = None) -> tuple[list[str], list[list]]:
    """One line per (labelled) run: its label, then `columns` (metrics, config keys or
    groups, `overrides`, `status`), in the order of `rows` or sorted by `sort_by` (a metric:
    best first; `label` or a config key: in natural order). `baseline` KEY=VALUE: each
    metric of every other line (but those in `absolute`) also gives its difference from the
    line with VALUE for KEY, "23.26 (+0.97)"; `plus_minus` {metric: its spread}: "40.2 ± 3.4";
    `formats` {column: format spec} for those two; `total`: a last line "total" with the sums
    of these columns."""
    formats = formats or {}
    rows = list(rows)
    if sort_by:
        if any(sort_by in r["metrics"] for r in rows):
            sign = -1 if higher_is_better(sort_by) else 1
            rows.sort(key=lambda r: (value_of(r, sort_by) is None, sign * (value_of(r, sort_by) or 0)))
        else:
            rows.sort(key=lambda r: natural(value_of(r, sort_by)))
    base = None
    if baseline:
        key, value = baseline.split("=", 1)
        matches = [r for r in rows if fmt(value_of(r, key)) == value]
        if len(matches) != 1:
            raise ValueError(f"baseline {baseline}: {len(matches)} runs have it, not one")
        base = matches[0]
    table = []
    for row in rows:
        line = [row.get("label")]
        for column in columns:
            value = value_of(row, column)
            number = isinstance(value, int | float) and not isinstance(value, bool)
            spread = value_of(row, plus_minus[column]) if column in (plus_minus or {}) else None
            base_value = base["metrics"].get(column) if base is not None else None
            if number and spread is not None:
                spec = formats.get(column, ".4g")
                value = f"{value:{spec}} ± {spread:{spec}}"
            elif number and row is not base and isinstance(base_value, int | float) and (
                    column in row["metrics"]) and column not in (absolute or []):
                value = with_difference(value, base_value, formats.get(column))
            line.append(value)
        table.append(line)
    if total:
        missing = [c for c in total if c not in columns]
        if missing:
            raise ValueError(f"total: {missing} are not among the columns {columns}")
        sums = []
        for i, column in enumerate(columns, start=1):
            values = [line[i] for line in table if isinstance(line[i], int | float)]
            sums.append(sum(values) if column in total else None)
        table.append(["total", *sums])
    return ["label", *columns], table


def best_run(roots: list[Path], metric: str) -> Path | None:
    """The finished run with the best `metric` (higher or lower by its name), or None."""
    rows = [r for r in map(read_run, find_runs(roots)) if r["metrics"].get(metric) is not None]
    if not rows:
        return None
    sign = -1 if higher_is_better(metric) else 1
    return min(rows, key=lambda r: sign * r["metrics"][metric])["run"]


def labelled_runs(roots: list[Path], runs: list[dict] | None = None) -> list[tuple[str, Path]]:
    """(label, run) for every run (or the rows `runs` already read): the label names its
    swept values (`model.latent_dim=16, optimizer=sgd`), or its folder when nothing differs
    between the runs."""
    rows = list(runs) if runs is not None else [read_run(run) for run in find_runs(roots)]
    swept = varying_keys(rows) if len(rows) > 1 else []
    out = []
    for row in rows:
        values = ", ".join(f"{k}={fmt(config_value(row, k))}" for k in swept)
        out.append((values or row["run"].name, row["run"]))
    return out


def fmt(value, spec: str | None = None, missing: str = "") -> str:
    if spec and isinstance(value, int | float) and not isinstance(value, bool):
        return format(value, spec)
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e5 else f"{value:.4e}"
    return missing if value is None or value == "" else str(value)


def markdown(header: list[str], table: list[list], formats: dict | None = None,
             titles: dict | None = None, missing: str = "") -> str:
    """A markdown table; `formats` {column: format spec} for its numbers (default: 4
    significant digits), `titles` {column: its header}, `missing`: what an empty cell shows.
    An `overrides` cell is shown as code."""
    formats, titles = formats or {}, titles or {}
    lines = ["| " + " | ".join(str(titles.get(h, h)) for h in header) + " |",
             "|" + "---|" * len(header)]
    for row in table:
        cells = [fmt(v, formats.get(h), missing) for h, v in zip(header, row, strict=True)]
        cells = [f"`{c}`" if h == "overrides" and c != missing else c
                 for h, c in zip(header, cells, strict=True)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_outputs(out_dir: Path, header: list[str], table: list[list], stem: str = "summary",
                  **style) -> None:
    """<stem>.csv (the values as they are) and <stem>.md (`style`: markdown's formats,
    titles, missing) in `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / f"{stem}.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(table)
    (out_dir / f"{stem}.md").write_text(markdown(header, table, **style))


def plot_metric_by_key(out_dir: Path, header: list[str], table: list[list], metric: str,
                       by: str) -> Path | None:
    """PNG of `metric` against the swept value `by`, one line per combination of the other
    swept keys (e.g. PSNR against latent size, by depth and optimizer)."""
    if metric not in header or by not in header:
        return None
    col_metric, col_by = header.index(metric), header.index(by)
    # Over seeds: the mean with its 95% interval as an error bar.
    col_ci = header.index(f"{metric} ci95") if f"{metric} ci95" in header else None
    others = [header.index(k) for k in swept_columns(header) if header.index(k) != col_by]
    lines: dict[str, list] = {}
    for row in table:
        if row[col_metric] is None:
            continue
        label = ", ".join(f"{header[i]}={row[i]}" for i in others) or metric
        error = (row[col_ci] or 0.0) if col_ci is not None else None
        lines.setdefault(label, []).append((row[col_by], row[col_metric], error))
    if not lines:
        return None
    fig, ax = new_axes((6, 4), len(lines))
    for label, points in sorted(lines.items()):
        points.sort(key=lambda p: (str(type(p[0])), p[0]))
        xs, ys = [str(x) for x, _, _ in points], [y for _, y, _ in points]
        if col_ci is not None:
            ax.errorbar(xs, ys, yerr=[e for _, _, e in points], marker="o", capsize=3, label=label)
        else:
            ax.plot(xs, ys, marker="o", label=label)
    path = out_dir / f"{metric.replace('/', '_')}_by_{by.replace('/', '_')}.png"
    ylabel = f"{metric} (mean, 95% CI over seeds)" if col_ci is not None else metric
    return save_plot(fig, ax, path, by, ylabel, legend_size=7 if len(lines) > 1 else None)


def new_axes(size: tuple[float, float], lines: int = 1):
    """A figure for a PNG file (matplotlib's file-only backend: no display needed); past 10
    lines the colours come from a 20-colour cycle, so no two runs share one."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=size)
    if lines > 10:
        ax.set_prop_cycle(color=plt.get_cmap("tab20").colors)
    return fig, ax


def save_plot(fig, ax, path: Path, xlabel: str, ylabel: str, legend_size: int | None) -> Path:
    """Label, grid, legend (None: none), write the PNG, free the figure."""
    import matplotlib.pyplot as plt

    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if legend_size:
        ax.legend(fontsize=legend_size)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
