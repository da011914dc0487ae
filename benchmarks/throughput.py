"""Training throughput: our Lightning run against a bare PyTorch loop, and the loader alone.

    python benchmarks/throughput.py   # CPU: conv_ae 28x28x1 and 32x32x3, lstm_vae, transformer_vae
    python benchmarks/throughput.py --accelerator gpu --precision bf16-mixed --compile

For each case, in one process and on the same net (same initial weights), batch size and
uint8 data tensors:
  (a) `trainer.fit` of our LightningModule with the run's usual callbacks, loggers and
      metrics (TensorBoard, checkpoints, epoch timer, NaN check, progress bar);
  (b) a bare loop: permuted index batches, forward, loss, backward, optimizer step;
  (c) the DataModule's train loader alone (batches to the device, uint8 -> float).
(a) and (b) alternate epoch by epoch (a bare epoch runs right after each of ours, outside
our clock), so that the machine's drift hits both alike, and the ratio is the median over
these pairs; the first epoch of each side is warm-up and not counted. Validation is off in both: this measures
training. Prints a table and writes the figures to --out (JSON).
"""

import argparse
import copy
import itertools
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

# benchmarks/common.py: the running script's folder is first on sys.path
from common import RESULTS, ROOT, offline_env, write_results


def compose(overrides: list[str]):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return hydra_compose(config_name="train", overrides=overrides)


class EpochClock:
    """Seconds of each training epoch of a fit (a Lightning callback, built lazily)."""

    @staticmethod
    def make(after_epoch=None):
        import lightning as L

        class Clock(L.Callback):
            def __init__(self):
                self.seconds: list[float] = []
                self.after_epoch = after_epoch

            def on_train_epoch_start(self, trainer, pl_module):
                self._sync(pl_module)
                self.start = time.perf_counter()

            def on_train_epoch_end(self, trainer, pl_module):
                self._sync(pl_module)
                self.seconds.append(time.perf_counter() - self.start)
                if self.after_epoch:  # a bare epoch right after ours, outside our clock
                    self.after_epoch()

            @staticmethod
            def _sync(pl_module):
                if pl_module.device.type == "cuda":
                    torch.cuda.synchronize()

        return Clock()


def lightning_fit(cfg, model, datamodule, epochs: int, after_epoch=None) -> list[float]:
    """Seconds per training epoch of our trainer.fit, as train.py builds it."""
    from omegaconf import open_dict

    from aelab.run import build_trainer

    with open_dict(cfg):
        cfg.trainer.max_epochs = epochs
        cfg.trainer.limit_val_batches = 0
        cfg.trainer.num_sanity_val_steps = 0
        cfg.trainer.enable_model_summary = False
    clock = EpochClock.make(after_epoch)
    trainer = build_trainer(cfg, [clock])
    trainer.fit(model, datamodule=datamodule)
    return clock.seconds


def fits_of(cfg, template, datamodule):
    """`ours(epochs, after_epoch)`: a fresh fit of a copy of `template`, seconds per epoch."""
    def ours(epochs: int, after_epoch) -> list[float]:
        return lightning_fit(copy.deepcopy(cfg), copy.deepcopy(template), datamodule, epochs,
                             after_epoch)

    return ours


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


# -- images ------------------------------------------------------------------------------------
def random_images(shape: tuple[int, int, int], n: int, **datamodule_kwargs):
    """The usual ImageDataModule over fixed random uint8 images (seed 0): `n` for training,
    256 each for validation and test. A conv net's speed does not depend on the pixels."""
    from aelab.data.image import ImageDataModule

    class TensorImages(ImageDataModule):
        def load_splits(self):
            gen = torch.Generator().manual_seed(0)
            return {role: torch.randint(0, 256, (n if role == "train" else 256, *shape),
                                        dtype=torch.uint8, generator=gen)
                    for role in ("train", "val", "test")}

    return TensorImages(**datamodule_kwargs)


