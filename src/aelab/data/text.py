"""Text data: `datasets` rows -> a word-level `tokenizers` vocabulary -> padded id batches.

The tokenizer is trained on the train split only and saved as tokenizer.json in the run
dir, so eval, generate and resumed runs use exactly the same vocabulary. Every sentence
becomes `<bos> w1 ... wn <eos>`; batches group sentences of similar length (bucketing) so
little compute goes into padding.
"""

import logging
import re
from pathlib import Path
from typing import Annotated, Literal, get_args

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from aelab.data.hub import find_column, first_split, load_splits, standard_splits
from aelab.data.loaders import SplitLoaders, rank_and_world
from aelab.data.toy_text import make_sentences
from aelab.errors import AelabError
from aelab.files import atomic_write_text
from aelab.options import NonNegativeInt, PositiveFloat, PositiveInt, Range

log = logging.getLogger(__name__)
PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
SPECIALS = [PAD, UNK, BOS, EOS]  # the tokenizer gives them ids 0, 1, 2, 3
PAD_ID, UNK_ID, BOS_ID, EOS_ID = range(4)
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")


def split_sentences(text: str) -> list[str]:
    """Paragraph -> sentences, on . ! ? followed by a capital (good enough for wiki / yelp)."""
    return [s.strip() for s in SENTENCE_END.split(text) if s.strip()]


def clean_lines(texts, split_into_sentences: bool, drop_headings: bool) -> list[str]:
    out = []
    for text in texts:
        text = (text or "").strip()
        if not text or (drop_headings and text.startswith("=") and text.endswith("=")):
            continue  # wikitext: blank lines and " = Heading = " lines
        out += split_sentences(text) if split_into_sentences else [text]
    return out


TokenizerKind = Literal["words", "whitespace"]
TOKENIZERS = get_args(TokenizerKind)
# vocab_size=null keeps every word of the train split (the trainer needs some number).
ALL_WORDS = 2**31 - 1


def train_tokenizer(sentences: list[str], vocab_size: int | None, min_freq: int, lowercase: bool,
                    kind: TokenizerKind = "words"):
    """A word-level vocabulary of the train split.

    kind="words": NFKC, then words and punctuation apart ("don't" -> don ' t); for raw text.
    kind="whitespace": the text's own tokens, split on spaces only and not normalised, for
    corpora that come tokenized (PTB as Mikolov's stream: its `<unk>` is our <unk> and its
    `N` stays `N`), so perplexities match the published protocol.
    """
    from tokenizers import Tokenizer, normalizers, pre_tokenizers
    from tokenizers.models import WordLevel
    from tokenizers.trainers import WordLevelTrainer

    if kind not in TOKENIZERS:
        raise AelabError(f"data.tokenizer={kind} is not one of: {', '.join(TOKENIZERS)}")
    tokenizer = Tokenizer(WordLevel(unk_token=UNK))
    if kind == "words":
        steps = [normalizers.NFKC()] + ([normalizers.Lowercase()] if lowercase else [])
        tokenizer.normalizer = normalizers.Sequence(steps)
        tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()  # words and punctuation apart
    else:
        if lowercase:
            tokenizer.normalizer = normalizers.Lowercase()
        tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    trainer = WordLevelTrainer(vocab_size=ALL_WORDS if vocab_size is None else vocab_size,
                               min_frequency=min_freq, special_tokens=SPECIALS,
                               show_progress=False)
    # A corpus's own "<unk>" (PTB's) must stay our <unk>: encoding maps it there, but the
    # trainer would count it as a word and give it a second id, leaving id 1 without a token.
    specials = re.compile("|".join(map(re.escape, SPECIALS)))
    tokenizer.train_from_iterator((specials.sub(" ", s) for s in sentences), trainer)
    return tokenizer


class TokenBatches(Dataset):
    """Sentences as id lists; an item is a whole padded batch for a list of indices."""

    def __init__(self, ids: list[list[int]]):
        self.ids = ids

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, indices: list[int]) -> dict:
        rows = [self.ids[i] for i in indices]
        lengths = torch.tensor([len(r) + 2 for r in rows])  # + <bos>, <eos>
        tokens = torch.full((len(rows), int(lengths.max())), PAD_ID, dtype=torch.long)
        for i, row in enumerate(rows):
            tokens[i, : len(row) + 2] = torch.tensor([BOS_ID, *row, EOS_ID])
        return {"tokens": tokens, "lengths": lengths}


