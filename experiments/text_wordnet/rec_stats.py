"""Exact matches and repeated words in reconstructions written by generate.py.

    python generate.py run_dir=RUN task=reconstruct num_images=2000
    python experiments/text_wordnet/rec_stats.py RUN/generated/reconstruct.txt [...]

A reconstruction "repeats a word" when some word occurs in it twice or more and more often
than in the input: "the act of appearing again again" for "the act of someone appearing
again". That is the failure a code that votes for its words at every step (skip_latent)
invites, since nothing tells it which of them were written already.
"""

import sys


def pairs(path: str) -> list[tuple[list[str], list[str]]]:
    """The file's (input words, output words) pairs: blocks of 'in:  ...' / 'out: ...'."""
    out = []
    for block in open(path).read().split("\n\n"):
        lines = [line for line in block.splitlines() if line.strip()]
        if len(lines) >= 2 and lines[0].startswith("in:") and lines[1].startswith("out:"):
            out.append((lines[0][5:].split(), lines[1][5:].split()))
    return out


def repeats(source: list[str], output: list[str]) -> bool:
    return any(output.count(w) > max(1, source.count(w)) for w in set(output))


if __name__ == "__main__":
    for path in sys.argv[1:]:
        ps = pairs(path)
        if not ps:
            sys.exit(f"{path}: no 'in:'/'out:' pairs; is it a task=reconstruct file?")
        n = len(ps)
        exact = sum(a == b for a, b in ps) / n
        rep = sum(repeats(a, b) for a, b in ps) / n
        print(f"{path}: {n} sentences, exact {exact:.3f}, repeats a word {rep:.3f}, "
              f"mean length in {sum(len(a) for a, _ in ps) / n:.2f} "
              f"out {sum(len(b) for _, b in ps) / n:.2f}")
