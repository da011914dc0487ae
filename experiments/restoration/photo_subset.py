"""The photos dataset with fewer training photos: how the x4 gain on the test photos grows
with the number of photos the net learnt from (experiments/restoration/README.md).

    python experiments/restoration/photo_subset.py --photos 3 --out outputs/data/photos_3

Keeps every training patch of the first `--photos` names of a seeded shuffle of the training
photos (the subsets are nested: the 3 are among the 5), and the test split unchanged.
"""

import argparse
import random
import shutil
from pathlib import Path

from datasets import Dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/datasets/photos"))
    parser.add_argument("--photos", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    # through `datasets`, so the image column keeps its Image feature in the copy's schema
    train = Dataset.from_parquet(str(args.data / "train-00000-of-00001.parquet"))
    names = sorted(set(train["photo"]))
    random.Random(args.seed).shuffle(names)
    if not 1 <= args.photos <= len(names):
        raise SystemExit(f"--photos {args.photos}: the training split has {len(names)} photos")
    keep = names[:args.photos]
    args.out.mkdir(parents=True, exist_ok=True)
    kept = train.filter(lambda photo: photo in keep, input_columns="photo")
    kept.to_parquet(str(args.out / "train-00000-of-00001.parquet"))
    shutil.copy(args.data / "test-00000-of-00001.parquet", args.out)
    print(f"{args.out}: {len(keep)} photos ({', '.join(keep)}), {len(kept)} training patches")


if __name__ == "__main__":
    main()
