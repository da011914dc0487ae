"""Numbers that mean what the papers mean: per-token text losses, nucleus sampling with a
temperature, VQ vectors from the codebook that chose them, PTB's own tokens, BLEU without
<unk> credit. Each test fails on the code before its fix."""

import math
import random

import pytest
import torch

from aelab.data.text import PAD_ID, SPECIALS, UNK_ID, TextDataModule
from aelab.nets.image.quantizer import VectorQuantizer
from aelab.nets.text.decoding import greedy_or_sample
from tests.conftest import train_run


def write_text_parquet(folder, splits: dict[str, list[str]], column: str = "text"):
    from datasets import Dataset

    folder.mkdir(parents=True)
    for split, lines in splits.items():
        Dataset.from_dict({column: lines}).to_parquet(str(folder / f"{split}-00000-of-00001.parquet"))
    return folder


def varied_lengths(n: int, seed: int) -> list[str]:
    """Sentences of 1 to 30 words: a sentence-weighted mean of per-token losses is far from
    the per-token mean on such data."""
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(40)]
    return [" ".join(rng.choice(words) for _ in range(rng.choice([1, 2, 3, 25, 30])))
            for _ in range(n)]


@pytest.fixture(scope="module")
def varied_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("varied")
    data = write_text_parquet(root / "corpus", {s: varied_lengths(n, i) for i, (s, n) in
                                                enumerate((("train", 96), ("validation", 48),
                                                           ("test", 48)))})
    common = ["data=text", f"data.path={data}", "data.batch_size=8", "model.width=16",
              "model.embed_dim=16", "trainer=cpu", "trainer.max_epochs=1",
              "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false",
              "trainer.limit_train_batches=3"]
    return {"lm": train_run(root / "lm", *common, "model=lstm_lm", fast=False),
            "ae": train_run(root / "ae", *common, "model=lstm_ae", "model.latent_dim=8",
                            fast=False)}


def test_text_loss_is_per_token_so_it_is_the_log_perplexity(varied_runs):
    lm, ae = varied_runs["lm"], varied_runs["ae"]
    assert lm["test/loss"] == pytest.approx(math.log(lm["test/ppl"]), abs=1e-4)
    assert ae["test/loss"] == pytest.approx(math.log(ae["test/rec_ppl"]), abs=1e-4)


class FixedDecoder(torch.nn.Module):
    """A decoder whose next-token distribution is always `probs` (one decoding step): the
    decoder interface (aelab.nets.text.interface) is all decoding needs."""

    def __init__(self, probs: list[float]):
        super().__init__()
        self.vocab_size, self.latent_dim = len(probs), 0
        self.unused = torch.nn.Linear(1, 1)  # decoding finds the device from the parameters
        self.log_probs = torch.tensor(probs).log()

    def start(self, z, n):
        return torch.zeros(n, 1)

    def step(self, token, state, z):
        return self.log_probs.expand(len(token), -1), state

    def reorder(self, state, index):
        return state[index]


# Distinct probabilities (no ties at the edge of the nucleus); id 3 is <eos>: fine, one step.
PROBS = [0.02, 0.03, 0.04, 0.30, 0.20, 0.15, 0.12, 0.08, 0.06]


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0])
def test_top_p_keeps_the_nucleus_of_the_tempered_distribution(temperature):
    """Sampled tokens = the shortest prefix of q = p**(1/T) / sum p**(1/T), sorted, whose
    mass reaches 0.9."""
    p = torch.tensor(PROBS, dtype=torch.float64)
    q = p ** (1 / temperature) / (p ** (1 / temperature)).sum()
    order = q.argsort(descending=True)
    mass = q[order].cumsum(0)
    expected = set(order[: int((mass < 0.9).sum()) + 1].tolist())
    torch.manual_seed(0)
    tokens = greedy_or_sample(FixedDecoder(PROBS), None, 20_000, max_len=1, sample=True,
                              temperature=temperature, top_p=0.9)
    assert set(tokens.flatten().tolist()) == expected


