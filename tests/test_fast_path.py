"""The GPU fast-path switches, on the CPU: compile, channels_last, data.on_device."""

import pytest
import torch

from aelab.checkpoint import load_checkpoint
from aelab.data.synthetic import ShapesDataModule
from aelab.errors import AelabError
from tests.conftest import train_run


def test_compiled_channels_last_run_trains_and_saves_plain_keys(tmp_path):
    # "eager": TorchDynamo traces the nets without a C++ compiler, as fast as a test needs.
    metrics = train_run(tmp_path / "run", "model.compile=eager", "model.net.channels_last=true")
    assert torch.isfinite(torch.tensor(metrics["test/psnr"]))
    state = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.ckpt")["state_dict"]
    assert not [k for k in state if "_orig_mod" in k]  # checkpoints load into an uncompiled model
    convs = [v for k, v in state.items() if v.dim() == 4]
    assert convs and all(v.is_contiguous(memory_format=torch.channels_last) for v in convs)


def test_on_device_is_checked_and_stays_on_the_host_without_a_gpu():
    with pytest.raises(AelabError, match="data.on_device"):
        ShapesDataModule(on_device="always")
    dm = ShapesDataModule(num_train=8, num_val=4, num_test=4, batch_size=4, on_device=True)
    dm.setup()
    assert next(iter(dm.train_dataloader())).device.type == "cpu"
