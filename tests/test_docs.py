"""README.md and docs/*.md say what runs: every command they show composes, every link resolves.

A command is `python train.py|eval.py|generate.py|compare.py ...` in a fenced code block (a
trailing `\\` continues it on the next line, `#` starts a comment) or in an inline code span. Each
is composed in-process as its entry point would (the same argv rewrites, then Hydra's compose,
then train.py's checks of every option before anything is loaded), so a command that needs real
data, a finished run or a GPU is still checked: its keys, group options and values exist and
type-check. A multirun composes every value of every swept key, its sweep preset's too. Any
other `python <script>.py` must name a file that exists.
"""

import argparse
import re
import shlex
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf, open_dict

from tests.conftest import CONF, ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
ENTRY_POINTS = ("train.py", "eval.py", "generate.py", "compare.py")


def fenced_blocks(text: str) -> list[str]:
    return re.findall(r"^```[^\n]*\n(.*?)^```", text, flags=re.DOTALL | re.MULTILINE)


def outside_fences(text: str) -> str:
    return re.sub(r"^```[^\n]*\n.*?^```", "", text, flags=re.DOTALL | re.MULTILINE)


def command_lines(text: str) -> list[str]:
    """Shell lines of the fenced blocks (continuations joined) and the inline code spans."""
    lines = []
    for block in fenced_blocks(text):
        lines += block.replace("\\\n", " ").splitlines()
    prose = outside_fences(text)
    lines += [" ".join(span.split()) for span in re.findall(r"`([^`]+)`", prose)]
    return lines


def python_commands(page: Path) -> list[tuple[str, list[str]]]:
    """(script, args) of every `python <script>.py ...` on the page."""
    found = []
    for line in command_lines(page.read_text()):
        if "python " not in line:
            continue
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            continue  # not shell (an unbalanced quote in prose)
        for i, word in enumerate(words[:-1]):
            if word == "python" and words[i + 1].endswith(".py"):
                found.append((words[i + 1], words[i + 2:]))
                break
    return found


def distinct_commands() -> list[tuple[Path, str, list[str]]]:
    """Each command once, under the first page that shows it."""
    seen, commands = set(), []
    for page in PAGES:
        for script, args in python_commands(page):
            if (script, *args) not in seen:
                seen.add((script, *args))
                commands.append((page, script, args))
    return commands


COMMANDS = distinct_commands()


def ids(value):
    return value.name if isinstance(value, Path) else " ".join(value)[:80] if isinstance(
        value, list) else str(value)


def compose_from(config_name: str, overrides: list[str], hydra: bool = False):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name=config_name, overrides=overrides, return_hydra_config=hydra)


def each_value(overrides: list[str]) -> list[list[str]]:
    """A sweep's override lists: the first value of every swept key, then each other value of
    each swept key in turn (every value composed once, not the whole grid)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(overrides)
    choices = []
    for override, text in zip(parsed, overrides, strict=True):
        if override.is_sweep_override():
            key = text.split("=", 1)[0]
            choices.append([f"{key}={v}" for v in override.sweep_string_iterator()])
        else:
            choices.append([text])
    first = [c[0] for c in choices]
    variants = [first]
    for i, values in enumerate(choices):
        variants += [first[:i] + [v] + first[i + 1:] for v in values[1:]]
    return variants


def check_train(args: list[str], tmp_path: Path) -> int:
    from aelab.cli import add_trainer_arguments, features_as_group
    from aelab.run import check_config

    multirun, overrides, words = False, [], iter(args)
    for word in words:
        if word in ("-m", "--multirun"):
            multirun = True
        elif word in ("-c", "--cfg"):
            assert next(words, None) in ("job", "hydra", "all"), f"--cfg job|hydra|all: {args}"
        elif word not in ("-h", "--help"):
            assert not word.startswith("-"), f"a flag Hydra's train.py does not take: {word}"
            overrides.append(word)
    argv = add_trainer_arguments("train", features_as_group(["train.py", *overrides]))
    own = [f"paths.output_dir={tmp_path / 'run'}", f"paths.cache_dir={tmp_path / 'cache'}"]
    composed = 0
    for variant in each_value(argv[1:]) if multirun else [argv[1:]]:
        cfg = compose_from("train", variant + own, hydra=True)
        params = OmegaConf.select(cfg, "hydra.sweeper.params") or {}
        basic = "BasicSweeper" in str(OmegaConf.select(cfg, "hydra.sweeper._target_"))
        assert multirun or not params, f"a sweep preset without -m: {args}"
        preset = [f"{k}={v}" for k, v in params.items()] if basic else []
        for swept in each_value(preset) if preset else [[]]:
            run_cfg = compose_from("train", variant + swept + own, hydra=True) if swept else cfg
            with open_dict(run_cfg):
                del run_cfg["hydra"]
            check_config(run_cfg)
            composed += 1
    return composed


def check_loaded_run(config_name: str, args: list[str]) -> None:
    """eval.py / generate.py: their own options; the run's are fixed by its saved config."""
    from aelab.cli import features_as_group, unknown_key_message

    overrides = features_as_group([f"{config_name}.py", *args])[1:]
    message = unknown_key_message(config_name, overrides)
    assert message is None, message
    cfg = compose_from(config_name, overrides)
    missing = sorted(OmegaConf.missing_keys(cfg))
    assert not missing, f"{config_name}.py needs {missing}"
    if config_name == "eval":
        from aelab.options import check_metrics

        check_metrics(cfg.metrics)
    else:
        from aelab.models.capabilities import TASKS

        assert cfg.task in TASKS, f"task={cfg.task} is not one of {TASKS}"


