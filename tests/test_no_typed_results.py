"""Measured numbers live in the studies' results tables, not in `src/` or `conf/` (issue #38).

A figure that came out of a run (a PSNR, a BLEU, a perplexity, a KL, a timing, a speed-up)
typed into a docstring or a yaml comment drifts from the table it was copied from. The code
and the recipes say what was found in words and point at the table
(`experiments/<study>/README.md`); this test fails when a measured number comes back.

It is a heuristic over the text of every `src/**/*.py` docstring and comment and every
`conf/**/*.yaml` comment (consecutive comment lines read as one text, so a number and its
metric on two lines are still seen together):
- a decimal, or a number with a unit (dB, %, nats, bits, x), a few words from a metric name;
- a timing (ms, s, CPU s, minutes) or a speed ratio beside images/s, a step, faster, slower;
- two decimals compared ("53.41 -> 48.78", "66.07 against 58.45"), an LM's score in brackets,
  a run's ("vae_mixture: 3.43"), "within 10%";
- `Result:` / `Measured:` followed by a number.
A legitimate hit (a definition, a paper's own figure) goes in ALLOWED with its reason.
Every `experiments/...` path these texts name must exist.
"""

import ast
import io
import re
import tokenize
from pathlib import Path

import pytest

from tests.conftest import ROOT

METRIC = (r"psnr|ssim|bleu|ppl|perplexit\w*|fid|kid|kl|nats?|bpd|bits(?:/dim)?|accuracy|"
          r"loss|db|mse|mi|active units|rec\.")
NUMBER = r"[+-]?(?:\d+\.\d+|\.\d+|\d+(?:\.\d+)?\s?(?:db|%|nats?|bits|x\b))"
NEAR = r"(?:[^\w.;)]+\w+){0,5}?[^\w.;)]+"  # up to five words between them, in one clause
PATTERNS = {
    "a number beside a metric": re.compile(
        rf"(?<![\w.])(?P<before>{NUMBER})(?!\w|\.\d){NEAR}(?:{METRIC})\b"
        rf"|\b(?:{METRIC}){NEAR}(?P<after>{NUMBER})(?!\w|\.\d)", re.IGNORECASE),
    "two numbers compared": re.compile(
        r"(?<![\w.])[+-]?\d+\.\d+\s*(?:against|->|vs\.?)\s*[+-]?\d+\.\d+"
        r"|\bfrom [+-]?\d+\.\d+ to [+-]?\d+\.\d+", re.IGNORECASE),
    "a language model's score": re.compile(r"\bLM\b[^.;]{0,40}?\(\d+\.\d+\)"),
    "a closeness": re.compile(r"\bwithin \d+(?:\.\d+)?%", re.IGNORECASE),
    "a run's score": re.compile(r"\b[a-z_]+[a-z0-9_]*: (?P<after>[+-]?\d+\.\d\d+)\b"),
    "a timing": re.compile(r"(?<![\w.])\d+(?:[.,]\d+)?(?:-\d+(?:\.\d+)?)?\s?"
                           r"(?:ms|s|cpu s|seconds|minutes|cpu minutes|hours?)\b(?!\w)(?! x)",
                           re.IGNORECASE),
    "a speed ratio": re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?:-\d+(?:\.\d+)?)?x\b"
                                r"(?:\W+\w+){0,4}?\W+(?:images?/s|faster|slower|step|"
                                r"the cpu|cpu|images per second|tokens)\b", re.IGNORECASE),
    "a share of a step or of units": re.compile(
        r"(?<![\w.])\d+(?:\.\d+)?(?:-\d+(?:\.\d+)?)?%\s+of\s+(?:a|its|their|the test)\s+"
        r"(?:\w+\s+)?(?:step|units|words)\b", re.IGNORECASE),
    "a result": re.compile(r"\b(?:result|measured)\b\W*[^.]{0,40}?\d", re.IGNORECASE),
}

# A number right after these is a setting, not a result ("a floor of 2.2 nats on the KL") ...
SETTING = re.compile(r"(?:floor(?:ed)?(?: at| of)?|free bits|free nats|threshold(?:ing)?|"
                     r"clipped at|decay|sigma|dropout|warm-up over|span(?:ning)?|the first|"
                     r"instead of)\W*$", re.IGNORECASE)
# ... and so is one followed by these ("0.05 nats per dimension", "3.2 nats of free bits").
SETTING_AFTER = re.compile(r"^\S*\s*(?:nats?\s+)?(?:of free|per dim|on the total|floored|"
                           r"in total|over the \d+ dim)", re.IGNORECASE)

# (file, the matched text): why it is no measured result
ALLOWED = {
    ("src/aelab/compare.py", "dB: 0.01"): "the rounding of differences in the tables, a format",
    ("src/aelab/compare.py", "accuracy: 0.001"): "the same, for SSIM and accuracy",
}


def joined(lines: list[tuple[int, str]]) -> tuple[str, list[tuple[int, int]]]:
    """Lines as one text, and (offset, line number) where each line starts in it."""
    text, starts = "", []
    for number, line in lines:
        starts.append((len(text), number))
        text += line.strip() + " "
    return text, starts