def test_top_p_nucleus_sizes_by_hand():
    """The same cut on a distribution small enough to check on paper: p = (.5, .3, .1, .1),
    top_p = 0.85.
    T=0.5: q = (.25, .09, .01, .01) / .36 = (.694, .25, .028, .028): 2 tokens reach .85.
    T=1:   .5 + .3 + .1 = .9: 3 tokens.
    T=2:   q = sqrt(p) / 1.887 = (.375, .290, .168, .168): .833 after 3, so 4 tokens.
    The old code cut on unnormalised p**(1/T): 4 tokens at T=0.5, 2 at T=2."""
    probs = [0.5, 0.3, 0.1, 0.1]
    for temperature, size in ((0.5, 2), (1.0, 3), (2.0, 4)):
        torch.manual_seed(0)
        tokens = greedy_or_sample(FixedDecoder(probs), None, 5_000, max_len=1, sample=True,
                                  temperature=temperature, top_p=0.85)
        assert len(set(tokens.flatten().tolist())) == size, temperature


def test_quantizer_returns_the_vectors_the_chosen_codes_had_when_chosen():
    torch.manual_seed(0)
    vq = VectorQuantizer(num_codes=16, code_dim=4, decay=0.5, restart_below=0.5).train()
    for _ in range(3):
        data = torch.randn(32, 4, 2, 2) * 3 + 5  # far from the codebook: EMA moves, codes restart
        before = vq.codebook.clone()
        quantised, codes, _ = vq(data)
        assert not torch.equal(vq.codebook, before)  # this batch did move the codebook
        chosen = before[codes].permute(0, 3, 1, 2)  # (N, D, H, W) as returned
        assert torch.allclose(quantised, chosen, atol=1e-6)


PTB_TRAIN = ["the u.s. company 's N shares did n't rise", "mr. <unk> said co-chairman N",
             "The N n't"]


def test_ptb_vocabulary_is_exactly_its_space_separated_tokens(tmp_path):
    long_test = " ".join(["the"] * 12)
    folder = write_text_parquet(tmp_path / "ptb", {"train": PTB_TRAIN,
                                                   "validation": ["the N shares"],
                                                   "test": [long_test, "mr. <unk> did n't"]},
                                column="sentence")
    from hydra.utils import instantiate

    from tests.conftest import compose_config

    cfg = compose_config(["data=ptb", f"data.path={folder}", "data.max_len=5",
                          f"paths.output_dir={tmp_path / 'run'}"])
    dm = instantiate(cfg.data)
    dm.setup()
    vocab = set(dm.tokenizer.get_vocab())
    tokens = {w for line in PTB_TRAIN for w in line.split()}
    assert vocab - set(SPECIALS) == tokens - {"<unk>"}
    assert dm.tokenizer.token_to_id("<unk>") == UNK_ID  # PTB's own <unk> is ours
    assert dm.tokenizer.token_to_id("N") != dm.tokenizer.token_to_id("n't")
    assert "The" in vocab and "the" in vocab  # no lowercasing
    # Training sentences are cut at data.max_len; test sentences are scored whole.
    assert max(map(len, dm.ids["train"])) == 5
    assert len(dm.ids["test"][0]) == 12
    assert dm.decode(dm.ids["test"][1]) == "mr. <unk> did n't"


def test_words_tokenizer_is_unchanged_for_raw_text():
    dm = TextDataModule(path=None)
    from aelab.data.text import train_tokenizer

    tok = train_tokenizer(["Don't stop."], vocab_size=100, min_freq=1, lowercase=True)
    assert [tok.id_to_token(i) for i in tok.encode("Don't stop.").ids] == ["don", "'", "t",
                                                                          "stop", "."]
    assert dm.tokenizer_kind == "words"


def test_bleu_known_gives_no_credit_for_a_copied_unk():
    from tests.conftest import build_model

    model = build_model("lstm_ae", "model.latent_dim=4", "model.width=8", "model.embed_dim=8",
                        vocab_size=30)
    sources = torch.tensor([[2, 10, UNK_ID, 11, 12, 13, 14, UNK_ID, 15, 3],
                            [2, 16, 17, 18, 19, 20, UNK_ID, 21, 3, PAD_ID]])
    batch = {"tokens": sources, "lengths": torch.tensor([10, 9])}
    model.reconstruct = lambda batch, **_: batch["tokens"][:, 1:]  # a perfect copy
    model.log_bleu(batch, (batch["tokens"], batch["lengths"]))
    assert model.bleu.compute().item() == pytest.approx(1.0)
    known = model.bleu_known.compute().item()
    assert 0.2 < known < 0.9  # the <unk>s break n-grams; everything else still matches
