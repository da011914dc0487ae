"""Loading checkpoints safely: tensors and plain data only, with errors that say why not."""

import pickle
from pathlib import Path

import torch

from aelab.errors import AelabError


def load_checkpoint(path: str | Path) -> dict:
    """torch.load with weights_only=True: a checkpoint that would run code is refused."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise AelabError(
            f"refusing to load {path}: it holds Python objects that could run code when "
            f"unpickled ({reason}). aelab checkpoints hold only tensors and plain data; "
            "load only checkpoints you trust") from None
    except (RuntimeError, EOFError, OSError) as err:
        raise AelabError(f"{path} is not a readable checkpoint ({err}); it may be truncated or "
                         "from another program: use another checkpoint") from None
