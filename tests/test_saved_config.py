"""A shared run directory is data: a crafted .hydra/config.yaml is refused before anything in
it is built, and loading a run writes only into the run dir and the configured cache."""

import pickle
import shutil

import pytest
from omegaconf import OmegaConf

from aelab.saved_config import is_allowed
from tests.conftest import train_run
from tests.test_bad_input import assert_clear, run_entry

# The tests that read the trained honest_run: one xdist group, so one worker trains it, once.
SHARED = pytest.mark.xdist_group("saved_config_honest_run")


class TouchOnLoad:
    """A pickle that creates a file when it is unpickled: what a malicious file would do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        import pathlib

        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


@pytest.fixture(scope="module")
def honest_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("honest") / "run"
    train_run(run, "model.latent_dim=4")
    return run


def crafted(honest_run, tmp_path, key: str, node: dict):
    """A copy of an honest run whose saved config has `node` at `key`."""
    run = tmp_path / "shared_run"
    shutil.copytree(honest_run, run)
    config_file = run / ".hydra" / "config.yaml"
    cfg = OmegaConf.load(config_file)
    OmegaConf.update(cfg, key, node, force_add=True, merge=False)
    config_file.write_text(OmegaConf.to_yaml(cfg))
    return run


def gadgets(tmp_path):
    """(key, node, what it would do) for each way a config could run code or write files."""
    marker, victim = tmp_path / "marker", tmp_path / "victim.txt"
    payload = tmp_path / "payload.pkl"
    payload.write_bytes(pickle.dumps(TouchOnLoad(marker)))
    return marker, victim, [
        ("data", {"_target_": "torch.load", "f": str(payload), "weights_only": False}),
        ("data", {"_target_": "builtins.open", "file": str(victim), "mode": "w"}),
        ("data", {"_target_": "os.system", "command": f"touch {marker}"}),
        ("model.net", {"_target_": "subprocess.run", "args": ["touch", str(marker)]}),
        ("data", {"_target_": "pathlib.Path.write_text", "self": str(victim), "data": ""}),
        # the project's own functions write files too: only classes are built
        ("data", {"_target_": "aelab.run.write_metrics", "path": str(victim), "metrics": {}}),
        # inside a list, and as a target that resolves from an interpolation
        ("model.extra", [{"_target_": "os.remove", "path": str(victim)}]),
        ("optimizer", {"_target_": "${oc.env:AELAB_GADGET,shutil.rmtree}", "path": str(tmp_path)}),
    ]


@SHARED
@pytest.mark.parametrize("case", range(8))
@pytest.mark.parametrize("script,args", [("eval", []), ("generate", ["task=reconstruct"])])
def test_a_crafted_run_is_refused_before_anything_runs(honest_run, tmp_path, capsys, case,
                                                       script, args):
    marker, victim, cases = gadgets(tmp_path)
    victim.write_text("precious\n")
    key, node = cases[case]
    run = crafted(honest_run, tmp_path, key, node)
    code, output = run_entry(script, [f"run_dir={run}", *args], capsys)
    assert code == 2
    assert_clear(code, output, "refusing to load", "is not a class an aelab run builds",
                 "trust_run_config=true")
    assert not marker.exists()
    assert victim.read_text() == "precious\n"
    assert not (run / "eval_metrics.json").exists() and not (run / "generated").exists()


@SHARED
def test_the_code_prior_refuses_a_crafted_vqvae_run(honest_run, tmp_path, capsys):
    marker, _, cases = gadgets(tmp_path)
    run = crafted(honest_run, tmp_path, "data", cases[2][1])
    code, output = run_entry("train", ["trainer=debug", "threads=1", "model=code_prior",
                                       f"model.vqvae_run={run}",
                                       f"hydra.run.dir={tmp_path / 'prior'}"], capsys)
    assert_clear(code, output, "refusing to load", "data._target_=os.system")
    assert not marker.exists()


@SHARED
def test_trust_run_config_loads_a_run_with_a_target_of_ones_own(honest_run, tmp_path, capsys):
    # A custom (harmless) target outside the allowlist: refused unless trusted.
    run = crafted(honest_run, tmp_path, "model.net.activation",
                  {"_target_": "builtins.str", "object": "relu"})
    code, output = run_entry("eval", [f"run_dir={run}"], capsys)
    assert_clear(code, output, "model.net.activation._target_=builtins.str")
    code, output = run_entry("eval", [f"run_dir={run}", "trust_run_config=true"], capsys)
    assert code == 0, output[-2000:]
    assert (run / "eval_metrics.json").exists()


def test_paths_in_a_saved_config_are_read_never_written(tmp_path, capsys):
    """A text run whose saved tokenizer_dir points elsewhere: loading it writes nothing there."""
    run = tmp_path / "text_run"
    train_run(run, "data=toy_text", "model=lstm_ae", "model.latent_dim=4", "data.num_train=64",
              "data.num_val=16", "data.num_test=16", fast=False)
    elsewhere = tmp_path / "elsewhere"
    config_file = run / ".hydra" / "config.yaml"
    cfg = OmegaConf.load(config_file)
    cfg.data.tokenizer_dir = str(elsewhere)
    cfg.paths.cache_dir = str(elsewhere / "cache")
    config_file.write_text(OmegaConf.to_yaml(cfg))
    code, output = run_entry("eval", [f"run_dir={run}"], capsys)
    assert code == 0, output[-2000:]
    assert not elsewhere.exists()


@pytest.mark.parametrize("target,allowed", [
    ("aelab.models.image.autoencoder.ImageAutoencoder", True),
    ("aelab.nets.image.conv.ConvAutoencoder", True),
    ("torch.optim.Adam", True), ("torch.optim.lr_scheduler.CosineAnnealingLR", True),
    ("lightning.pytorch.Trainer", True), ("lightning.pytorch.callbacks.ModelCheckpoint", True),
    ("lightning.pytorch.loggers.TensorBoardLogger", True),
    ("aelab.run.train", False), ("aelab.no.such.Thing", False), ("torch.load", False),
    ("torch.optim.Optimizer.step", False), ("lightning.pytorch.seed_everything", False),
    ("aelab.models.image.autoencoder.torch.load", False),  # reached through a module's imports
    ("os.system", False), ("__import__('os').system", False), ("", False),
])
def test_the_allowlist(target, allowed):
    assert is_allowed(target) is allowed


def test_targets_are_found_at_any_depth_and_unresolvable_ones_are_named_as_written():
    from aelab.saved_config import targets

    cfg = OmegaConf.create({"a": {"_target_": "${oc.env:AELAB_NOT_SET_ANYWHERE}"},
                            "b": [{"c": {"_target_": "aelab.run.train"}}]})
    assert list(targets(cfg)) == [("a._target_", "${oc.env:AELAB_NOT_SET_ANYWHERE}"),
                                  ("b[0].c._target_", "aelab.run.train")]
    assert not any(is_allowed(t) for _, t in targets(cfg))


def test_every_target_in_conf_is_allowed():
    """Honest runs load: every _target_ our config groups can produce is on the allowlist."""
    from aelab.saved_config import CONF

    # conf/hydra/ configures Hydra itself (sweepers, launchers): never in a run's config.yaml.
    found = {line.split(":", 1)[1].strip() for yaml in CONF.rglob("*.yaml")
             if "hydra" not in yaml.relative_to(CONF).parts
             for line in yaml.read_text().splitlines() if line.strip().startswith("_target_:")}
    assert found and all(is_allowed(t) for t in found), [t for t in found if not is_allowed(t)]
