"""Sampling speed: seconds to draw N new images or sentences from finished runs, on this machine.

    python benchmarks/sampling.py \
        "ae_mixture:outputs/experiments/generation/images/conv_ae" \
        "ae_latent_diffusion:outputs/experiments/generation/images/conv_ae_ld" \
        "lm:outputs/experiments/generation/text/transformer_lm:decoding=sample" \
        "ae_latent_diffusion_text:outputs/experiments/generation/text/transformer_ae_ld:decoding=sample,top_p=0.5"

Each case is NAME:RUN_DIR[:OPTIONS] (OPTIONS: comma-separated generate.py settings of a text
draw: decoding, top_p, temperature, beam). A case's run is loaded (its config, data and best
checkpoint, as generate.py loads it), a small draw warms it up uncounted, and then N samples
are drawn as generate.py draws them (images in batches of --batch-size through
aelab.generation.image.sample_batches: the prior, or the Gaussian mixture fitted to the
training codes of a model without one, mixture fit included; sentences through
aelab.generation.text.run_task, the run's own decoding). The figure is the wall time of that
draw, with no grid or score written. Image and text cases are each compared with the first
case of their modality (the ratio), measured in the same process on the same threads, so the
ratio holds across machines where the seconds do not.

The latent-diffusion priors are what issue #37 asked to sample in minutes on a CPU;
experiments/generation says which runs these are.
"""

import argparse
import sys
import time
from pathlib import Path

import torch

# benchmarks/common.py: the running script's folder is first on sys.path
from common import RESULTS, ROOT, write_run

TEXT_OPTIONS = {"decoding": str, "top_p": float, "temperature": float, "beam": int}


def parse_case(spec: str) -> tuple[str, Path, dict]:
    name, _, rest = spec.partition(":")
    run, _, options = rest.partition(":")
    if not name or not run:
        raise argparse.ArgumentTypeError(f"{spec}: give NAME:RUN_DIR[:OPTIONS]")
    settings = {}
    for item in filter(None, options.split(",")):
        key, _, value = item.partition("=")
        if key not in TEXT_OPTIONS:
            raise argparse.ArgumentTypeError(f"{spec}: {key} is not one of "
                                             f"{', '.join(TEXT_OPTIONS)}")
        settings[key] = TEXT_OPTIONS[key](value)
    path = Path(run) if Path(run).is_absolute() else ROOT / run
    return name, path, settings


def draw(model, datamodule, n: int, batch_size: int, seed: int, options: dict) -> int:
    """Draw n samples as generate.py would; return how many came back."""
    from aelab.generation import image, text

    if datamodule.modality == "text":
        return len(text.run_task("sample", model, datamodule, n=n, seed=seed, **options))
    if options:
        raise SystemExit(f"{', '.join(options)}: text decoding options, given to an image run")
    return sum(len(images) for images in image.sample_batches(model, datamodule, n, seed,
                                                              batch_size))


def measure(name: str, run: Path, options: dict, n: int, warmup: int, batch_size: int) -> dict:
    from aelab.run import load_run

    start = time.perf_counter()
    _, datamodule, model, _ = load_run(str(run))
    model = model.eval()
    load_s = time.perf_counter() - start
    draw(model, datamodule, warmup, batch_size, seed=1, options=options)
    start = time.perf_counter()
    drawn = draw(model, datamodule, n, batch_size, seed=0, options=options)
    seconds = time.perf_counter() - start
    if drawn != n:
        raise SystemExit(f"{name}: asked for {n} samples, got {drawn}")
    return {"name": name, "run": str(run.relative_to(ROOT)) if run.is_relative_to(ROOT) else str(run),
            "model": type(model).__name__,
            "modality": datamodule.modality, "options": options, "samples": n,
            "load_s": round(load_s, 2), "sample_s": round(seconds, 2),
            "samples_per_s": round(n / seconds, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="+", type=parse_case,
                        help="NAME:RUN_DIR[:OPTIONS]; the first of each modality is its baseline")
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--warmup", type=int, default=64, help="uncounted samples first")
    parser.add_argument("--batch-size", type=int, default=500,
                        help="images per batch through the prior and the decoder; text draws "
                             "all at once, as generate.py does")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: torch's own choice)")
    parser.add_argument("--out", type=Path, default=RESULTS / "sampling.json")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    for _, run, _ in args.cases:
        if not (run / ".hydra" / "config.yaml").is_file():
            raise SystemExit(f"{run}: not a finished train.py run dir (no .hydra/config.yaml)")

    from aelab.errors import exit_on_user_error

    results, baseline = [], {}
    for name, run, options in args.cases:
        with exit_on_user_error():  # a run it cannot load or sample: one line, not a traceback
            row = measure(name, run, options, args.samples, args.warmup, args.batch_size)
        first = baseline.setdefault(row["modality"], row)
        row["vs_baseline"] = round(row["sample_s"] / first["sample_s"], 2)
        row["baseline"] = first["name"]
        results.append(row)
        print(f"{name:28s} {row['modality']:5s} {args.samples} samples in {row['sample_s']:8.1f} s "
              f"({row['samples_per_s']:.0f}/s; {row['vs_baseline']:.2f}x {first['name']}); "
              f"loading {row['load_s']:.1f} s")
    args.threads = torch.get_num_threads()
    args.cases = [":".join([name, row["run"], *([",".join(f"{k}={v}" for k, v in options.items())]
                                                 if options else [])])
                  for (name, _, options), row in zip(args.cases, results, strict=True)]
    write_run(args, results)  # and its table, sampling.md (benchmarks/tables.py)
    return 0


if __name__ == "__main__":
    sys.exit(main())
