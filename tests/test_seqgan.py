"""SeqGAN captions: rollout rewards, the discriminator, policy gradient, the trainer and the backend."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import stylecap
from stylecap.core.errors import ConfigError
from stylecap.core.training.engine import Engine
from stylecap.plugins.captions.adversarial import mismatched
from stylecap.plugins.captions.decoding import sample
from stylecap.plugins.captions.model import ConditionalLSTM
from stylecap.plugins.captions.text import Vocab, tokenize
from stylecap.plugins.captions.tokens import BANNED, BOS_ID, EOS_ID, with_bos
from stylecap.plugins.seqgan import SeqGAN
from stylecap.plugins.seqgan.discriminator import PairDiscriminator, discriminator_loss
from stylecap.plugins.seqgan.rewards import coverage, draw, lag, naive_rollout_rewards, rollout_rewards
from stylecap.plugins.seqgan.training import policy_gradient_loss, without_dropout

from .conftest import check_resume_is_exact, metrics
from .test_captions import PHOTOS, SUBJECTS, plugin, write_corpus  # noqa: F401 (plugin is a fixture)

TINY = dict(batch_size=16, min_count=1, d_embed=16, d_filters=8, rollouts=4, log_every=2, checkpoint_every=100)


class Likes(nn.Module):
    """A fixed judge: the more of word 4 and the fewer of word 5 in a sentence, the more real it looks."""

    def forward(self, tokens, cond):
        return 1.5 * (tokens == 4).sum(1).float() - 1.5 * (tokens == 5).sum(1).float() - 1.0


def tiny_lm(seed: int = 0) -> ConditionalLSTM:
    """Words 4-7 after the four specials; sentences end (<eos>, 2) about one word in four."""
    torch.manual_seed(seed)
    return ConditionalLSTM(vocab_size=8, cond_dim=2, embed=8, hidden=16).eval()


# -- rewards ----------------------------------------------------------------------------------


def test_draws_follow_the_policy_and_never_say_banned_words():
    probs = torch.tensor([0.3, 0.1, 0.1, 0.1, 0.1, 0.3, 0.0, 0.0])  # <pad> <bos> <eos> <unk> and four words
    drawn = draw(probs.clamp(min=1e-30).log().expand(20000, -1), torch.Generator().manual_seed(0))
    shares = torch.bincount(drawn, minlength=8) / 20000
    torch.testing.assert_close(shares, torch.tensor([0, 0, 0.2, 0, 0.2, 0.6, 0, 0]), atol=0.015, rtol=0)
    assert shares[[0, 1, 3, 6, 7]].sum() == 0


def test_batched_rewards_equal_the_loop_when_completions_are_certain():
    rollout = tiny_lm()
    with torch.no_grad():  # the rollout network always says word 4: completions are known
        rollout.out.weight.zero_()
        rollout.out.bias.fill_(-100.0)[4] = 100.0
    tokens = torch.tensor([[5, 4, 6, 2, 2], [4, 5, 5, 7, 6]])
    cond = torch.eye(2)
    batched = rollout_rewards(rollout, Likes(), tokens, cond, rollouts=3, max_len=6)
    naive = naive_rollout_rewards(rollout, Likes(), tokens, cond, rollouts=3, max_len=6)
    expected = torch.sigmoid(torch.tensor([
        [1.5 * (0 + 5) - 1.5 - 1, 1.5 * (1 + 4) - 1.5 - 1, 1.5 * (1 + 3) - 1.5 - 1, 1.5 - 1.5 - 1, 1.5 - 1.5 - 1],
        [1.5 * (1 + 5) - 1, 1.5 * (1 + 4) - 1.5 - 1, 1.5 * (1 + 3) - 3 - 1, 1.5 * (1 + 2) - 3 - 1, 1.5 * 1 - 3 - 1],
    ]))  # fmt: skip
    assert batched.shape == (2, 5)
    torch.testing.assert_close(batched, expected)
    torch.testing.assert_close(naive, expected)


def cycling_lm() -> ConditionalLSTM:
    """A rollout network whose next word depends on the prefix: trained on sentences where 4 -> 5 -> 6 -> 7 -> 4
    seven times in ten, any word otherwise, ending after 2 to 6 words."""
    g = torch.Generator().manual_seed(0)
    words = torch.randint(4, 8, (256, 7), generator=g)
    for i in range(1, 7):
        follow = torch.rand(256, generator=g) < 0.7
        words[:, i] = torch.where(follow, 4 + (words[:, i - 1] - 3) % 4, words[:, i])
    length = torch.randint(2, 7, (256, 1), generator=g)
    position = torch.arange(7)
    tokens = torch.cat([torch.full((256, 1), BOS_ID), words.masked_fill(position == length, EOS_ID)], 1)
    tokens[:, 1:] = tokens[:, 1:].masked_fill(position > length, 0)
    model = tiny_lm()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.03)
    for _ in range(150):
        logits = model(tokens[:, :-1], torch.eye(2).repeat(128, 1))
        loss = nn.functional.cross_entropy(logits.flatten(0, 1), tokens[:, 1:].flatten(), ignore_index=0)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


def test_batched_rewards_have_the_loops_expected_values_when_sampling():
    rollout, judge = cycling_lm(), Likes()
    tokens = torch.tensor([[5, 5, 6, 7, 2, 2], [4, 6, 4, 7, 6, 5]]).repeat(300, 1)  # 300 copies: 300 x N rollouts
    cond = torch.eye(2).repeat(300, 1)
    torch.manual_seed(1)
    batched = rollout_rewards(rollout, judge, tokens, cond, rollouts=4, max_len=8).view(300, 2, 6).mean(0)
    naive = naive_rollout_rewards(rollout, judge, tokens, cond, rollouts=4, max_len=8).view(300, 2, 6).mean(0)
    torch.testing.assert_close(batched, naive, atol=0.03, rtol=0)
    assert (batched.max(1).values - batched.min(1).values > 0.1).all()  # prefixes matter: the test tells them apart
    assert batched[0, 4] == naive[0, 4] == batched[0, 5]  # the sentence ended: its reward is D on it


def test_policy_gradient_raises_the_reward_of_a_fixed_judge():
    generator, judge = tiny_lm(), Likes()
    rollout = copy.deepcopy(generator).requires_grad_(False)
    optimizer = torch.optim.Adam(generator.parameters(), lr=0.03)
    cond = torch.eye(2).repeat(32, 1)

    def mean_reward() -> float:
        fake = sample(generator, cond.repeat(4, 1), bos=BOS_ID, eos=EOS_ID, max_len=6, banned=BANNED)[0]
        return float(torch.sigmoid(judge(fake.masked_fill(fake == EOS_ID, 0), None)).mean())

    torch.manual_seed(0)
    before = mean_reward()
    for _ in range(15):
        fake = sample(generator, cond, bos=BOS_ID, eos=EOS_ID, max_len=6, banned=BANNED)[0]
        rewards = rollout_rewards(rollout, judge, fake, cond, rollouts=4, max_len=6)
        loss = policy_gradient_loss(generator(with_bos(fake), cond), fake, rewards)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        lag(rollout, generator, 0.8)
    assert mean_reward() > before + 0.3, before


def test_the_rollout_network_lags_the_generator():
    generator, rollout = tiny_lm(0), tiny_lm(1)
    old = copy.deepcopy(rollout)
    lag(rollout, generator, 0.8)
    for r, o, g in zip(rollout.parameters(), old.parameters(), generator.parameters()):
        torch.testing.assert_close(r, 0.8 * o + 0.2 * g)


def test_coverage_is_the_share_of_concepts_named():
    vocab = Vocab.build([tokenize("my kitty and the puppies like pizza")])
    tokens = torch.tensor([vocab.encode(tokenize("my kitty and the puppies")) + [EOS_ID] + vocab.encode(["pizza"])])
    concepts = ["cat", "dog", "pizza", "car"]
    cond = torch.tensor([[1.0, 0.0, 1.0, 0.0]])
    assert coverage(tokens, cond, vocab, concepts).tolist() == [0.5]  # cat yes; pizza only after <eos>


# -- the discriminator ------------------------------------------------------------------------


def test_mismatched_conditions_come_from_rows_about_something_else():
    cond = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    other, valid = mismatched(cond)
    assert other.tolist() == [[0.0, 1.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]] and valid.all()
    assert not mismatched(torch.ones(3, 2))[1].any()


def test_discriminator_learns_real_fake_and_mismatched_pairs():
    torch.manual_seed(0)
    judge = PairDiscriminator(vocab_size=12, cond_dim=2, length=6, embed=16, widths=(1, 2), filters=16)
    optimizer = torch.optim.Adam(judge.parameters(), lr=0.01)
    real = torch.tensor([[4, 5, 6, 2, 0, 0], [8, 9, 10, 2, 0, 0]]).repeat(8, 1)  # rows about concept 0 or 1
    cond = torch.eye(2).repeat(8, 1)
    for _ in range(60):
        fake = torch.randint(4, 12, (16, 6))
        loss, accuracy = discriminator_loss(judge, real, fake, cond)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    judge.eval()
    _, accuracy = discriminator_loss(judge, real, torch.randint(4, 12, (16, 6)), cond)
    assert {k: float(v) for k, v in accuracy.items()} == {"d_acc_real": 1.0, "d_acc_fake": 1.0, "d_acc_mismatched": 1.0}


# -- the trainer ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("seqgan")
    return {"corpus": str(write_corpus(folder / "chat.txt", conversations=40)), "cache_dir": folder / "cache"}


@pytest.fixture(scope="module")
def mle(corpus, tmp_path_factory):
    """A warm start: mle-lstm trained on the tiny corpus."""
    run = tmp_path_factory.mktemp("mle") / "run"
    stylecap.train("caption", "mle-lstm", out=run, steps=40, batch_size=16, embed=16, hidden=32, min_count=1, lr=0.02,
                   log_every=10, checkpoint_every=40, **corpus)  # fmt: skip
    return run


def train(**options):
    """Run the seqgan trainer and keep it, to look at its discriminator and rollout network afterwards."""
    trainer = stylecap.registry("trainer").get("seqgan").create(**options)
    return Engine(trainer).run(), trainer


@pytest.fixture(scope="module")
def scratch(corpus, tmp_path_factory):
    """From a barely trained generator, so D learns to tell real sentences from near-random ones."""
    run = tmp_path_factory.mktemp("scratch") / "run"
    _, trainer = train(out=run, mle_steps=2, d_pretrain_steps=16, steps=24, lr_d=5e-3, embed=16, hidden=32, **corpus,
                       **TINY)  # fmt: skip
    return run, trainer


def test_discriminator_accuracies_and_rewards_are_logged(scratch):
    run, _ = scratch
    rows = metrics(run)
    assert set(rows[0]) >= {"nll"} and "d_acc_real" not in rows[0]  # steps 1-2: teacher forcing only
    pretrain, adversarial = rows[1:9], rows[9:]
    assert all({"d_loss", "d_acc_real", "d_acc_fake", "d_acc_mismatched"} <= set(r) for r in pretrain + adversarial)
    assert all({"pg_loss", "reward", "coverage"} <= set(r) for r in adversarial) and "reward" not in pretrain[-1]
    assert pretrain[-1]["d_acc_real"] > 0.8 and pretrain[-1]["d_acc_fake"] > 0.8
    assert pretrain[-1]["d_loss"] < pretrain[0]["d_loss"]


def test_rewards_are_higher_for_real_sentences_than_random_ones(scratch):
    _, trainer = scratch
    torch.manual_seed(0)
    tokens, cond = (torch.stack(x) for x in zip(*(trainer.dataset[i] for i in range(32))))
    real = tokens[:, 1:]
    ends = (real == 0) | (real == EOS_ID)
    random = torch.where(ends, real, torch.randint(4, len(trainer.vocab), real.shape))  # same lengths, random words
    judge, rollout = trainer.models["d"].eval(), trainer.models["rollout"]
    on_real = rollout_rewards(rollout, judge, real, cond, rollouts=4, max_len=real.shape[1])
    on_random = rollout_rewards(rollout, judge, random, cond, rollouts=4, max_len=real.shape[1])
    assert on_real.shape == on_random.shape == real.shape
    words, last = real != 0, real == EOS_ID
    assert on_real[words].mean() > on_random[words].mean() + 0.05
    assert on_real[last].mean() > on_random[last].mean() + 0.25  # D on whole sentences


def test_warm_started_training_moves_the_generator_and_exports_a_seqgan_backend(mle, corpus, tmp_path):
    run = tmp_path / "gan"
    backend, trainer = train(out=run, init=mle, d_pretrain_steps=2, steps=8, mle_every=3, lr_g=3e-3, **corpus, **TINY)
    start = stylecap.Pipeline.load(mle / "final").caption
    assert isinstance(backend, SeqGAN) and backend.vocab.words == start.vocab.words
    moved = [k for k, v in start.net.state_dict().items() if not torch.equal(v, backend.net.state_dict()[k])]
    assert "out.weight" in moved and "lstm.weight_hh_l0" in moved
    lagging = trainer.models["rollout"].out.weight  # between where the generator started and where it is
    assert not torch.equal(lagging, start.net.out.weight) and not torch.equal(lagging, backend.net.out.weight)
    again = stylecap.Pipeline.load(run / "final").caption
    assert isinstance(again, SeqGAN)
    sets = [[s] for s in SUBJECTS]
    assert again.generate(sets) == backend.generate(sets)
    assert sum(s[0] in text for s, text in zip(sets, again.generate(sets))) >= 3
    copy_ = stylecap.create("caption", "seqgan", weights=str(backend.save(tmp_path / "seqgan.safetensors")))
    assert copy_.generate(sets) == backend.generate(sets)
    assert "cat" in stylecap.Pipeline.load(run / "final")(PHOTOS / "chelsea.png", seed=0).caption


def test_resume_after_a_kill_repeats_the_uninterrupted_run(mle, corpus, tmp_path):
    options = dict(init=mle, d_pretrain_steps=2, steps=6, mle_every=2, coverage_weight=0.5, **corpus,
                   **(TINY | {"log_every": 1}))  # fmt: skip
    check_resume_is_exact("caption", "seqgan", tmp_path / "gan", **options)


@pytest.mark.parametrize(
    "values, field",
    [({"rollouts": 0}, "rollouts"), ({"rollout_update_rate": 1.5}, "rollout_update_rate"), ({"lr_d": 0}, "lr_d"),
     ({"d_widths": [2, 30]}, "d_widths"), ({"mle_every": -1}, "mle_every"), ({"init": "missing/run"}, "init"),
     ({"init": None}, "init is required"), ({"g_steps": 0}, "g_steps"), ({"coverage_weight": -1}, "coverage_weight")],
)  # fmt: skip
def test_bad_values_are_config_errors_naming_the_field(plugin, tmp_path, values, field):  # noqa: F811
    with pytest.raises(ConfigError, match=field):
        stylecap.registry("trainer").get("seqgan").build_config({"init": str(tmp_path)} | values)


def test_init_must_hold_a_caption_model(plugin, corpus, tmp_path):  # noqa: F811
    (tmp_path / "weights.safetensors").write_bytes(b"")
    with pytest.raises(stylecap.StylecapError, match="weights.safetensors"):
        stylecap.train("caption", "seqgan", out=tmp_path / "run", init=tmp_path / "weights.safetensors", **corpus)


def test_backend_without_weights_says_how_to_get_them(plugin):  # noqa: F811
    backend = stylecap.create("caption", "seqgan", weights="none")
    with pytest.raises(stylecap.StylecapError, match="no trained weights.*stylecap train caption seqgan"):
        backend.caption(torch.zeros(1, 3, 32, 32))


def test_policy_is_scored_without_dropout_in_training_mode():
    """The update scores the sampling policy (no dropout) while the LSTM stays in training mode for cuDNN."""
    torch.manual_seed(0)
    net = ConditionalLSTM(vocab_size=8, cond_dim=2, embed=8, hidden=16, layers=2, dropout=0.5).train()
    tokens, cond = torch.randint(1, 8, (4, 6)), torch.rand(4, 2)
    with torch.no_grad():
        expected = net.eval()(tokens, cond)
    net.train()
    with without_dropout(net):
        assert net.training
        scored = net(tokens, cond)
    torch.testing.assert_close(scored, expected)
    assert net.drop.p == 0.5 and net.lstm.dropout == 0.5
    assert not torch.equal(net(tokens, cond), expected)  # dropout is back
