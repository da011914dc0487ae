"""The markdown tables of the benchmarks' JSON results: <name>.md beside each <name>.json, so a
README links a table and never types a figure (issue #38). Every benchmark script writes its
table when it writes its JSON (common.write_results); this re-renders them from the JSON alone,
without measuring anything:

    python benchmarks/tables.py [benchmarks/results/throughput.json ...]

Only the results of throughput.py, startup.py, memory.py, sampling.py and ddp.py have a table
here; the other JSON files are left alone.
"""

import json
import sys
from pathlib import Path

# benchmarks/common.py: the running script's folder is first on sys.path
from common import RESULTS

from aelab.compare import markdown


def throughput(data: dict) -> str:
    header = ["case", "unit", "ours", "bare", "ours_over_bare", "pairs", "loader",
              "loader_over_ours"]
    rows = [[r["case"], r["unit"], r["ours"], r["bare"], r["ours_over_bare"],
             f"{min(r['ours_over_bare_pairs']):.2f}-{max(r['ours_over_bare_pairs']):.2f} "
             f"({len(r['ours_over_bare_pairs'])})", r["loader"], r["loader_over_ours"]]
            for r in data["results"]]
    settings = data["settings"]
    return (f"Training throughput, our `trainer.fit` against a bare PyTorch loop (benchmarks/"
            f"throughput.py; {data['machine']['threads']} threads, torch "
            f"{data['machine']['torch']}, batch {settings['batch_size']}). `ours` and `bare` are "
            "the rates of each side's median epoch; `ours / bare` is the median of the "
            "epoch pairs, whose range (and count) follows.\n\n"
            + markdown(header, rows,
                       formats={"ours": ",.0f", "bare": ",.0f", "ours_over_bare": ".3f",
                                "loader": ",.0f", "loader_over_ours": ",.0f"},
                       titles={"ours_over_bare": "ours / bare (median pair)",
                               "pairs": "pairs' range (count)", "loader": "loader alone",
                               "loader_over_ours": "loader / ours"}))


def startup(data: dict) -> str:
    rows = [["`python train.py --help` (best of 3)", data["help_s"]]]
    for cache in ("cold", "warm"):
        run = data[f"{cache}_cache"]
        rows += [[f"launch -> first training step, {cache} cache", run["first_step_s"]],
                 [f"the whole one-step run, {cache} cache", run["one_step_run_wall_s"]]]
    return ("Start-up (benchmarks/startup.py): Fashion-MNIST, conv_ae; the cold launch decodes "
            "the images into the cache, the warm one reads it.\n\n"
            + markdown(["", "seconds"], rows, formats={"seconds": ".2f"}))


def memory(data: dict) -> str:
    rows = [["first run (decodes the PNGs into the uint8 cache)", data["decode"]["peak_rss_mib"],
             data["decode"]["wall_s"]],
            ["second run (reads the cache)", data["cached"]["peak_rss_mib"],
             data["cached"]["wall_s"]]]
    return ("Peak resident memory (benchmarks/memory.py): `train.py model=conv_ae data=cifar10` "
            "on a CIFAR-10-sized dataset of random PNGs, `--steps` training steps (50 by "
            "default). The training images themselves are "
            f"{data['train_images_uint8_mib']:,.0f} MiB as uint8.\n\n"
            + markdown(["", "peak_rss_mib", "wall_s"], rows,
                       formats={"peak_rss_mib": ",.0f", "wall_s": ".0f"},
                       titles={"peak_rss_mib": "peak resident memory (MiB)",
                               "wall_s": "wall seconds"}))


def sampling(data: dict) -> str:
    columns = ["name", "run", "options", "samples", "sample_s", "samples_per_s", "vs_baseline",
               "baseline", "load_s"]
    rows = [[", ".join(f"{k}={v}" for k, v in row["options"].items()) if key == "options"
             else row[key] for key in columns] for row in data["results"]]
    return (f"Sampling speed on this machine's CPU, {data['settings']['threads']} torch "
            "thread(s); written by benchmarks/sampling.py with its JSON (the commands: "
            "experiments/performance).\n\n"
            + markdown(columns, rows,
                       formats={"samples": ",", "sample_s": ".1f", "samples_per_s": ",.0f",
                                "vs_baseline": ".2f", "load_s": ".1f"},
                       titles={"name": "case", "sample_s": "seconds",
                               "samples_per_s": "samples / s", "vs_baseline": "x the first",
                               "baseline": "first of its modality", "load_s": "loading s"}))


def ddp(data: dict) -> str:
    columns = ["case", "global_step", "test/psnr", "test/mse", "test/loss"]
    rows = [[row[key] for key in columns] for row in data["results"]]
    return ("DDP against one process (benchmarks/ddp.py): "
            + " ".join(f"`{o}`" for o in data["common"]) + ", then each case's overrides; the "
            "test metrics of each, to nine significant digits.\n\n"
            + markdown(columns, rows, formats={"test/psnr": ".9g", "test/mse": ".9g",
                                               "test/loss": ".9g"},
                       titles={"global_step": "steps"}))


TABLES = {"throughput": throughput, "startup": startup, "memory": memory, "sampling": sampling,
          "ddp": ddp}


def renderer(path: Path):
    """The table of a results file by its name: throughput.json, throughput_<anything>.json, ..."""
    return next((render for name, render in TABLES.items()
                 if path.stem == name or path.stem.startswith(name + "_")), None)


def write_table(path: Path, data: dict) -> Path | None:
    """<path>.md from the results in <path>.json, if that benchmark has a table."""
    render = renderer(path)
    if render is None:
        return None
    out = path.with_suffix(".md")
    out.write_text(render(data))
    return out


def main() -> int:
    paths = [Path(p) for p in sys.argv[1:]] or [RESULTS / f"{name}.json" for name in TABLES]
    for path in paths:
        if renderer(path) is None:
            sys.exit(f"{path}: no table for {path.stem} (one of: {', '.join(TABLES)})")
        print(f"written: {write_table(path, json.loads(path.read_text()))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
