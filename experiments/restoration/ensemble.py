"""Test several restoration runs as one model: their outputs averaged (optionally each
self-ensembled over the 8 flips and quarter turns). How far apart are the nets' errors?

    R=outputs/experiments/restoration
    python experiments/restoration/ensemble.py $R/upscale4_lowres $R/upscale4_psnr_depth3 \\
        [--self-ensemble] [--out experiments/restoration/ensemble.json]

The runs must restore the same test images the same way (same data, corruption and
`model.residual`); the first run's data module and metrics score the average. Prints the
test metrics; --out adds them to a JSON file under the ensemble's name (run names joined
by "+", "+se" for --self-ensemble). CPU budget of an ensemble: the sum of its runs'.
"""

import argparse
import json
from pathlib import Path

import lightning as L
import torch

from aelab.run import load_run, scalar_metrics

MUST_MATCH = ("data", "corruption")
# data settings that leave the test images and their degradation as they are
TRAINING_ONLY = ("augment", "path", "seed", "batch_size", "num_workers")


def load(run: Path, self_ensemble: bool):
    cfg, datamodule, model, _ = load_run(str(run))
    if not getattr(model, "residual", False):
        raise SystemExit(f"{run}: not a residual restoration run (model.residual=true)")
    model.self_ensemble = self_ensemble
    return cfg, datamodule, model.eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--self-ensemble", action="store_true")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if len(args.runs) < 2:
        parser.error("name two runs or more")
    cfg, datamodule, host = load(args.runs[0], args.self_ensemble)
    others = []
    for run in args.runs[1:]:
        other_cfg, _, model = load(run, args.self_ensemble)
        for key in MUST_MATCH:
            mine = {k: v for k, v in cfg[key].items() if k not in TRAINING_ONLY}
            theirs = {k: v for k, v in other_cfg[key].items() if k not in TRAINING_ONLY}
            if mine != theirs:
                raise SystemExit(f"{run} differs from {args.runs[0]} in `{key}`: {theirs} != {mine}")
        others.append(model)
    host_output = host.output  # the bound method, before it is replaced below

    def mean_output(inputs: torch.Tensor) -> torch.Tensor:
        # residual outputs (input + correction, unclipped), so the mean is the mean correction
        outs = [host_output(inputs)] + [m.output(inputs) for m in others]
        return torch.stack(outs).mean(0)

    host.output = mean_output
    trainer = L.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False)
    scores = scalar_metrics(trainer.test(host, datamodule=datamodule, verbose=False)[0])
    name = "+".join(run.name for run in args.runs) + ("+se" if args.self_ensemble else "")
    print(json.dumps({name: scores}, indent=1))
    if args.out:
        table = json.loads(args.out.read_text()) if args.out.exists() else {}
        table[name] = scores
        args.out.write_text(json.dumps(table, indent=1) + "\n")


if __name__ == "__main__":
    main()
