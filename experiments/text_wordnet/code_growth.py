"""How big an lstm_ae's code gets in its first steps, and what that does to the decoder.

Trains the AE of the WordNet runs (128 units, 5,000 words, Adam 3e-3, clipping 1.0) on 20k
sentences with a bare loop and prints, every 25 steps, the training loss, the gradient norm,
the RMS of the codes and the share of the decoder's initial-state units that are saturated
(|tanh| > 0.99). The batches are the same whatever the options, so losses compare step by
step. Run from the repository root, e.g.:

    python experiments/text_wordnet/code_growth.py --latent 64 --code-norm none
    python experiments/text_wordnet/code_growth.py --latent 64 --code-norm sphere
    python experiments/text_wordnet/code_growth.py --latent 64 --code-norm none --warmup 1000
"""

import argparse
import os
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--latent", type=int, default=64)
    parser.add_argument("--code-norm", choices=["sphere", "none"], default="none")
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--warmup", type=int, default=0, help="linear LR warm-up steps")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "datasets" / "wordnet"))
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    torch.set_num_threads(1)

    from hydra import compose, initialize_config_dir

    from aelab.run import build_datamodule, build_model

    out = Path("/tmp/aelab_code_growth")
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=[
            "data=text", f"data.path={args.data}", "data.vocab_size=5000", "data.limit=20000",
            "model=lstm_ae", "model.width=128", "model.embed_dim=128", "model.dropout=0.1",
            f"model.latent_dim={args.latent}", f"model.code_norm={args.code_norm}",
            f"optimizer.lr={args.lr}", f"data.tokenizer_dir={out}", f"paths.output_dir={out}"])
    torch.manual_seed(0)
    datamodule = build_datamodule(cfg)
    datamodule.setup("fit")
    model = build_model(cfg, datamodule).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    batches = iter(datamodule.train_dataloader())
    for step in range(args.steps):
        batch = next(batches)
        loss = model._step(batch, "train")
        optimizer.zero_grad()
        loss.backward()
        grad = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        for group in optimizer.param_groups:
            group["lr"] = args.lr * min(1.0, (step + 1) / args.warmup) if args.warmup else args.lr
        optimizer.step()
        if step % 25 == 0:
            with torch.no_grad():
                z = model.encode(batch["tokens"], batch["lengths"])
                h0 = torch.tanh(model.decoder.init_state(z))
            print(f"step {step:4d}  loss {loss.item():.3f}  grad norm {grad.item():6.3f}  "
                  f"code RMS {z.pow(2).mean().sqrt().item():6.3f}  "
                  f"saturated h0 {(h0.abs() > 0.99).float().mean().item():.2f}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
