"""Class labels beside the images, read only for a model that asks for them.

A model class says `needs_labels = True` (model=classifier); `aelab.run.build_datamodule`
then asks the data for labels, and batches become (images, labels). Every other model gets
the image batches it always got, and the cached image tensors are the same files.
"""

import numpy as np
import torch

from aelab.errors import AelabError

LABEL_COLUMNS = ("label", "labels")  # the hub's usual names (MNIST, Fashion-MNIST, CIFAR-10)
FIX = ("name the column with data.label_column=<column>, or train on a labelled dataset "
       "(data=fashion_mnist, mnist or cifar10)")


def find_label_column(features: dict, wanted: str | None) -> str:
    """The class column: `wanted`, else `label` / `labels`, else the first ClassLabel column."""
    if wanted:
        if wanted not in features:
            raise AelabError(f"data.label_column={wanted} is not a column of this dataset; its "
                             f"columns are {sorted(features)}")
        return wanted
    found = next((c for c in LABEL_COLUMNS if c in features), None) or next(
        (c for c, f in features.items() if type(f).__name__ == "ClassLabel"), None)
    if found is None:
        raise AelabError(f"this model needs class labels but the dataset has no label column "
                         f"(columns: {sorted(features)}); {FIX}")
    return found


def read_labels(ds, column: str, skipped: list[int]) -> torch.Tensor:
    """The labels of a split as int64, without the rows its images dropped (skipped:
    undecodable rows under data.on_bad_rows=skip), so label i belongs to image i."""
    feature = ds.features[column]
    integer = type(feature).__name__ == "ClassLabel" or str(getattr(feature, "dtype", "")).startswith(
        ("int", "uint"))
    if not integer:
        raise AelabError(f"column {column!r} holds {feature}, not class indices; {FIX}")
    labels = np.asarray(ds.select_columns([column])[column], dtype=np.int64)
    if skipped:
        labels = np.delete(labels, skipped)
    if len(labels) and labels.min() < 0:  # the hub marks a row without a label as -1
        raise AelabError(f"column {column!r} has rows without a label ({column}=-1, e.g. an "
                         f"unlabelled test split); {FIX}")
    return torch.from_numpy(labels)


def count_classes(feature, labels: list[torch.Tensor]) -> int:
    """Classes as the dataset declares them (ClassLabel), else the largest label + 1."""
    declared = getattr(feature, "num_classes", None)
    return int(declared) if declared else max(int(t.max()) for t in labels if len(t)) + 1
