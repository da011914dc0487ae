"""Training speed of text models as ratios to a baseline, in one process: tokens per second.

    python benchmarks/text_speed.py \
        "lstm_lm:64:model=lstm_lm" \
        "transformer_lm:32:model=transformer_lm,model.width=96,model.embed_dim=96"

Each case is NAME:BATCH:OVERRIDES (comma-separated Hydra overrides of conf/train.yaml). Every
case trains on the same WordNet sentences (--sentences of them, one vocabulary) with a bare
loop (forward, the objective's training loss, backward, the case's optimizer step), so the
figure is the net's and objective's cost, not the framework's (benchmarks/throughput.py
measures that). The cases take turns, --steps steps each, for --rounds rounds, so a slow
spell of the machine hits them all; each case's figure is its median round, and the first
case is the baseline of the ratios.
Tokens are the predicted ones (words and <eos>, no padding), the unit of a perplexity.

experiments/text_wordnet uses it to give the Transformers the LSTMs' wall-clock budget.
--compile NAME[,NAME...] runs those cases' encoder and decoder through torch.compile (inductor,
dynamic shapes: the batches' lengths vary); the compiling happens in the warm-up steps.
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
from common import RESULTS, ROOT, offline_env, take_turns, write_run
from throughput import compose


def training_loss(model, batch: dict) -> torch.Tensor:
    """The objective's training loss on a batch (the KL at full weight for a VAE)."""
    from aelab.models.text.autoencoder import TextAutoencoder
    from aelab.models.text.base import sentence_nll, shift
    from aelab.models.text.vae import TextVAE

    inputs, targets, lengths = shift(batch)
    if isinstance(model, TextVAE):
        posterior = model.posterior(batch["tokens"], batch["lengths"])
        logits = model.decoder(model.word_dropout(inputs, model.word_dropout_p), lengths,
                               posterior.sample())
        kl = model.kl_regulariser.penalty(posterior.kl())
        return sentence_nll(logits, targets).mean() + kl
    if isinstance(model, TextAutoencoder):
        z = model.encode(batch["tokens"], batch["lengths"])
        return sentence_nll(model.decoder(inputs, lengths, z), targets).mean()
    return sentence_nll(model.decoder(inputs, lengths), targets).mean()


class Case:
    def __init__(self, spec: str, data: Path, sentences: int, tmp: Path, compiled: set[str]):
        from hydra.utils import instantiate

        from aelab.data.text import TextDataModule
        from aelab.run import build_model

        self.name, batch, overrides = spec.split(":", 2)
        dm = TextDataModule(path=str(data), limit=sentences, batch_size=int(batch), seed=0,
                            tokenizer_dir=str(tmp), vocab_size=5000)
        dm.prepare_data()
        dm.setup("fit")
        cfg = compose(["data=toy_text", f"paths.output_dir={tmp}",
                       *filter(None, overrides.split(","))])
        torch.manual_seed(0)
        self.model = build_model(cfg, dm).train()
        if self.name in compiled:
            for part in ("encoder", "decoder"):
                if hasattr(self.model, part):
                    setattr(self.model, part, torch.compile(getattr(self.model, part), dynamic=True))
        # the case's own optimizer (conf/optimizer: Adam unless the overrides say otherwise),
        # so that its implementation (`optimizer.fused`) is timed too
        self.optimizer = instantiate(cfg.optimizer)(self.model.parameters())
        self.batches = list(dm.train_dataloader())
        self.next = 0
        self.rates: list[float] = []

    def run(self, steps: int) -> None:
        from aelab.data.text import PAD_ID

        tokens, start = 0, time.perf_counter()
        for _ in range(steps):
            batch = self.batches[self.next % len(self.batches)]
            self.next += 1
            loss = training_loss(self.model, batch)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            tokens += int((batch["tokens"][:, 1:] != PAD_ID).sum())
        self.rates.append(tokens / (time.perf_counter() - start))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="+", help="NAME:BATCH:OVERRIDES; the first is the baseline")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets" / "wordnet")
    parser.add_argument("--sentences", type=int, default=20000)
    parser.add_argument("--steps", type=int, default=150, help="timed steps per case and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--compile", default="", help="comma list of case NAMEs to torch.compile")
    parser.add_argument("--out", type=Path, default=RESULTS / "text_speed.json")
    args = parser.parse_args()
    if not args.data.is_dir():
        parser.error(f"--data {args.data} is not a folder (the WordNet sentences, column `text`)")
    os.environ.update(offline_env())
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        compiled = set(filter(None, args.compile.split(",")))
        cases = [Case(spec, args.data, args.sentences, Path(tmp) / str(i), compiled)
                 for i, spec in enumerate(args.cases)]
        if unknown := compiled - {case.name for case in cases}:
            parser.error(f"--compile names no case: {sorted(unknown)}")
        take_turns(cases, args.rounds, lambda case: args.steps, warmup=10)
    base = statistics.median(cases[0].rates)
    results = []
    for case, spec in zip(cases, args.cases, strict=True):
        rate = statistics.median(case.rates)
        results.append({"case": spec, "tokens_per_s": round(rate), "ratio": round(rate / base, 3),
                        "rounds": [round(r) for r in case.rates]})
        print(f"{case.name:>24}: {rate:9,.0f} tokens/s  {rate / base:.3f}x")
    write_run(args, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
