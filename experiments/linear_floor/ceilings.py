"""What a code of k floats can buy over PCA on a dataset's images, measured without any net:
the bounds an image autoencoder at that code size is judged against (issue #39, item 2).

    python -m experiments.linear_floor.ceilings --data ../shared/datasets/photos \
        --out experiments/linear_floor/results/ceilings_photos [--sizes 16 32 64 128] \
        [--clusters 4 8 16]

Each row is one code's mean per-image PSNR (dB, the reconstruction clipped to [0, 1], as a run's
val/psnr and test/psnr) on the validation split (held-out images of the training split's
source: for the photos, patches of the same 9 photos) and on the test split (for the photos,
2 other photos), and its difference from PCA's:

- `pca`: PCA fitted on the training split, as `model=pca` is (the floor);
- `pca, fitted on the scored split`: PCA fitted on the scored images themselves: no linear code
  of k floats reconstructs them with a lower total squared error, so it shows how much a basis
  fitted to other images loses by being fitted elsewhere (in mean PSNR, which weighs each
  image's error on a log scale, it need not be the best linear code);
- `local pca, K=...`: a mixture of K PCA subspaces (Kambhatla & Leen 1997), a simple nonlinear code a
  net could learn: one of the k floats names the subspace, the other k - 1 are coordinates in it.
  The subspaces are fitted on the training split by alternating (each image to the subspace
  that reconstructs it best, each subspace refitted to its images), from k-means on the
  images' leading PCA coordinates; an image to code takes the subspace that reconstructs it best;

The splits are the data module's (`data.val_size` 0.1, seed 0), the ones the study's runs use.
Writes <out>.json and <out>.md.
"""

import argparse
import json
from pathlib import Path

import torch

from aelab.compare import markdown
from aelab.data.image import ImageDataModule


def pca_fit(x: torch.Tensor, k: int, exact: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """The mean and the top-k principal directions (k x D) of the rows of x, in float64.
    exact=False: a randomized SVD (Halko et al.; 6 power iterations), for the many refits of
    local PCA, where a full eigendecomposition of a 3,072 x 3,072 covariance each time would take
    an hour; it can only fall short of the exact directions, so it understates local PCA."""
    mean = x.mean(0)
    centred = x - mean
    if not exact:
        generator_state = torch.random.get_rng_state()
        torch.manual_seed(0)
        _, _, v = torch.svd_lowrank(centred, q=min(k + 10, *centred.shape), niter=6)
        torch.random.set_rng_state(generator_state)
        return mean, v[:, :k].T.contiguous()
    _, vectors = torch.linalg.eigh(centred.T @ centred)  # ascending eigenvalues
    return mean, vectors[:, -k:].T.contiguous()


def reconstruct(x: torch.Tensor, mean: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    return (x - mean) @ basis.T @ basis + mean


def sq_error(x: torch.Tensor, model: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Each row's mean squared error under one PCA model, the reconstruction clipped to [0, 1]
    as a run's test stage clips it."""
    return (reconstruct(x, *model).clamp(0, 1) - x).pow(2).mean(1)


def local_pca_fit(x: torch.Tensor, k: int, clusters: int, rounds: int = 8,
                  seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """`clusters` PCA models of k - 1 directions each, fitted by alternating assignment and refit."""
    generator = torch.Generator().manual_seed(seed)
    mean, basis = pca_fit(x, 8, exact=False)
    coords = (x - mean) @ basis.T
    centres = coords[torch.randperm(len(x), generator=generator)[:clusters]]
    for _ in range(20):  # k-means on the leading coordinates: the first assignment
        assign = torch.cdist(coords, centres).argmin(1)
        centres = torch.stack([coords[assign == c].mean(0) if (assign == c).any() else centres[c]
                               for c in range(clusters)])
    models = []
    for _ in range(rounds):
        # A subspace left with fewer images than directions is refitted on a random draw, so
        # it stays a k - 1 dimensional model rather than a degenerate one.
        models = [pca_fit(x[assign == c] if (assign == c).sum() > k else
                          x[torch.randperm(len(x), generator=generator)[:4 * k]], k - 1, exact=False)
                  for c in range(clusters)]
        assign = torch.stack([sq_error(x, m) for m in models], 1).argmin(1)
    return models


def psnr(mse: torch.Tensor) -> float:
    """Mean per-image PSNR for data in [0, 1], as torchmetrics' PSNR with dim=(1, 2, 3)."""
    return (-10 * mse.clamp_min(1e-10).log10()).mean().item()


def local_pca_error(models: list, scored: torch.Tensor) -> torch.Tensor:
    """Each image's squared error in the subspace that reconstructs it best."""
    return torch.stack([sq_error(scored, m) for m in models], 1).min(1).values


def ceilings(train: torch.Tensor, scored: dict[str, torch.Tensor], k: int,
             clusters: list[int]) -> dict[str, dict[str, float]]:
    """{split: {code: mean PSNR}} for each split in `scored` (validation, test)."""
    pca = pca_fit(train, k)
    scores = {role: {"pca": psnr(sq_error(x, pca)),
                     "pca, fitted on the scored split": psnr(sq_error(x, pca_fit(x, k)))}
              for role, x in scored.items()}
    for n in clusters:
        models = local_pca_fit(train, k, n)
        for role, x in scored.items():
            scores[role][f"local pca, K={n}"] = psnr(local_pca_error(models, x))
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="a dataset folder or hub id (data.path)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 32, 64, 128])
    parser.add_argument("--clusters", type=int, nargs="+", default=[4, 8, 16],
                        help="local PCA's numbers of subspaces, K")
    parser.add_argument("--out", type=Path, required=True, help="<out>.json and <out>.md")
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = ImageDataModule(path=args.data, seed=0)
    data.setup("fit")
    splits = {role: data.splits[role].flatten(1).double() / 255 for role in ("train", "val", "test")}
    rows = []
    for k in args.sizes:
        scores = ceilings(splits["train"], {r: splits[r] for r in ("val", "test")}, k,
                          args.clusters)
        for name in scores["test"]:
            rows.append({"code": name, "floats": k, **{
                key: round(value, 2) for role, by_code in scores.items()
                for key, value in ((f"{role}/psnr", by_code[name]),
                                   (f"{role} vs pca", by_code[name] - by_code["pca"]))}})
        print(f"{k} floats, test: " + ", ".join(f"{n} {v:.2f}" for n, v in scores["test"].items()),
              flush=True)
    header = ["code", "floats", "val/psnr", "val vs pca", "test/psnr", "test vs pca"]
    table = [[row[h] for h in header] for row in rows]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(
        {"data": args.data, "clusters": args.clusters,
         **{role: len(x) for role, x in splits.items()},
         "rows": rows}, indent=1) + "\n")
    args.out.with_suffix(".md").write_text(markdown(
        header, table, formats={"val/psnr": ".2f", "val vs pca": "+.2f", "test/psnr": ".2f",
                                "test vs pca": "+.2f"},
        titles={"val/psnr": "val PSNR (dB)", "test/psnr": "test PSNR (dB)"}))


if __name__ == "__main__":
    main()
