"""`toy_text`: sentences from a small seeded grammar, made offline, for smoke runs and tests.

Sentences look like "the small dog sees a red ball ." or "a cat runs quickly ."; the
vocabulary is under 50 words, so an autoencoder can learn to reconstruct them exactly in
a few hundred steps, which makes it a sharp test of the text pipeline.
"""

import random

DETERMINERS = ["the", "a", "every", "one"]
ADJECTIVES = ["small", "big", "red", "green", "old", "young", "happy", "quiet"]
NOUNS = ["dog", "cat", "bird", "ball", "tree", "house", "child", "car"]
VERBS_T = ["sees", "likes", "finds", "follows", "paints", "carries"]
VERBS_I = ["runs", "sleeps", "sings", "waits", "jumps"]
ADVERBS = ["quickly", "slowly", "today", "again", "quietly"]


def noun_phrase(rng: random.Random) -> list[str]:
    words = [rng.choice(DETERMINERS)]
    words += [rng.choice(ADJECTIVES) for _ in range(rng.choice([0, 0, 1, 2]))]
    return words + [rng.choice(NOUNS)]


def sentence(rng: random.Random) -> str:
    words = noun_phrase(rng)
    if rng.random() < 0.6:
        words += [rng.choice(VERBS_T)] + noun_phrase(rng)
    else:
        words += [rng.choice(VERBS_I)]
    if rng.random() < 0.4:
        words.append(rng.choice(ADVERBS))
    return " ".join(words + ["."])


def make_sentences(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [sentence(rng) for _ in range(n)]
