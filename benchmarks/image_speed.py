"""Training speed of image autoencoders as ratios to a baseline, in one process: images per second.

    python benchmarks/image_speed.py \
        "conv_ae:experiment=history/image_zoo/conv_ae,model.latent_dim=32" \
        "resnet_b16:experiment=history/image_zoo/resnet_dense_batch32_cosine_attention,data.batch_size=16"

Each case is NAME:OVERRIDES (comma-separated Hydra overrides of conf/train.yaml; a recipe with
`experiment=...`), trained with its own batch size (`data.batch_size` of the composed config)
on the same random images (--shape, 28x28 grey by default: the speed of a conv net does not
depend on what the pixels show) by a bare loop: forward, the model's reconstruction loss,
backward, Adam. So the figure is the net's cost at its batch size, not the framework's
(benchmarks/throughput.py measures that; it holds 0.95-1.0). The cases take turns, --images
images each (rounded down to whole batches), for --rounds rounds, so a slow spell of the
machine hits them all; each case's figure is its median round, and the first case is the
baseline of the ratios. "s/epoch" is --train-images over the rate:
the training part of an epoch (experiments/image_zoo: 54,000 Fashion-MNIST images).

experiments/image_zoo uses it to hold a recipe to conv_ae's CPU minutes.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

# benchmarks/common.py: the running script's folder is first on sys.path
from common import RESULTS, offline_env, take_turns, write_run
from throughput import compose, random_images


class Case:
    def __init__(self, spec: str, shape: tuple[int, int, int], tmp: Path):
        from aelab.data.image import to_unit_float
        from aelab.run import build_model

        self.name, overrides = spec.split(":", 1)
        cfg = compose([f"paths.output_dir={tmp}", *filter(None, overrides.split(","))])
        self.batch_size = int(cfg.data.batch_size)
        dm = random_images(shape, 64 * self.batch_size, batch_size=self.batch_size, seed=0)
        dm.setup("fit")
        torch.manual_seed(0)
        self.model = build_model(cfg, dm).train()
        self.model.configure_model()  # as Lightning does before fit: model.compile applies
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.batches = [to_unit_float(b) for b in dm.splits["train"].split(self.batch_size)]
        self.next = 0
        self.rates: list[float] = []

    def run(self, steps: int) -> None:
        start = time.perf_counter()
        for _ in range(steps):
            x = self.batches[self.next % len(self.batches)]
            self.next += 1
            loss = self.model.reconstruction_loss(self.model(x), x)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
        self.rates.append(steps * self.batch_size / (time.perf_counter() - start))


def image_shape(text: str) -> tuple[int, int, int]:
    """--shape: channels,height,width."""
    try:
        channels, height, width = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text} is not channels,height,width (e.g. 3,32,32)") from None
    return channels, height, width


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="+", help="NAME:OVERRIDES; the first is the baseline")
    parser.add_argument("--images", type=int, default=4096,
                        help="images per case and round (steps = images / the case's batch)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--train-images", type=int, default=54000,
                        help="images in a training epoch, for the s/epoch column")
    parser.add_argument("--shape", type=image_shape, default="1,28,28",
                        help="channels,height,width of the images")
    parser.add_argument("--out", type=Path, default=RESULTS / "image_speed.json")
    args = parser.parse_args()
    bad = [spec for spec in args.cases if ":" not in spec]
    if bad:
        parser.error(f"cases {bad} are not NAME:OVERRIDES (e.g. conv_ae:model=conv_ae,data.batch_size=64)")
    os.environ.update(offline_env())
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        cases = [Case(spec, args.shape, Path(tmp) / str(i)) for i, spec in enumerate(args.cases)]
        # the warm-up also takes torch.compile's compilation, where model.compile is on
        take_turns(cases, args.rounds, lambda case: max(1, args.images // case.batch_size), warmup=5)
    base = statistics.median(cases[0].rates)
    results = []
    for case, spec in zip(cases, args.cases, strict=True):
        rate = statistics.median(case.rates)
        results.append({"case": spec, "batch_size": case.batch_size, "images_per_s": round(rate, 1),
                        "ratio": round(rate / base, 3),
                        "train_s_per_epoch": round(args.train_images / rate, 1),
                        "rounds": [round(r, 1) for r in case.rates]})
        print(f"{case.name:>28}: batch {case.batch_size:4d} {rate:8,.0f} img/s  {rate / base:.3f}x"
              f"  {args.train_images / rate:6.1f} s/epoch")
    write_run(args, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
