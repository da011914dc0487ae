"""TensorBoard as a researcher reads it: the HPARAMS table of a sweep has the swept keys and
the family's test metrics, every model family writes a CUSTOM SCALARS layout (each model
yaml's in tests/test_every_model.py), and every
lightning.Trainer argument can be set as trainer.<arg>=... ."""

import json

from tensorboard.compat.proto.event_pb2 import Event
from tensorboard.plugins.custom_scalar import layout_pb2
from tensorboard.plugins.hparams import plugin_data_pb2

from tests.conftest import train_run
from tests.test_bad_input import run_entry
from tests.test_sweeps import TINY


def summaries(run_dir):
    """Every summary value in the run's TensorBoard event files."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    for events in sorted((run_dir / "tensorboard").rglob("events.out.tfevents.*")):
        for event in EventFileLoader(str(events)).Load():
            if isinstance(event, Event) and event.HasField("summary"):
                yield from event.summary.value


def hparams_table(run_dir) -> tuple[dict, list[str], set[str]]:
    """(hyperparameters of the run's session, the metric columns of its experiment, the
    hyperparameters flagged as varying)."""
    params, metrics, differs = {}, [], set()
    for value in summaries(run_dir):
        if value.metadata.plugin_data.plugin_name != "hparams":
            continue
        data = plugin_data_pb2.HParamsPluginData.FromString(value.metadata.plugin_data.content)
        if data.HasField("session_start_info"):
            params = {k: v.WhichOneof("kind") and getattr(v, v.WhichOneof("kind"))
                      for k, v in data.session_start_info.hparams.items()}
        if data.HasField("experiment"):
            metrics = [m.name.tag for m in data.experiment.metric_infos]
            differs = {h.name for h in data.experiment.hparam_infos if h.differs}
    return params, metrics, differs


def custom_scalars(run_dir) -> dict[str, dict[str, list[str]]]:
    for value in summaries(run_dir):
        if value.tag == "custom_scalars__config__":
            layout = layout_pb2.Layout.FromString(value.tensor.string_val[0])
            return {c.title: {chart.title: list(chart.multiline.tag) for chart in c.chart}
                    for c in layout.category}
    return {}


def test_hparams_of_a_sweep_are_the_swept_keys_and_the_test_metrics(tmp_path, capsys):
    tiny = [o for o in TINY if o != "logger=csv"]
    # train.py -m as __main__ in this process: the basic launcher runs the jobs here anyway.
    code, output = run_entry("train", ["-m", *tiny, "logger=tensorboard", "model.latent_dim=4,8",
                                       "optimizer=adam,sgd", f"hydra.sweep.dir={tmp_path / 'sweep'}",
                                       f"paths.cache_dir={tmp_path / 'cache'}"], capsys)
    assert code == 0, output[-3000:]
    jobs = sorted(p for p in (tmp_path / "sweep").iterdir() if p.is_dir())
    assert len(jobs) == 4
    seen = set()
    for job in jobs:
        params, metrics, differs = hparams_table(job)
        # What TensorBoard sorts first: the swept keys.
        assert differs == {"model.latent_dim", "optimizer"}, differs
        assert 0 < len(params) <= 15, params
        assert {"model.latent_dim", "optimizer", "model", "seed"} <= set(params)
        seen.add((params["model.latent_dim"], params["optimizer"]))
        assert params["model"] == "conv_ae"
        # Fixed on the command line, the same in every job: not a column.
        assert not any(k.startswith(("data.num_", "trainer.limit", "paths.", "callbacks."))
                       for k in params), params
        assert {"test/psnr", "test/ssim", "best/val/loss"} <= set(metrics), metrics
        assert not any(m.startswith(("train/", "val/", "time/")) for m in metrics), metrics
        assert json.loads((job / "metrics.json").read_text())["test/psnr"] > 0
    assert seen == {(4, "adam"), (4, "sgd"), (8, "adam"), (8, "sgd")}


def test_the_code_prior_writes_its_custom_scalars_layout(tmp_path):
    """Every other model: tests/test_every_model.py. The prior trains on a VQ-VAE run."""
    train_run(tmp_path / "vq", "model=conv_vqvae", "model.net.num_codes=8",
              "trainer.limit_train_batches=1")
    train_run(tmp_path / "prior", "model=code_prior", f"model.vqvae_run={tmp_path / 'vq'}",
              "logger=tensorboard", "trainer.limit_train_batches=1",
              "trainer.limit_val_batches=1", "trainer.limit_test_batches=1")
    layout = custom_scalars(tmp_path / "prior")
    assert "code prior" in layout and "time" in layout, layout


def test_any_trainer_argument_is_a_trainer_key(capsys, tmp_path):
    code, output = run_entry("train", ["data.num_train=32", "data.num_val=16", "data.num_test=16",
                                       "data.image_size=16",  # a 768-value PCA fit, not 3072
                                       "model.width=8", "threads=1", "trainer.max_steps=1",
                                       "trainer.enable_progress_bar=false",
                                       f"paths.cache_dir={tmp_path / 'cache'}",
                                       f"hydra.run.dir={tmp_path / 'run'}"], capsys)
    assert code == 0, output[-2000:]
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["global_step"] == 1
    code, output = run_entry("train", ["trainer.max_stepz=1", f"hydra.run.dir={tmp_path}"], capsys)
    assert code == 2 and "did you mean trainer.max_steps?" in output
