"""The floor of the FID table: real training images against the test split, in the same
classifier features (what a perfect sampler of the training distribution would score).

    python experiments/image_zoo/real_fid.py --classifier RUN --name fmnist_cnn --out FILE.json

`--images N` training images (default: as many as the test split), the first N of a seeded
permutation of the training split (the classifier run's data, seed 0).
"""

import argparse
import json
from pathlib import Path

import torch

from aelab.data.image import to_unit_float
from aelab.metrics.features import ClassifierFeatures
from aelab.metrics.fid import FeatureDistances
from aelab.run import load_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classifier", required=True, help="a model=classifier run dir")
    parser.add_argument("--name", default="classifier")
    parser.add_argument("--images", type=int, default=None)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    _, datamodule, _, _ = load_run(args.classifier)  # its data: the same images and split
    datamodule.setup("test")
    test, train = datamodule.splits["test"], datamodule.splits["train"]
    n = args.images or len(test)
    chosen = train[torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[:n]]
    distances = FeatureDistances(ClassifierFeatures(args.classifier, args.name, False),
                                 reconstructions=False, samples=True)
    for batch in test.split(500):
        distances.update_real(to_unit_float(batch))
    for batch in chosen.split(500):
        distances.update_samples(to_unit_float(batch))
    scores = {f"{key}_{args.name}": value for key, value in distances.compute().items()}
    scores.update(real_images=len(test), train_images=n)
    args.out.write_text(json.dumps(scores, indent=1) + "\n")
    print(scores)


if __name__ == "__main__":
    main()