def image_case(shape: tuple[int, int, int], n: int, args, tmp: Path) -> dict:
    from aelab.data.image import to_unit_float
    from aelab.run import build_model

    overrides = ["model=conv_ae", f"trainer.accelerator={args.accelerator}",
                 f"trainer.precision={args.precision}", f"paths.output_dir={tmp}",
                 "trainer.log_every_n_steps=50", f"model.compile={str(args.compile).lower()}",
                 f"model.net.channels_last={str(args.channels_last).lower()}"]
    cfg = compose(overrides)
    dm = random_images(shape, n, batch_size=args.batch_size, seed=0,
                       on_device="auto" if args.accelerator == "gpu" else False)
    dm.setup("fit")
    torch.manual_seed(0)
    template = build_model(cfg, dm)
    device = torch.device("cuda" if args.accelerator == "gpu" else "cpu")

    def make_bare():
        """One bare epoch per call, on its own copy of the net and optimizer."""
        net = copy.deepcopy(template).to(device)
        if args.channels_last:
            net = net.to(memory_format=torch.channels_last)
        if args.compile:
            net.compile()
        opt = torch.optim.Adam(net.parameters(), lr=cfg.optimizer.lr)
        images = dm.splits["train"].to(device)
        autocast = torch.autocast(device.type, dtype=torch.bfloat16,
                                  enabled=args.precision.startswith("bf16"))
        epochs = itertools.count()  # each bare epoch shuffles with its own seed

        def one_epoch() -> float:
            sync(device)
            start = time.perf_counter()
            order = torch.randperm(len(images), generator=torch.Generator().manual_seed(next(epochs)))
            for idx in order.split(args.batch_size):
                if len(idx) < args.batch_size:
                    break  # like the loader: no ragged last batch in training
                x = to_unit_float(images[idx.to(device)])
                if args.channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                with autocast:
                    loss = net.reconstruction_loss(net(x), x)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            sync(device)
            return time.perf_counter() - start

        return one_epoch

    def loader() -> float:
        batches = 0
        sync(device)
        start = time.perf_counter()
        for batch in dm.train_dataloader():
            dm.on_after_batch_transfer(batch.to(device, non_blocking=True), 0)
            batches += 1
        sync(device)
        return batches * args.batch_size / (time.perf_counter() - start)

    per_epoch = (n // args.batch_size) * args.batch_size
    return compare(f"conv_ae {shape[1]}x{shape[2]}x{shape[0]}", "img/s", per_epoch,
                   fits_of(cfg, template, dm), make_bare, loader, args)


# -- text --------------------------------------------------------------------------------------
def text_case(args, tmp: Path, model: str = "lstm_vae") -> dict:
    """A sentence VAE (`model`: lstm_vae, transformer_vae) on WordNet, 128 units."""
    from aelab.data.text import PAD_ID, TextDataModule, ToyTextDataModule
    from aelab.models.text.base import sentence_nll, shift
    from aelab.run import build_model

    common = dict(batch_size=64, seed=0, tokenizer_dir=str(tmp), vocab_size=5000)
    if args.text_data != "toy" and Path(args.text_data).is_dir():
        dm = TextDataModule(path=args.text_data, limit=args.text_sentences, **common)
        data = Path(args.text_data).name
    else:
        dm, data = ToyTextDataModule(num_train=args.text_sentences, **common), "toy_text"
    dm.prepare_data()
    dm.setup("fit")
    cfg = compose([f"model={model}", "data=toy_text", f"trainer.accelerator={args.accelerator}",
                   f"trainer.precision={args.precision}", f"paths.output_dir={tmp}",
                   "model.width=128", "model.embed_dim=128"])
    torch.manual_seed(0)
    template = build_model(cfg, dm)
    device = torch.device("cuda" if args.accelerator == "gpu" else "cpu")
    batches = list(dm.train_dataloader())
    tokens = sum(int((b["tokens"][:, 1:] != PAD_ID).sum()) for b in batches)
    total_steps = len(batches) * (args.epochs + 1)  # the KL warm-up's run, as Lightning's

    def make_bare():
        """One bare epoch per call, on its own copy of the net and optimizer."""
        net = copy.deepcopy(template).to(device)
        opt = torch.optim.Adam(net.parameters(), lr=cfg.optimizer.lr)
        state = {"step": 0}

        def one_epoch() -> float:
            step = state["step"]
            sync(device)
            start = time.perf_counter()
            for batch in dm.train_dataloader():
                batch = {k: v.to(device) for k, v in batch.items()}
                inputs, targets, lengths = shift(batch)
                posterior = net.posterior(batch["tokens"], batch["lengths"])
                z = posterior.sample()
                logits = net.decoder(net.word_dropout(inputs, net.word_dropout_p), lengths, z)
                weight = net.kl_regulariser.weight(step, total_steps)
                loss = sentence_nll(logits, targets).mean() + weight * net.kl_regulariser.penalty(
                    posterior.kl())
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                step += 1
            state["step"] = step
            sync(device)
            return time.perf_counter() - start

        return one_epoch

    def loader() -> float:
        start = time.perf_counter()
        for batch in dm.train_dataloader():
            {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        sync(device)
        return tokens / (time.perf_counter() - start)

    return compare(f"{model} on {data} ({len(batches)} batches of 64)", "tokens/s", tokens,
                   fits_of(cfg, template, dm), make_bare, loader, args)


# -- the comparison ----------------------------------------------------------------------------
def compare(name: str, unit: str, per_epoch: int, ours, make_bare, loader, args) -> dict:
    """Epoch pairs: each of our epochs is followed at once by a bare epoch, so a slow spell
    of the machine (this VM's epochs scatter by +-20%) hits both sides of a pair alike."""
    ours_s, bare_s = [], []
    for _ in range(args.rounds):
        bare_epoch, paired = make_bare(), []
        # +1: the first epoch of each side is warm-up (allocations, autotuning, compile).
        times = ours(args.epochs + 1, lambda: paired.append(bare_epoch()))  # noqa: B023
        ours_s += times[1:]
        bare_s += paired[1:]
    pair_ratios = sorted(b / o for o, b in zip(ours_s, bare_s, strict=True))
    loader_rate = max(loader() for _ in range(3))
    # The median epoch gives the rates; the headline ratio is the median of the epoch pairs'.
    ours_rate = per_epoch / sorted(ours_s)[len(ours_s) // 2]
    bare_rate = per_epoch / sorted(bare_s)[len(bare_s) // 2]
    ratio = pair_ratios[len(pair_ratios) // 2]
    result = {"case": name, "unit": unit, "ours": ours_rate, "bare": bare_rate,
              "loader": loader_rate, "ours_over_bare": ratio,
              "ours_over_bare_pairs": pair_ratios, "loader_over_ours": loader_rate / ours_rate,
              "ours_epoch_s": ours_s, "bare_epoch_s": bare_s}
    print(f"{name:38s} ours {ours_rate:10.0f} {unit}  bare {bare_rate:10.0f}  "
          f"loader {loader_rate:12.0f}  ours/bare {ratio:5.3f} (pairs {pair_ratios[0]:.3f}-"
          f"{pair_ratios[-1]:.3f})  loader/ours {loader_rate / ours_rate:7.1f}", flush=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accelerator", default="cpu", choices=["cpu", "gpu"])
    parser.add_argument("--precision", default="32-true", help="e.g. bf16-mixed on a GPU")
    parser.add_argument("--compile", action="store_true", help="torch.compile the nets")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--images", type=int, default=4096, help="training images per epoch")
    parser.add_argument("--text-sentences", type=int, default=6400)
    parser.add_argument("--text-data", default=str(ROOT.parent / "shared" / "datasets" / "wordnet"),
                        help="a text dataset folder (column `text`), or 'toy' for toy_text")
    parser.add_argument("--epochs", type=int, default=6, help="timed epoch pairs per round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--cases", default="28,32,text,transformer",
                        help="comma list of 28, 32, text (lstm_vae), transformer (transformer_vae)")
    parser.add_argument("--out", type=Path, default=RESULTS / "throughput.json")
    args = parser.parse_args()

    os.environ.update(offline_env())  # this process loads the text data itself
    torch.set_num_threads(args.threads)
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        cases = args.cases.split(",")
        if "28" in cases:
            results.append(image_case((1, 28, 28), args.images, args, Path(tmp) / "28"))
        if "32" in cases:
            results.append(image_case((3, 32, 32), args.images, args, Path(tmp) / "32"))
        if "text" in cases:
            results.append(text_case(args, Path(tmp) / "text"))
        if "transformer" in cases:
            results.append(text_case(args, Path(tmp) / "transformer", "transformer_vae"))
    machine = {"cpu_count": os.cpu_count(), "threads": args.threads, "torch": torch.__version__,
               "platform": platform.platform(),
               "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None}
    # Paths relative to the repo, so the committed results name no machine's folders.
    settings = {k: (os.path.relpath(v, ROOT) if k in ("out", "text_data") and v != "toy" else v)
                for k, v in vars(args).items()}
    write_results(args.out, {"machine": machine, "settings": settings, "results": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
