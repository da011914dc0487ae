"""Learning curves from the runs' TensorBoard events: one PNG per scalar tag, one line per run.

Each run logs to `<run>/tensorboard/events.out.tfevents.*` (conf/logger/tensorboard.yaml). A
resumed run adds a new events file; where two files hold the same step, the later file wins,
so a curve is the history the run's final weights actually went through.
"""

from pathlib import Path


def default_curves(metric: str | None) -> list[str]:
    """val/loss, and test/psnr -> val/psnr: the curve of the metric the table is sorted by."""
    tags = ["val/loss"]
    if metric and metric.startswith("test/") and metric != "test/loss":
        tags.append("val/" + metric.removeprefix("test/"))
    return tags


def read_scalars(run: Path, tag: str) -> list[tuple[int, float]]:
    """(step, value) of `tag` in a run's events, sorted by step; [] when it never logged it."""
    # Imported here: TensorBoard's event reader is heavy and only compare.py needs it.
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    by_step: dict[int, float] = {}
    files = sorted((run / "tensorboard").glob("events.out.tfevents.*"),
                   key=lambda p: (p.stat().st_mtime, p.name))
    for events in files:
        acc = EventAccumulator(str(events), size_guidance={"scalars": 0})  # 0: keep every point
        acc.Reload()
        if tag in acc.Tags().get("scalars", []):
            by_step.update({e.step: e.value for e in acc.Scalars(tag)})
    return sorted(by_step.items())


def plot_curves(out_dir: Path, runs: list[tuple[str, Path]], tag: str) -> Path | None:
    """PNG of `tag` against the training step for each (label, run); None when no run has it."""
    curves = [(label, read_scalars(run, tag)) for label, run in runs]
    curves = sorted((label, points) for label, points in curves if points)
    if not curves:
        return None
    from aelab.compare import new_axes, save_plot

    fig, ax = new_axes((7, 4.5), len(curves))
    for label, points in curves:
        steps = [step for step, _ in points]
        values = [value for _, value in points]
        ax.plot(steps, values, marker="." if len(points) < 30 else None, label=label)
    path = out_dir / f"curves_{tag.replace('/', '_')}.png"
    # Beyond 16 runs a legend hides the curves.
    return save_plot(fig, ax, path, "step", tag, legend_size=6 if len(curves) <= 16 else None)
