"""Screen a Transformer LM recipe cheaply: train it with a bare loop for `steps` steps on the
WordNet sentences (one thread) and print its validation perplexity.

    python experiments/text_wordnet/screen/screen.py NAME [key=value ...] -- [hydra overrides]
    e.g. ... r_b32 batch=32 steps=4440 -- model.decoder.positions=rotary

key=value: steps (2551: one epoch of 64), batch (64), lr (3e-3), beta2 (0.999), warmup (a
fraction of the steps, 0), decay (none | cos | lin, after the warm-up; scheduler=warmup's
schedule, `aelab.models.optim.WarmupDecay`), init (default | gpt: N(0, 0.02) weights,
residual projections scaled by 1/sqrt(2 depth), as GPT-2 / nanoGPT). The base is the first
round's LM (2 blocks of 96 units, 96-d embeddings, learned positions) without dropout; the
hydra overrides change it. Gradient clipping 1.0 as the recipes.

This is how round 2 of experiments/text_wordnet's Transformers was chosen: the runs and their
results are in screen.txt beside this file. One epoch is the regime that matters at this
budget (the models are far from converged), but a screen ranks recipes; the table's numbers
come from full runs.
"""

import math
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from aelab.data.text import PAD_ID, TextDataModule
from aelab.models.optim import WarmupDecay
from aelab.models.text.base import sentence_nll, shift
from aelab.run import build_model

ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT.parent / "shared" / "datasets" / "wordnet"


def compose(overrides: list[str]):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return hydra_compose(config_name="train", overrides=overrides)


def gpt_init(net: nn.Module, depth: int) -> None:
    for module in net.modules():
        if isinstance(module, nn.Linear | nn.Embedding):
            nn.init.normal_(module.weight, std=0.02)
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)
    for name, p in net.named_parameters():
        if name.endswith("attention.out.weight") or name.endswith("mlp.2.weight"):
            nn.init.normal_(p, std=0.02 / math.sqrt(2 * depth))


def nll(net, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed NLL per sentence of a batch, and its targets."""
    inputs, targets, lengths = shift(batch)
    return sentence_nll(net.decoder(inputs, lengths), targets), targets


def main() -> None:
    args = sys.argv[1:]
    split = args.index("--") if "--" in args else len(args)
    name, opts, overrides = args[0], dict(a.split("=") for a in args[1:split]), args[split + 1:]
    steps, batch = int(opts.get("steps", 2551)), int(opts.get("batch", 64))
    lr, warmup = float(opts.get("lr", 3e-3)), float(opts.get("warmup", 0))
    decay = {"none": "constant", "cos": "cosine", "lin": "linear"}[opts.get("decay", "none")]
    torch.set_num_threads(1)
    tmp = tempfile.mkdtemp()
    dm = TextDataModule(path=str(DATA), limit=None, batch_size=batch, seed=0, tokenizer_dir=tmp,
                        vocab_size=5000)
    dm.prepare_data()
    dm.setup("fit")
    cfg = compose(["data=toy_text", f"paths.output_dir={tmp}",
                   "model=transformer_lm", "model.width=96",
                   "model.embed_dim=96", "model.dropout=0.0", "model.decoder.positions=learned",
                   *overrides])
    torch.manual_seed(0)
    net = build_model(cfg, dm)
    if opts.get("init", "default") == "gpt":
        gpt_init(net, cfg.model.depth)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr,
                                 betas=(0.9, float(opts.get("beta2", 0.999))))

    schedule = WarmupDecay(optimizer, run_steps=steps, warmup=warmup, decay=decay, final=0.0)
    start, step = time.perf_counter(), 0
    net.train()
    while step < steps:
        for b in dm.train_dataloader():
            loss = nll(net, b)[0].mean()
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            step += 1
            if step >= steps:
                break
    net.eval()
    total, tokens = 0.0, 0
    with torch.no_grad():
        for b in dm.val_dataloader():
            sentences, targets = nll(net, b)
            total += float(sentences.sum())
            tokens += int((targets != PAD_ID).sum())
    print(f"{name}: val PPL {math.exp(total / tokens):.2f} after {steps} steps "
          f"({time.perf_counter() - start:.0f} s) {opts} {overrides}", flush=True)


if __name__ == "__main__":
    main()
