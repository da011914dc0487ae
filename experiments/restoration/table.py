"""Restoration nets against the classical methods, on the same test images and the same noise.

    python experiments/restoration/table.py --classical experiments/restoration/classical_photos.json \\
        --runs outputs/restoration/photos_* --name photos

For each run (a train.py run dir trained with corruption=gaussian or corruption=downsample):
- denoising: the net restores exactly the noisy images classical.py gave BM3D and NLM (the
  same seeded subset, the same seeded noise), so the rows compare like with like; the run's
  own test/psnr over the whole test split (its own seeded noise) is listed beside it;
- super-resolution: the net on the whole test split, RGB PSNR and Y-channel PSNR (border =
  factor) against bicubic, as in the run's test metrics.
CPU minutes are the run's training time (metrics.json). Writes <name>.json and <name>.md
(the table) and crops_<name>_<run>.png: one column per image (the most detailed test
images, then the two flattest), rows: input (for upscaling: the low-resolution pixels
enlarged), BM3D or bicubic, the net, the original. With `--merge`, the rows join those
already in <name>.json (a run of the same name replaced, new ones appended), so runs trained
in another session, whose run dirs are gone, keep their rows.
"""

import argparse
import json
from pathlib import Path

import torch
import torch.nn.functional as F

from aelab.callbacks.image_grid import interleave_rows, make_grid
from aelab.data.corruption import Downsample, GaussianNoise
from aelab.generation.image_file import save_image
from aelab.run import load_run
from experiments.restoration.classical import add_noise, denoisers, psnr, psnr_y, test_subset

HERE = Path(__file__).parent


@torch.no_grad()
def restore(model, images: torch.Tensor) -> torch.Tensor:
    return torch.cat([model(batch) for batch in images.split(256)])


def save_crops(groups: list[torch.Tensor], path: Path, scale: int = 4) -> None:
    """Rows of images side by side (one column per method), enlarged by `scale`."""
    grid = make_grid(interleave_rows(groups, len(groups[0])), len(groups[0]))
    save_image(F.interpolate(grid[None], scale_factor=scale, mode="nearest"), path)


def crop_indices(images: torch.Tensor, k: int) -> torch.Tensor:
    """The k - 2 images with the most detail (pixel spread), then the 2 flattest: where a
    restorer must keep texture, and where it must not invent any."""
    order = images.flatten(1).std(1).argsort(descending=True)
    return torch.cat([order[:k - 2], order[-2:]])


def run_minutes(run: Path) -> float:
    metrics = json.loads((run / "metrics.json").read_text())
    return metrics["time/mean_epoch_s"] * metrics["epoch"] / 60


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classical", type=Path, required=True, help="classical.py's JSON")
    parser.add_argument("--runs", type=Path, nargs="+", required=True)
    parser.add_argument("--name", required=True, help="output names: <name>.md, <name>.json")
    parser.add_argument("--out", type=Path, default=HERE, help="folder for the outputs")
    parser.add_argument("--crops", type=int, default=6, help="images in each crop figure")
    parser.add_argument("--merge", action="store_true",
                        help="add the runs' rows to those already in <name>.json")
    args = parser.parse_args()
    torch.set_grad_enabled(False)

    classical = json.loads(args.classical.read_text())
    denoise_rows = {r["sigma_255"]: r for r in classical["rows"] if r["task"] == "denoise"}
    n = next(iter(denoise_rows.values()))["images"] if denoise_rows else 0
    test, subset = test_subset(classical["data"], n, classical["seed"])
    rows, figures = [], {}
    for run in args.runs:
        _, _, model, _ = load_run(str(run))
        model.eval()
        corruption = model.corruption
        own = json.loads((run / "metrics.json").read_text())
        row = {"run": run.name, "minutes": round(run_minutes(run), 1),
               "epochs": own["epoch"], "test/psnr (whole split)": own["test/psnr"]}
        if isinstance(corruption, GaussianNoise):
            sigma255 = round(corruption.sigma * 255, 1)
            ref = denoise_rows[min(denoise_rows, key=lambda s: abs(s - sigma255))]
            if abs(ref["sigma_255"] - sigma255) > 0.5:
                raise SystemExit(f"{run}: sigma {sigma255} has no classical row in {args.classical}")
            noisy = add_noise(subset, ref["sigma_255"], classical["seed"])
            out = restore(model, noisy)
            row.update(task="denoise", setting=f"sigma {ref['sigma_255']:g}", images=len(subset),
                       input=ref["psnr_input"], bm3d=ref["psnr_bm3d"], nlm=ref["psnr_nlm"],
                       net=psnr(out, subset))
            row["net - bm3d"] = row["net"] - row["bm3d"]
            pick = crop_indices(subset, args.crops)
            bm3d = denoisers(subset.shape[1])["bm3d"]
            bm3d_out = torch.stack([torch.from_numpy(bm3d(x.permute(1, 2, 0).double().numpy(),
                                                          ref["sigma_255"] / 255)).permute(2, 0, 1)
                                    for x in noisy[pick]]).float()
            figures[run.name] = [noisy[pick], bm3d_out,
                                                        out[pick].clamp(0, 1), subset[pick]]
        elif isinstance(corruption, Downsample):
            bicubic = corruption(test)
            out = restore(model, bicubic)
            f = corruption.factor
            row.update(task="upscale", setting=f"x{f} ({corruption.mode})", images=len(test),
                       input=psnr(bicubic, test), net=psnr(out, test))
            row["net - bicubic"] = row["net"] - row["input"]
            if test.shape[1] == 3:
                row.update(input_y=psnr_y(bicubic, test, f), net_y=psnr_y(out, test, f))
                row["net_y - bicubic_y"] = row["net_y"] - row["input_y"]
            pick = crop_indices(test, args.crops)
            low = F.interpolate(corruption.low_resolution(test[pick]), size=test.shape[-2:],
                                mode="nearest")
            figures[run.name] = [low, bicubic[pick], out[pick].clamp(0, 1), test[pick]]
        else:
            raise SystemExit(f"{run}: trained with {corruption!r}, not a denoising or upscaling run")
        rows.append(row)
        print(row, flush=True)

    out_json = args.out / f"{args.name}.json"
    if args.merge and out_json.exists():
        new = {r["run"]: r for r in rows}
        kept = [new.pop(r["run"], r) for r in json.loads(out_json.read_text())]
        rows = kept + list(new.values())
    out_json.write_text(json.dumps(rows, indent=2) + "\n")
    lines = ["| run | task | images | input / bicubic | BM3D | NLM | net | net - best classical |"
             " Y: bicubic | Y: net | Y: gain | CPU min (epochs) |", "|" + "---|" * 12]
    for r in rows:
        best = max(r.get("bm3d", float("-inf")), r["input"] if r["task"] == "upscale" else float("-inf"))
        y = [f"{r[k]:.2f}" if k in r else "-" for k in ("input_y", "net_y", "net_y - bicubic_y")]
        lines.append(f"| {r['run']} | {r['task']} {r['setting']} | {r['images']} | {r['input']:.2f} | "
                     + " | ".join(f"{r[k]:.2f}" if k in r else "-" for k in ("bm3d", "nlm", "net"))
                     + f" | {r['net'] - best:+.2f} | " + " | ".join(y)
                     + f" | {r['minutes']} ({r['epochs']}) |")
    table = "\n".join(lines) + "\n"
    (args.out / f"{args.name}.md").write_text(table)
    print(table)
    for run_name, groups in figures.items():  # one per run (two runs may share a task)
        save_crops(groups, args.out / f"crops_{args.name}_{run_name}.png")


if __name__ == "__main__":
    main()
