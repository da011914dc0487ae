"""Loading checkpoints safely: tensors and plain data only, with errors that say why not."""

import pickle
from pathlib import Path

import torch

from aelab.errors import AelabError


def is_torch_file(path: Path) -> bool:
    """torch.save writes a zip archive (or, before torch 1.6, a pickle: protocol byte 0x80).
    The zip's first bytes, not its directory at the end: a truncated file is still named as a
    broken checkpoint rather than as something else."""
    with open(path, "rb") as f:
        head = f.read(4)
    return head == b"PK\x03\x04" or head[:1] == b"\x80"


def load_checkpoint(path: str | Path) -> dict:
    """torch.load with weights_only=True: a checkpoint that would run code is refused."""
    path = Path(path)
    if path.is_dir() or not path.exists():
        raise AelabError(f"{path} is not a checkpoint file; give the .ckpt file of a run "
                         "(checkpoints/best.ckpt or last.ckpt) or ckpt_path=last")
    if not is_torch_file(path):
        raise AelabError(f"{path} is not a checkpoint (not a file written by torch.save); give "
                         "the .ckpt file of a run (checkpoints/best.ckpt or last.ckpt)")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise AelabError(
            f"refusing to load {path}: it holds Python objects that could run code when "
            f"unpickled ({reason}). aelab checkpoints hold only tensors and plain data; "
            "load only checkpoints you trust") from None
    except Exception as err:  # noqa: BLE001 - torch fails on broken archives in many ways
        raise AelabError(f"{path} is not a readable checkpoint ({type(err).__name__}: "
                         f"{str(err).strip().splitlines()[0] if str(err).strip() else ''}); it "
                         "may be truncated or from another program: use another checkpoint"
                         ) from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise AelabError(f"{path} is a torch file but not a training checkpoint (no state_dict);"
                         " give the .ckpt file of a run (checkpoints/best.ckpt or last.ckpt)")
    return checkpoint