class BucketBatchSampler(Sampler[list[int]]):
    """Batches of similar length, reshuffled per epoch from (seed, epoch), sharded by rank.

    Shuffle, cut into pools of 50 batches, sort each pool by length, cut into batches,
    shuffle the batches: padding stays small and the order is still random.
    """

    def __init__(self, lengths: list[int], batch_size: int, shuffle: bool, seed: int = 0,
                 rank: int = 0, world_size: int = 1, pool: int = 50):
        self.lengths, self.batch_size, self.shuffle, self.seed = lengths, batch_size, shuffle, seed
        self.rank, self.world_size, self.pool, self.epoch = rank, world_size, pool, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _batches(self) -> list[list[int]]:
        n = len(self.lengths)
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        order = torch.randperm(n, generator=g).tolist() if self.shuffle else list(range(n))
        size = self.batch_size * self.pool
        batches = []
        for start in range(0, n, size):
            chunk = sorted(order[start:start + size], key=self.lengths.__getitem__)
            batches += [chunk[i:i + self.batch_size] for i in range(0, len(chunk), self.batch_size)]
        if self.shuffle:
            batches = [batches[i] for i in torch.randperm(len(batches), generator=g).tolist()]
        if self.shuffle and self.world_size > 1:  # equal steps per process; see EpochBatchSampler
            batches = batches[:len(batches) - len(batches) % self.world_size]
        return batches[self.rank::self.world_size]

    def __iter__(self):
        return iter(self._batches())

    def __len__(self) -> int:
        return len(self._batches())


