"""The FID / KID table of experiments/image_zoo: samples and reconstructions of each generative
run, measured in the features of the study's classifier.

    python experiments/image_zoo/fid_table.py --name fmnist_cnn --out experiments/image_zoo/fid \
        "conv_vae=RUN" "hvae=RUN" "vqvae + prior=PRIOR_RUN" "vqvae=VQVAE_RUN" ...

Each LABEL=RUN reads the run's eval_metrics.json when eval.py measured it there
(`eval.py metrics.features.run=...`), else its metrics.json (FID measured in train.py's test
stage), and writes <out>.md and <out>.json.
"""

import argparse
import json
from pathlib import Path

COLUMNS = (("fid", "FID of samples"), ("kid", "KID of samples"), ("rfid", "rFID"),
           ("bpd", "bits/dim"), ("psnr", "PSNR (dB)"))


def scores(run: Path, name: str) -> dict:
    for file in ("eval_metrics.json", "metrics.json"):
        path = run / file
        if path.exists():
            metrics = json.loads(path.read_text())
            if any(key.endswith(f"fid_{name}") for key in metrics):
                return metrics
    raise SystemExit(f"{run}: no FID in features '{name}' in eval_metrics.json or metrics.json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="LABEL=RUN_DIR")
    parser.add_argument("--name", required=True, help="metrics.features.name of the measurement")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    rows, kept = [], {}
    for item in args.runs:
        label, run = item.split("=", 1)
        metrics = scores(Path(run), args.name)
        keys = {"fid": f"test/fid_{args.name}", "kid": f"test/kid_{args.name}",
                "kid_std": f"test/kid_{args.name}_std", "rfid": f"test/rfid_{args.name}",
                "bpd": "test/bpd", "psnr": "test/psnr"}
        kept[label] = {short: metrics[key] for short, key in keys.items() if key in metrics}
        cells = []
        for short, _ in COLUMNS:
            value = kept[label].get(short)
            if value is None:
                cells.append("-")
            elif short == "kid":
                cells.append(f"{value:.1f} ± {kept[label]['kid_std']:.1f}")
            else:
                cells.append(f"{value:.2f}" if short in ("bpd", "psnr") else f"{value:.1f}")
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
    header = ["| run | " + " | ".join(title for _, title in COLUMNS) + " |",
              "|---|" + "---:|" * len(COLUMNS)]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".md").write_text("\n".join(header + rows) + "\n")
    args.out.with_suffix(".json").write_text(json.dumps(kept, indent=1) + "\n")
    print("\n".join(header + rows))


if __name__ == "__main__":
    main()