def py_texts(path: Path) -> list[list[tuple[int, str]]]:
    """Each docstring and each run of comment lines, as (line number, line) lists."""
    source = path.read_text()
    texts, run = [], []
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            if run and run[-1][0] != tok.start[0] - 1:
                texts.append(run)
                run = []
            run.append((tok.start[0], tok.string.lstrip("#")))
    if run:
        texts.append(run)
    lines = source.splitlines()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = node.body[0] if node.body else None
            if (isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant)
                    and isinstance(doc.value.value, str)):
                texts.append([(n, lines[n - 1]) for n in range(doc.lineno, doc.end_lineno + 1)])
    return texts


def yaml_texts(path: Path) -> list[list[tuple[int, str]]]:
    """Each run of whole-line yaml comments, and each trailing comment, as (line, text) lists."""
    texts, run = [], []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        match = re.search(r"(?:^|\s)#(.*)", line)
        whole = line.lstrip().startswith("#")
        if run and not (match and whole):
            texts.append(run)
            run = []
        if match and whole:
            run.append((n, match.group(1)))
        elif match:
            texts.append([(n, match.group(1))])
    if run:
        texts.append(run)
    return texts


def scanned_files(root: Path = ROOT) -> list[Path]:
    return sorted(root.glob("src/**/*.py")) + sorted(root.glob("conf/**/*.yaml"))


def texts_of(path: Path) -> list[str]:
    found = py_texts(path) if path.suffix == ".py" else yaml_texts(path)
    return [joined(lines)[0] for lines in found]


def is_setting(text: str, match: re.Match) -> bool:
    """Whether the match's number (where the pattern names one) is a setting, not a result."""
    group = next((g for g in ("before", "after") if match.groupdict().get(g)), None)
    if group is None:
        return False
    start, end = match.span(group)
    return bool(SETTING.search(text[max(0, start - 25):start])
                or SETTING_AFTER.search(text[end:end + 30]))


def typed_results(root: Path = ROOT, allowed=ALLOWED) -> list[str]:
    """'file:line: kind: the matched text' for every measured-looking number."""
    found = []
    for path in scanned_files(root):
        name = path.relative_to(root).as_posix()
        for lines in (py_texts(path) if path.suffix == ".py" else yaml_texts(path)):
            text, starts = joined(lines)
            for kind, pattern in PATTERNS.items():
                for match in pattern.finditer(text):
                    hit = " ".join(match.group(0).split())
                    if is_setting(text, match) or any(
                            file == name and text in hit for file, text in allowed):
                        continue
                    line = max(n for offset, n in starts if offset <= match.start())
                    found.append(f"{name}:{line}: {kind}: {hit}")
    return found


def test_no_measured_number_in_src_docstrings_or_conf_comments():
    found = typed_results()
    assert not found, ("measured numbers belong in the study's table (experiments/<study>/); "
                       "say what was found and link it:\n" + "\n".join(found))


def test_every_allowance_is_still_needed():
    hits = typed_results(allowed={})
    stale = [entry for entry in ALLOWED
             if not any(hit.startswith(entry[0] + ":") and entry[1] in hit for hit in hits)]
    assert not stale, f"ALLOWED entries that match nothing now: {stale}"


def named_studies() -> list[tuple[str, str]]:
    links = set()
    for path in scanned_files():
        for text in texts_of(path):
            for target in re.findall(r"\bexperiments/[\w./#-]*[\w/]", text):
                links.add((path.relative_to(ROOT).as_posix(), target))
    return sorted(links)


@pytest.mark.parametrize(("file", "target"), named_studies())
def test_every_named_study_file_exists(file, target):
    path, _, anchor = target.partition("#")
    assert (ROOT / path).exists(), f"{file} names {target}, which does not exist"
    if anchor:
        from tests.test_docs import heading_anchors

        assert anchor in heading_anchors(ROOT / path), f"{file}: no #{anchor} in {path}"


def test_the_heuristic_flags_typed_results_and_passes_settings(tmp_path):
    """Lines as they stood before issue #38 (each must be flagged) beside settings (none may)."""
    (tmp_path / "src").mkdir()
    (tmp_path / "conf").mkdir()
    (tmp_path / "src" / "m.py").write_text(
        '"""A gated vote (`skip=gated`:\nBLEU 0.27 -> 0.37 for the plain vote)."""\n\n'
        "x = 1  # the loop took 42 ms per batch of 128 on a CPU core\n"
        "# tanh saturated for 98% of its units\n"
        "y = 2  # a floor of 2.2 nats on the total KL, lr 1e-3, 28x28 images, 60k of them\n")
    (tmp_path / "conf" / "r.yaml").write_text(
        "# upscale4_aug on L1.\n# Result: +0.79 dB on Y over bicubic; experiments/restoration.\n"
        "a: 1  # (experiment=image_generation/vae: 4.15; vae_mixture: 3.43)\n"
        "b: 2  # free bits: 0.05 nats per dimension; validation is a seeded 10% of train\n"
        "c: 3  # the learned mixture measured 51.66 PPL against its 51.74\n")
    found = typed_results(tmp_path, allowed={})
    lines = {hit.split(": ", 1)[0] for hit in found}
    assert lines == {"src/m.py:2", "src/m.py:4", "src/m.py:5", "conf/r.yaml:2", "conf/r.yaml:3",
                     "conf/r.yaml:5"}, found