class Parsed(Exception):
    pass


def check_compare(args: list[str], monkeypatch) -> None:
    """compare.py's own parser takes the arguments (stopped before it reads any run)."""
    import compare

    parse = argparse.ArgumentParser.parse_args

    def parse_then_stop(self, argv=None, namespace=None):
        parsed = parse(self, argv, namespace)
        raise Parsed(parsed)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse_then_stop)
    with pytest.raises(Parsed) as stopped:
        compare.main(args)
    parsed = stopped.value.args[0]
    if parsed.study:  # a study's tables: its study.yaml is valid and has the tables named
        from aelab.study import load_study

        names = {t["name"] for t in load_study(parsed.study)["tables"]}
        assert set(parsed.table) <= names, f"compare.py {args}: no such table"
        return
    assert parsed.metrics, f"compare.py {args}: no --metric"
    assert bool(parsed.rows) == bool(parsed.cols), f"compare.py {args}: --rows with --cols"


def test_the_pages_show_every_entry_point():
    scripts = {script for _, script, _ in COMMANDS}
    assert set(ENTRY_POINTS) <= scripts
    assert len(COMMANDS) > 40  # the parser still finds the commands (distinct ones)


@pytest.mark.parametrize(("page", "script", "args"), COMMANDS, ids=ids)
def test_every_command_composes(page, script, args, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    if script == "train.py":
        assert check_train(args, tmp_path) >= 1
    elif script in ("eval.py", "generate.py"):
        check_loaded_run(script.removesuffix(".py"), args)
    elif script == "compare.py":
        check_compare(args, monkeypatch)
    else:
        assert (ROOT / script).is_file(), f"{page.name}: python {script}: no such file"


def heading_anchors(page: Path) -> set[str]:
    """GitHub's anchors: lower case, punctuation dropped, spaces as hyphens."""
    anchors = set()
    for line in outside_fences(page.read_text()).splitlines():
        match = re.match(r"^#{1,6}\s+(.*)", line)
        if match:
            title = re.sub(r"[^\w\- ]", "", match.group(1).strip().lower())
            anchors.add(title.replace(" ", "-"))
    return anchors


LINKS = [(page, target) for page in PAGES
         for target in re.findall(r"\]\(([^)\s]+)\)", outside_fences(page.read_text()))
         if not re.match(r"^[a-z]+:", target)]


@pytest.mark.parametrize(("page", "target"), LINKS, ids=ids)
def test_every_relative_link_resolves(page, target):
    path, _, anchor = target.partition("#")
    file = (page.parent / path).resolve() if path else page
    assert file.exists(), f"{page.relative_to(ROOT)}: {target} does not exist"
    if anchor and file.suffix == ".md":
        assert anchor in heading_anchors(file), f"{page.relative_to(ROOT)}: no #{anchor} in {path}"


def test_readme_is_a_front_page():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 150
    first = fenced_blocks((ROOT / "README.md").read_text())[0]
    for command in ('pip install -e ".[dev,sweeps]"', "python -m pytest -q",
                    "python train.py model=conv_ae data=cifar10"):
        assert command in first  # .ci/run installs and tests as the README's first block says
    for page in PAGES:
        prose = outside_fences(page.read_text()).splitlines()
        long = [n for n, line in enumerate(prose, 1) if len(line) > 100 and not line.startswith("|")]
        assert not long, f"{page.name}: prose lines over 100 characters: {long[:5]}"
