"""Tables (and plots) of finished runs: what compare.py prints and writes.

A run is a folder with `.hydra/config.yaml`; its results are `metrics.json`. A folder
of runs (a multirun sweep, or any tree of runs) is searched recursively. The columns are
the config keys that differ between the runs (what was swept) and the chosen metrics.
"""

import csv
import json
import logging
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


def explicit_overrides(run: Path) -> set[str]:
    """Keys set on the command line (.hydra/overrides.yaml), e.g. {"optimizer.lr"}."""
    file = run / ".hydra" / "overrides.yaml"
    overrides = OmegaConf.load(file) if file.exists() else []
    return {str(o).split("=", 1)[0].lstrip("+~") for o in overrides}


def read_run(run: Path) -> dict:
    """Config, metrics and status ('done', 'failed: reason', 'running or killed')."""
    metrics_file, failure_file = run / "metrics.json", run / "failure.txt"
    if metrics_file.exists():
        metrics = readable(metrics_file, lambda: json.loads(metrics_file.read_text()))
        status = "pruned" if metrics.get("pruned") else "done"
    elif failure_file.exists():
        metrics, status = {}, "failed: " + failure_file.read_text().strip().splitlines()[0]
    else:
        metrics, status = {}, "unfinished"
    config = readable(run / ".hydra" / "config.yaml", lambda: flat_config(run))
    return {"run": run, "config": config, "metrics": metrics, "status": status}


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
    """A config key's value, or a config group's choice."""
    config = row["config"]
    return config[key] if key in config else config.get(GROUP_PREFIX + key)


def higher_is_better(metric: str) -> bool:
    return any(word in metric.rsplit("/", 1)[-1] for word in HIGHER_IS_BETTER)


# Columns of a table over seeds that are neither swept keys nor metrics.
STAT_COLUMNS = ("seeds", "vs best")


def swept_columns(header: list[str]) -> list[str]:
    """The swept-key columns of a table (metrics have a '/', like test/psnr)."""
    return [h for h in header[1:-1] if "/" not in h and h not in STAT_COLUMNS]


def build_table(roots: list[Path], metrics: list[str] | None = None,
                sort_by: str | None = None) -> tuple[list[str], list[list]]:
    """One row per run; or, when the runs differ in `seed`, one row per cell of runs that
    differ only in it (mean, 95% CI, standard deviation, the test against the best cell)."""
    rows = [read_run(run) for run in find_runs(roots)]
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
                baseline: str | None = None) -> tuple[list[str], list[list]]:
    """`metric` of finished runs laid out by config values: one row per combination of the
    `rows` keys (a config key, `data.path`, or a group's choice, `model`), one column per value
    of `cols` (`model.latent_dim`). With `baseline` KEY=VALUE (`model=pca`) each cell also
    gives its difference from the row that has VALUE for KEY and the same other row keys, in
    the same column: "22.45 (+3.49)". Two runs in one cell are an error, not an average."""
    cells: dict[tuple, dict] = {}
    for run in find_runs(roots):
        row = read_run(run)
        value = row["metrics"].get(metric)
        if value is None:
            continue
        key = tuple(config_value(row, k) for k in rows)
        col = config_value(row, cols)
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
    for key in sorted(cells, key=lambda k: tuple(str(v) for v in k)):
        base = base_of(key)
        line = []
        for c in columns:
            value = cells[key].get(c)
            if value is not None and base is not None and c in base and str(
                    key[rows.index(base_key)]) != base_value:
                digits = 2 if abs(base[c]) >= 10 else 3  # dB: 0.01; SSIM, accuracy: 0.001
                line.append(f"{value:.{digits}f} ({value - base[c]:+.{digits}f})")
            else:
                line.append(None if value is None else round(value, 4))
        table.append([*key, *line])
    return [*rows, *(f"{cols}={c}" for c in columns)], table


def best_run(roots: list[Path], metric: str) -> Path | None:
    """The finished run with the best `metric` (higher or lower by its name), or None."""
    rows = [r for r in map(read_run, find_runs(roots)) if r["metrics"].get(metric) is not None]
    if not rows:
        return None
    sign = -1 if higher_is_better(metric) else 1
    return min(rows, key=lambda r: sign * r["metrics"][metric])["run"]


def labelled_runs(roots: list[Path]) -> list[tuple[str, Path]]:
    """(label, run) for every run: the label names its swept values (`model.latent_dim=16,
    optimizer=sgd`), or its folder when nothing differs between the runs."""
    rows = [read_run(run) for run in find_runs(roots)]
    swept = varying_keys(rows) if len(rows) > 1 else []
    out = []
    for row in rows:
        values = ", ".join(f"{k}={fmt(config_value(row, k))}" for k in swept)
        out.append((values or row["run"].name, row["run"]))
    return out


def fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e5 else f"{value:.4e}"
    return "" if value is None else str(value)


def markdown(header: list[str], table: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in table]
    return "\n".join(lines) + "\n"


def write_outputs(out_dir: Path, header: list[str], table: list[list], stem: str = "summary") -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / f"{stem}.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(table)
    (out_dir / f"{stem}.md").write_text(markdown(header, table))


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