class TextDataModule(SplitLoaders, L.LightningDataModule):
    """Sentences from a hub id or local folder (`path`, `name`, `text_column`).

    `max_len` caps words per training sentence (longer ones are cut; how many is logged
    once); validation and test sentences are scored whole, as published results are, and
    one longer than `max_eval_len` stops the run before it trains.
    `tokenizer` is "words" or "whitespace" (see train_tokenizer). `batch_size` is per
    device. The tokenizer goes to `tokenizer_dir` (the run dir).
    """

    modality = "text"

    def __init__(self, path: str | None = None, name: str | None = None,
                 text_column: str | None = None, split_sentences: bool = False,
                 drop_headings: bool = False,
                 vocab_size: Annotated[int, Range(ge=len(SPECIALS) + 1)] | None = 10000,
                 min_freq: PositiveInt = 1, lowercase: bool = True,
                 tokenizer: TokenizerKind = "words", max_len: PositiveInt = 40,
                 max_eval_len: PositiveInt | None = 1000,
                 val_size: PositiveFloat = 0.05, limit: PositiveInt | None = None,
                 batch_size: PositiveInt = 64, num_workers: NonNegativeInt = 0,
                 seed: NonNegativeInt = 0, tokenizer_dir: str | None = None):
        super().__init__()
        if max_len < 1 or (vocab_size is not None and vocab_size <= len(SPECIALS)):
            raise AelabError("data.max_len must be >= 1 and data.vocab_size > 4 (or null: every word)")
        self.tokenizer_kind = tokenizer
        self.path, self.name, self.text_column = path, name, text_column
        self.split_into_sentences, self.drop_headings = split_sentences, drop_headings
        self.vocab_size, self.min_freq, self.lowercase = vocab_size, min_freq, lowercase
        self.max_len, self.val_size, self.limit = max_len, val_size, limit
        self.max_eval_len = max_eval_len
        self.batch_size, self.num_workers, self.seed = batch_size, num_workers, seed
        self.tokenizer_dir = Path(tokenizer_dir) if tokenizer_dir else None
        self.tokenizer = None
        self.saved_tokenizer_only = False
        self.texts: dict[str, list[str]] | None = None
        self.ids: dict[str, list[list[int]]] = {}

    def load_texts(self) -> dict[str, list[str]]:
        """train / val / test lists of sentences; toy_text makes its own."""
        splits = load_splits(self.path, self.name)
        datasets = standard_splits(splits, self.val_size, self.seed)
        column = find_column(first_split(splits).features, self.text_column, "Value",
                             "data.text_column")
        texts = {}
        for role, ds in datasets.items():
            lines = clean_lines(ds[column], self.split_into_sentences, self.drop_headings)
            texts[role] = lines[: self.limit] if self.limit is not None else lines
            if not texts[role]:
                raise AelabError(f"the {role} split has no non-empty text in column {column!r}")
        return texts

    def setup(self, stage: str | None = None) -> None:
        if self.texts is not None:
            return
        self.texts = self.load_texts()
        self.tokenizer = self._tokenizer()
        for role, lines in self.texts.items():
            self.ids[role] = [e.ids for e in self.tokenizer.encode_batch(lines)]
        # Only training sentences are cut (memory and speed); val and test are scored whole,
        # so a perplexity covers every word of the split, as published numbers do.
        cut = sum(len(ids) > self.max_len for ids in self.ids["train"])
        self.ids["train"] = [ids[: self.max_len] for ids in self.ids["train"]]
        if cut:
            log.warning("%d of %d training sentences are longer than data.max_len=%d words and "
                        "were cut", cut, len(self.ids["train"]), self.max_len)
        self._refuse_overlong_eval_sentences()

    def longest(self) -> tuple[str, int, int]:
        """(split, index in it, tokens) of the longest sentence any split feeds a model."""
        return max(((role, i, len(ids)) for role, rows in self.ids.items()
                    for i, ids in enumerate(rows)), key=lambda t: t[2])

    def _refuse_overlong_eval_sentences(self) -> None:
        """A val/test sentence is scored whole, as one batch row: a 50,000-word line would
        pad its whole batch to that length (gigabytes) and only fail, if at all, after
        the fit. Stop before training instead, naming the sentence."""
        if self.max_eval_len is None:
            return
        for role in ("val", "test"):
            for i, ids in enumerate(self.ids[role]):
                if len(ids) > self.max_eval_len:
                    raise AelabError(
                        f"sentence {i} of the {role} split has {len(ids)} words, more than "
                        f"data.max_eval_len={self.max_eval_len} (it is scored whole, so its "
                        "batch would be padded to it); clean that line from the data, or raise "
                        "data.max_eval_len (null: no bound)")

    def require_saved_tokenizer(self) -> None:
        """A finished or resumed run reads its tokenizer.json and never trains a new one."""
        self.saved_tokenizer_only = True

    def _tokenizer(self):
        from tokenizers import Tokenizer

        saved = self.tokenizer_dir / "tokenizer.json" if self.tokenizer_dir else None
        if saved is not None and saved.exists():
            return Tokenizer.from_file(str(saved))  # the run's own vocabulary
        if self.saved_tokenizer_only:
            raise AelabError(
                f"{saved} is missing: this text run's vocabulary cannot be rebuilt (a new one "
                "from the data as it is now may number the words differently from the one the "
                "weights were trained with); put the run's tokenizer.json back, or retrain")
        tokenizer = train_tokenizer(self.texts["train"], self.vocab_size, self.min_freq,
                                    self.lowercase, self.tokenizer_kind)
        if saved is not None:
            atomic_write_text(saved, tokenizer.to_str(pretty=True))
        log.info("vocabulary: %d words (data.vocab_size=%s, data.min_freq=%d)",
                 tokenizer.get_vocab_size(), self.vocab_size, self.min_freq)
        return tokenizer

    @property
    def vocab_size_actual(self) -> int:
        return self.tokenizer.get_vocab_size()

    def decode(self, ids: list[int]) -> str:
        """Ids -> text, stopping at <eos> and skipping <bos>/<pad>."""
        words = []
        for i in map(int, ids):
            if i == EOS_ID:
                break
            if i not in (PAD_ID, BOS_ID):
                words.append(self.tokenizer.id_to_token(i))
        return " ".join(words)

    def examples(self, role: str, n: int) -> dict:
        return TokenBatches(self.ids[role])[list(range(min(n, len(self.ids[role]))))]

    def _loader(self, role: str, shuffle: bool) -> DataLoader:
        rank, world = rank_and_world(self.trainer)
        lengths = [len(ids) for ids in self.ids[role]]
        sampler = BucketBatchSampler(lengths, self.batch_size, shuffle, self.seed, rank, world)
        return DataLoader(TokenBatches(self.ids[role]), sampler=sampler, batch_size=None,
                          num_workers=self.num_workers, persistent_workers=self.num_workers > 0)



class ToyTextDataModule(TextDataModule):
    """Procedural sentences (see toy_text.py); train, val and test use different seeds."""

    def __init__(self, num_train: PositiveInt = 2000, num_val: PositiveInt = 200,
                 num_test: PositiveInt = 200, **kwargs):
        kwargs.pop("path", None)
        super().__init__(**kwargs)
        self.sizes = {"train": num_train, "val": num_val, "test": num_test}

    def load_texts(self) -> dict[str, list[str]]:
        limit = self.limit if self.limit is not None else float("inf")
        return {role: make_sentences(int(min(n, limit)), self.seed * 3 + i)
                for i, (role, n) in enumerate(self.sizes.items())}

