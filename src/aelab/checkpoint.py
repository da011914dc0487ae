"""Loading checkpoints safely: tensors and plain data only, with errors that say why not."""

import pickle
from pathlib import Path

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from aelab.errors import AelabError
from aelab.files import atomic_write


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


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer, staging the file beside its destination.

    Lightning's own writer stages in `$TMPDIR` through fsspec: when the run dir is on another
    filesystem, the rename fails (EXDEV) and the fallback truncates the old checkpoint and
    copies over it, so a kill in that window leaves an empty best.ckpt; and a small `$TMPDIR`
    fails every save. Remote URLs (s3://, ...) keep Lightning's way.
    """

    def save_checkpoint(self, checkpoint: dict, path, storage_options=None) -> None:
        if "://" in str(path) or storage_options is not None:
            return super().save_checkpoint(checkpoint, path, storage_options)
        atomic_write(path, lambda f: torch.save(checkpoint, f))
