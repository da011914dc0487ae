"""Quality of a set of sampled sentences, and of the test sentences for reference.

    fd_<name>     Fréchet distance to the test sentences in a text run's features
                  (aelab.metrics.text_features.TextRunFeatures): the "FID for sentences"
    ppl_<name>    perplexity under a language model run (fluency)
    distinct_1/2  unique n-grams / all n-grams over the whole set (Li et al., 2016)
    self_bleu     each sentence's BLEU-4 against all the others as references, averaged
                  (Zhu et al., 2018, Texygen): high when the samples repeat each other
    count, words  sentences in the set, words per sentence (distinct-n and perplexity
                  both move with length, so the table shows it)

Sentences are strings of space-separated tokens, as generate.py writes them.
"""

import math
from collections import Counter

import torch
from torchmetrics.image.fid import FrechetInceptionDistance

from aelab.metrics.fid import Given


def ngrams(words: list[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]


def distinct_n(sentences: list[str], n: int) -> float:
    """Unique n-grams over the set / n-grams over the set (0 when there are none)."""
    grams = [g for sentence in sentences for g in ngrams(sentence.split(), n)]
    return len(set(grams)) / len(grams) if grams else 0.0


def self_bleu(sentences: list[str], n_gram: int = 4) -> float:
    """Mean over sentences of the BLEU of each against all the others as its references, BLEU
    exactly as torchmetrics' BLEUScore computes one sentence's (no smoothing; a sentence
    with no match at some order scores 0; the brevity penalty from the reference length
    closest to the sentence's, the first such reference on a tie).

    Scoring every sentence against N - 1 references one by one costs N^2 n-gram counts
    (hours for 10,000 samples). The clipped count of an n-gram needs only the largest count
    any *other* sentence has, so each n-gram keeps its largest count, the sentence holding
    it and the second largest: the others' largest is the second for that sentence, the
    largest for every other one. One pass over the n-grams."""
    words = [s.split() for s in sentences]
    counts = [Counter(g for n in range(1, n_gram + 1) for g in ngrams(w, n)) for w in words]
    top: dict[tuple, list] = {}  # n-gram -> [largest count, its sentence, second largest]
    for i, counter in enumerate(counts):
        for gram, k in counter.items():
            best = top.setdefault(gram, [0, -1, 0])
            if k > best[0]:
                best[:] = [k, i, best[0]]
            elif k > best[2]:
                best[2] = k
    if len(sentences) < 2:
        return float("nan")  # no other sentence to be a reference
    lengths = [len(w) for w in words]
    references = closest_lengths(lengths)
    scores = []
    for i, counter in enumerate(counts):
        matched, total = [0] * n_gram, [0] * n_gram
        for gram, k in counter.items():
            best = top[gram]
            others = best[2] if best[1] == i else best[0]
            matched[len(gram) - 1] += min(k, others)
            total[len(gram) - 1] += k
        if min(matched) == 0:  # as torchmetrics: some order without a match scores 0
            scores.append(0.0)
            continue
        log_precision = sum(math.log(m / t) for m, t in zip(matched, total, strict=True)) / n_gram
        reference = references[i]
        brevity = 1.0 if lengths[i] > reference else math.exp(1 - reference / lengths[i])
        scores.append(brevity * math.exp(log_precision))
    return sum(scores) / len(scores)


def closest_lengths(lengths: list[int]) -> list[int | None]:
    """For each sentence, the length of the other sentence closest to it in length, the first
    in the list on a tie (torchmetrics takes the first closest reference, in reference order);
    None without another sentence. Each length keeps its first two sentences, so a
    sentence looks only at lengths, not at every other sentence."""
    first: dict[int, list[int]] = {}
    for j, length in enumerate(lengths):
        holders = first.setdefault(length, [])
        if len(holders) < 2:
            holders.append(j)
    longest = max(lengths, default=0)
    out = []
    for i, length in enumerate(lengths):
        choice = None
        for distance in range(longest + 1):
            candidates = [(next(j for j in first[c] if j != i), c)
                          for c in {length - distance, length + distance}
                          if any(j != i for j in first.get(c, []))]
            if candidates:
                choice = min(candidates)[1]  # the candidate met first in the list
                break
        out.append(choice)
    return out


def frechet_distance(features: torch.Tensor, reference: torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets, as torchmetrics
    computes FID (float64 statistics), with the features given rather than extracted."""
    metric = FrechetInceptionDistance(feature=Given(features.shape[1])).to(features.device)
    metric.update(reference, real=True)
    metric.update(features, real=False)
    return float(metric.compute())


def diversity(sentences: list[str]) -> dict[str, float]:
    return {"count": float(len(sentences)),
            "words": sum(len(s.split()) for s in sentences) / max(1, len(sentences)),
            "distinct_1": distinct_n(sentences, 1), "distinct_2": distinct_n(sentences, 2),
            "self_bleu": self_bleu(sentences)}


def sample_quality(samples: list[str], test: list[str], held_out: list[str],
                   features=None, lm=None) -> dict[str, float]:
    """`sample/<metric>` for the samples and `real/<metric>` for the test sentences
    themselves, what real text scores. The Fréchet distances are both to the test sentences:
    the samples', and that of `held_out` real sentences (another split), the floor a
    sampler can reach with this many sentences (the distance is biased by the set sizes).
    `features` (TextRunFeatures) and `lm` (LanguageModelScore) are optional."""
    values = {}
    for prefix, sentences in (("sample", samples), ("real", test)):
        values.update({f"{prefix}/{key}": value for key, value in diversity(sentences).items()})
        if lm is not None:
            values[f"{prefix}/ppl_{lm.name}"] = lm.perplexity(sentences)
    if features is not None:
        reference = features(test)
        values[f"sample/fd_{features.name}"] = frechet_distance(features(samples), reference)
        values[f"real/fd_{features.name}"] = frechet_distance(features(held_out), reference)
    return values
