"""Each common mistake stops with one clear line, a non-zero exit and no stack trace.

The entry points run in this process (sys.argv set, SystemExit caught) to skip a new
interpreter per case; test_cli.py runs the real command line.
"""

import runpy
import sys

import pytest

from tests.conftest import ROOT, write_image_parquet

SMALL = ["trainer=debug", "data.num_train=32", "data.num_val=16", "data.num_test=16",
         "model.width=8", "threads=1"]


def run_entry(script: str, args: list[str], capsys) -> tuple[int, str]:
    """Run train.py / eval.py / generate.py as __main__ with `args`; (exit code, output)."""
    old = sys.argv
    sys.argv = [str(ROOT / f"{script}.py"), *args]
    code = 0
    try:
        runpy.run_path(sys.argv[0], run_name="__main__")
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    finally:
        sys.argv = old
    out = capsys.readouterr()
    return code, out.out + out.err


def assert_clear(code: int, output: str, *expected: str) -> None:
    assert code != 0, output[-2000:]
    assert "Traceback" not in output, output[-3000:]
    for text in expected:
        assert text in output, output[-2000:]


@pytest.mark.parametrize("group,name,valid", [("model", "transformer", "conv_vae"),
                                              ("data", "imagenet", "fashion_mnist"),
                                              ("optimizer", "lion", "adamw")])
def test_unknown_option_lists_the_valid_ones(group, name, valid, capsys):
    code, output = run_entry("train", [f"{group}={name}"], capsys)
    assert_clear(code, output, f"Available options in '{group}'", valid)


def test_unknown_key_lists_the_keys_that_exist(capsys):
    code, output = run_entry("train", ["model.latnt_dim=8"], capsys)
    assert_clear(code, output, "unknown config key 'model.latnt_dim'", "latent_dim, linear_path, loss",
                 "+model.latnt_dim=8")


def test_unknown_key_is_blamed_not_a_required_one_given_before_it(capsys):
    # data.path is required (???) in data=text; the unknown key is trainer.max_step
    code, output = run_entry("train", ["data=text", "data.path=somewhere", "trainer.max_step=5"],
                             capsys)
    assert_clear(code, output, "unknown config key 'trainer.max_step'", "max_epochs",
                 "+trainer.max_step=5")
    assert "'data.path'" not in output


@pytest.mark.parametrize("model,data,says", [
    ("lstm_vae", "shapes", "TextVAE is a text model but data ShapesDataModule is image data"),
    ("conv_ae", "toy_text", "is an image model but data ToyTextDataModule is text data"),
])
def test_model_and_data_of_different_kinds(model, data, says, capsys, tmp_path):
    code, output = run_entry("train", [f"model={model}", f"data={data}",
                                       f"hydra.run.dir={tmp_path}"], capsys)
    assert_clear(code, output, says)


def train_on(folder, capsys, tmp_path, *extra):
    small = ["trainer=debug", "data.limit=32", "model.width=8", "threads=1"]
    return run_entry("train", ["data=images", f"data.path={folder}", *small, *extra,
                               f"paths.cache_dir={tmp_path / 'cache'}",
                               f"hydra.run.dir={tmp_path / 'run'}"], capsys)


def test_data_path_that_does_not_exist(capsys, tmp_path):
    code, output = train_on(tmp_path / "nowhere", capsys, tmp_path)
    assert_clear(code, output, "does not exist")


def test_dataset_without_an_image_column(capsys, tmp_path):
    from datasets import Dataset

    folder = tmp_path / "text_only"
    folder.mkdir()
    Dataset.from_dict({"text": ["a", "b", "c", "d"]}).to_parquet(str(folder / "train-00000-of-00001.parquet"))
    code, output = train_on(folder, capsys, tmp_path)
    assert_clear(code, output, "has no image column", "data.image_column=<column>")


def test_dataset_without_a_text_column(capsys, tmp_path):
    from datasets import Dataset

    folder = tmp_path / "numbers"
    folder.mkdir()
    for split in ("train", "test"):
        Dataset.from_dict({"value": [1, 2, 3, 4]}).to_parquet(
            str(folder / f"{split}-00000-of-00001.parquet"))
    code, output = run_entry("train", ["model=lstm_ae", "data=text", f"data.path={folder}",
                                       "trainer=debug", "threads=1",
                                       f"hydra.run.dir={tmp_path / 'run'}"], capsys)
    assert_clear(code, output, "has no text column", "data.text_column=<column>")


def test_images_of_mixed_sizes_without_image_size(capsys, tmp_path):
    folder = write_image_parquet(tmp_path / "mixed", {"train": 12, "test": 4},
                                 shape=lambda i: (28, 28) if i < 5 else (32, 32))
    code, output = train_on(folder, capsys, tmp_path)
    assert_clear(code, output, "images have different sizes", "data.image_size=")


def test_an_undecodable_row_is_named_or_skipped_and_counted(capsys, tmp_path):
    folder = write_image_parquet(tmp_path / "bad", {"train": 20, "test": 6}, bad_rows=(7,))
    code, output = train_on(folder, capsys, tmp_path, "data.val_size=2")
    assert_clear(code, output, "cannot be decoded", "data.on_bad_rows=skip")

    from aelab.data.image import ImageDataModule

    dm = ImageDataModule(path=str(folder), val_size=2, on_bad_rows="skip")
    dm.setup()
    assert sum(len(t) for t in dm.splits.values()) == 25  # 26 rows, one skipped


def test_an_empty_split(capsys, tmp_path):
    folder = write_image_parquet(tmp_path / "empty", {"train": 10, "test": 0})
    code, output = train_on(folder, capsys, tmp_path)
    assert_clear(code, output, "the test split of data.path=", "is empty")


@pytest.mark.parametrize("override,says", [("model.depth=7", "model.depth=7 does not fit 32x32"),
                                           ("model.latent_dim=0", "model.latent_dim=0 must be >= 1")])
def test_sizes_that_cannot_work(override, says, capsys, tmp_path):
    code, output = run_entry("train", [*SMALL, override, f"hydra.run.dir={tmp_path}"], capsys)
    assert_clear(code, output, says)


@pytest.mark.parametrize("script,args", [("eval", []), ("generate", ["task=sample"])])
def test_a_run_dir_that_is_not_a_finished_run(script, args, capsys, tmp_path):
    from omegaconf import OmegaConf

    from tests.conftest import compose_config

    (tmp_path / ".hydra").mkdir()
    config = compose_config([f"paths.output_dir={tmp_path}"])
    (tmp_path / ".hydra" / "config.yaml").write_text(OmegaConf.to_yaml(config))
    code, output = run_entry(script, [f"run_dir={tmp_path}", *args], capsys)
    assert_clear(code, output, "no checkpoint", "finished training run")  # killed early

    (tmp_path / ".hydra" / "config.yaml").write_text("seed: 0\n")
    code, output = run_entry(script, [f"run_dir={tmp_path}", *args], capsys)
    assert_clear(code, output, "is not the config of a train.py run")
