"""The Gumbel-softmax transformer GAN: β schedules, relaxation, transformer, trainer and backend."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import stylecap
from stylecap.core.errors import ConfigError, UsageError
from stylecap.core.training.engine import Engine
from stylecap.plugins.captions.cli import load_backend
from stylecap.plugins.captions.decoding import beam_search, sample, sequence_logprob
from stylecap.plugins.captions.tokens import BANNED, BOS_ID, EOS_ID, PAD_ID, with_bos
from stylecap.plugins.gumbel import (
    CaptionTransformer,
    GumbelTransformer,
    SoftCNNDiscriminator,
    SoftTransformerDiscriminator,
)
from stylecap.plugins.gumbel.discriminator import discriminator_loss, g_loss
from stylecap.plugins.gumbel.generator import TransformerConfig, gumbel_noise, gumbel_tokens, relax
from stylecap.plugins.gumbel.schedules import SCHEDULES, beta
from stylecap.plugins.gumbel.training import load_init as gumbel_init
from stylecap.plugins.seqgan.training import load_init as seqgan_init

from .conftest import check_resume_is_exact, metrics
from .test_captions import PHOTOS, SUBJECTS, plugin, write_corpus  # noqa: F401 (plugin is a fixture)

TINY = dict(batch_size=16, min_count=1, generator_options={"width": 16, "heads": 2, "layers": 1, "ff": 32},
            discriminator_options={"embed": 16, "heads": 2, "layers": 1, "ff": 32}, log_every=2,
            checkpoint_every=100)  # fmt: skip


def tiny_judge(kind: str) -> SoftCNNDiscriminator | SoftTransformerDiscriminator:
    """A seeded discriminator of either kind over ``tiny_transformer``'s words, without dropout."""
    torch.manual_seed(0)
    sizes = dict(vocab_size=8, cond_dim=2, length=6, embed=8, dropout=0.0)
    if kind == "cnn":
        return SoftCNNDiscriminator(SoftCNNDiscriminator.Config(widths=[1, 2], filters=4, **sizes))
    return SoftTransformerDiscriminator(SoftTransformerDiscriminator.Config(heads=2, layers=1, ff=16, **sizes))


JUDGES = ["cnn", "transformer"]


def tiny_transformer(seed: int = 0, vocab_size: int = 8) -> CaptionTransformer:
    """Words 4-7 after the four specials."""
    torch.manual_seed(seed)
    config = TransformerConfig(vocab_size=vocab_size, cond_dim=2, width=16, heads=2, layers=1, ff=32, positions=8)
    return CaptionTransformer(config).eval()


# -- β schedules ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "schedule, step, expected",
    [("none", 7, 1.0), ("linear", 5, 50.5), ("exponential", 5, 10.0), ("quadratic", 5, 1 + 99 / 4),
     ("sqrt", 5, 1 + 99 * math.sqrt(0.5)), ("sigmoid", 5, 50.5), ("log", 3, 1 + 99 * math.log(4) / math.log(11)),
     ("linear", 2, 1 + 99 * 0.2), ("exponential", 2, 100**0.2)],
)  # fmt: skip
def test_beta_schedules_are_exact_at_chosen_steps(schedule, step, expected):
    assert beta(schedule, step, 10, 100.0) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_every_beta_schedule_runs_from_one_to_beta_max_and_never_falls(schedule):
    values = [beta(schedule, step, 20, 50.0) for step in range(25)]
    assert values[0] == 1.0
    assert values[20] == values[24] == (1.0 if schedule == "none" else pytest.approx(50.0, rel=1e-12))
    assert all(a <= b for a, b in zip(values, values[1:]))


def test_unknown_beta_schedule_is_refused():
    with pytest.raises(ValueError, match="beta schedule must be one of"):
        beta("cubic", 1, 10, 10.0)


# -- the relaxation ---------------------------------------------------------------------------


def relaxed(net, hard: bool, b: float = 2.0, batch: int = 6, length: int = 6):
    torch.manual_seed(1)
    cond = torch.eye(2).repeat(batch // 2, 1)
    noise = gumbel_noise((batch, length, net.config.vocab_size))
    tokens = gumbel_tokens(net, cond, noise)
    return relax(net(with_bos(tokens), cond), noise, tokens, b, hard), tokens, cond


def test_straight_through_forward_is_exactly_one_hot_and_its_gradient_is_not_zero():
    net = tiny_transformer()
    words, tokens, _ = relaxed(net, hard=True)
    ended = (tokens == EOS_ID).long().cumsum(1) - (tokens == EOS_ID).long() > 0
    expected = F.one_hot(tokens.masked_fill(ended, PAD_ID), 8).float()
    assert torch.equal(words, expected)  # bit for bit: 0s and 1s, <pad> after <eos>
    (words * torch.randn_like(words)).sum().backward()
    assert net.out.weight.grad.abs().sum() > 0 and net.embed.weight.grad.abs().sum() > 0


def test_soft_relaxation_is_a_distribution_that_agrees_with_the_gumbel_max_sample():
    net = tiny_transformer()
    words, tokens, _ = relaxed(net, hard=False, b=1.0)
    assert torch.allclose(words.sum(-1), torch.ones(words.shape[:2]))
    live = ~((tokens == EOS_ID).long().cumsum(1) - (tokens == EOS_ID).long() > 0)
    assert (words[..., list(BANNED)][live] == 0).all() and (words[~live][:, PAD_ID] == 1).all()  # <pad> after the end
    assert not torch.equal(words, words.round())  # soft at β = 1
    assert torch.equal(words.argmax(-1)[live], tokens[live])  # same noise: the relaxation's mode is the sample
    sharp, _, _ = relaxed(net, hard=False, b=1000.0)
    assert torch.allclose(sharp, F.one_hot(sharp.argmax(-1), 8).float(), atol=1e-3)  # near one-hot at large β


@pytest.mark.parametrize("judge", JUDGES)
@pytest.mark.parametrize("hard", [False, True])
def test_gradients_reach_every_generator_parameter_through_the_relaxation(hard, judge):
    net, judge = tiny_transformer(), tiny_judge(judge)
    words, _, cond = relaxed(net, hard)
    g_loss("standard", None, judge(words, cond)).backward()
    no_grad = [n for n, p in net.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert no_grad == [], no_grad


@pytest.mark.parametrize("judge", JUDGES)
def test_feature_matching_pulls_generated_features_towards_real_ones(judge):
    net, judge = tiny_transformer(), tiny_judge(judge)
    real = F.one_hot(torch.tensor([[4, 4, 2, 0, 0, 0]]).repeat(6, 1), 8).float()
    optimizer = torch.optim.Adam(net.parameters(), lr=0.02)

    def distance() -> torch.Tensor:
        words, _, _ = relaxed(net, hard=True)
        return (judge.features(words).mean(0) - judge.features(real).mean(0)).pow(2).mean()

    before = distance().item()
    for _ in range(20):
        optimizer.zero_grad()
        distance().backward()
        optimizer.step()
    assert distance().item() < before / 2, before


def test_gumbel_max_draws_follow_the_model():
    net = tiny_transformer()
    cond = torch.eye(2).repeat(2000, 1)
    torch.manual_seed(0)
    first = gumbel_tokens(net, cond, gumbel_noise((4000, 1, 8)))[:, 0]
    probs = net(torch.full((2, 1), BOS_ID), torch.eye(2))[:, 0].index_fill(-1, torch.tensor(BANNED), -math.inf)
    shares = torch.stack([torch.bincount(first[i::2], minlength=8) / 2000 for i in range(2)])
    torch.testing.assert_close(shares, probs.softmax(-1).detach(), atol=0.035, rtol=0)


class Likes(nn.Module):
    """A fixed judge of word distributions: the more of word 4 and the less of word 5, the more real."""

    def forward(self, words, cond):
        return 1.5 * words[..., 4].sum(1) - 1.5 * words[..., 5].sum(1) - 1.0


@pytest.mark.parametrize("loss", ["standard", "hinge", "lsgan"])
def test_generator_updates_through_the_relaxation_raise_a_fixed_judges_score(loss):
    net, judge = tiny_transformer(), Likes()
    optimizer = torch.optim.Adam(net.parameters(), lr=0.01)
    cond = torch.eye(2).repeat(16, 1)

    @torch.no_grad()
    def score() -> float:
        torch.manual_seed(99)
        hard, _, _ = relaxed(net, hard=True, batch=256)
        return float(torch.sigmoid(judge(hard, None)).mean())

    before = score()
    torch.manual_seed(0)
    for _ in range(25):
        noise = gumbel_noise((32, 6, 8))
        tokens = gumbel_tokens(net, cond, noise)
        words = relax(net(with_bos(tokens), cond), noise, tokens, 1.0, hard=True)
        optimizer.zero_grad()
        g_loss(loss, None, judge(words, cond)).backward()
        optimizer.step()
    assert score() > before + 0.2, before


def test_discriminator_loss_prefers_real_pairs_for_every_loss():
    real = F.one_hot(torch.tensor([[4, 5, 2, 0], [6, 7, 2, 0]]), 8).float()
    fake = F.one_hot(torch.tensor([[4, 4, 4, 2], [7, 7, 7, 2]]), 8).float()
    cond = torch.eye(2)

    class Knows(nn.Module):  # scores real pairs +3, the rest -3
        def forward(self, words, c):
            own = torch.tensor([[4, 5], [6, 7]])[c.argmax(1)]
            match = words[torch.arange(len(c)), 0].gather(1, own[:, :1])[:, 0] * words[:, 1].gather(1, own[:, 1:])[:, 0]
            return 6 * match - 3

    for kind in ("standard", "rsgan", "hinge", "lsgan"):
        good, accuracy = discriminator_loss(kind, Knows(), real, fake, cond)
        bad, _ = discriminator_loss(kind, lambda w, c: -Knows()(w, c), real, fake, cond)
        assert good < bad, kind
        assert {k: float(v) for k, v in accuracy.items()} == {"d_acc_real": 1, "d_acc_fake": 1, "d_acc_mismatched": 1,
                                                              "d_acc_pair": 1}  # fmt: skip


# -- the transformer as a caption model --------------------------------------------------------


def test_transformer_steps_agree_with_teacher_forcing_and_beam_search_decodes_it():
    net = tiny_transformer()
    cond = torch.eye(2)
    tokens = torch.tensor([[BOS_ID, 4, 5, 6], [BOS_ID, 7, 7, 4]])
    full = net(tokens, cond).log_softmax(-1)
    state = net.start(cond)
    for t in range(4):
        step, state = net.step(tokens[:, t], state)
        torch.testing.assert_close(step, full[:, t], atol=1e-5, rtol=0)
    words, logprob = beam_search(net, cond[:1], bos=BOS_ID, eos=EOS_ID, max_len=6, beam_size=4, banned=BANNED)
    greedy = sample(net, cond[:1], bos=BOS_ID, eos=EOS_ID, max_len=6, greedy=True, banned=BANNED)[0][0].tolist()
    greedy = greedy[: greedy.index(EOS_ID)] if EOS_ID in greedy else greedy
    assert logprob == pytest.approx(sequence_logprob(net, cond[:1], words, bos=BOS_ID, eos=EOS_ID), abs=1e-4)
    assert logprob >= sequence_logprob(net, cond[:1], greedy, bos=BOS_ID, eos=EOS_ID) - 1e-5


def test_transformer_rebuilds_from_its_weights_alone():
    net = tiny_transformer()
    again = CaptionTransformer.from_state(net.state_dict())
    again.load_state_dict(net.state_dict())
    assert again.config == net.config


def test_generator_and_discriminator_are_registered_components(plugin):  # noqa: F811
    net = stylecap.create("generator", "caption-transformer", vocab_size=10, cond_dim=3, width=8, heads=2)
    judge = stylecap.create("discriminator", "caption-soft-cnn", vocab_size=10, cond_dim=3, length=5)
    assert isinstance(net, CaptionTransformer) and isinstance(judge, SoftCNNDiscriminator)
    judge = stylecap.create("discriminator", "caption-soft-transformer", vocab_size=10, cond_dim=3, length=5)
    assert isinstance(judge, SoftTransformerDiscriminator)
    assert judge(torch.eye(10)[None, :4], torch.ones(1, 3)).shape == (1,)
    entries = stylecap.list_components("generator") + stylecap.list_components("discriminator")
    assert [e.plugin.name for e in entries if e.name.startswith("caption-")] == ["gumbel"] * 3


# -- the trainer ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gumbel")
    return {"corpus": str(write_corpus(folder / "chat.txt", conversations=40)), "cache_dir": folder / "cache"}


def train(**options):
    trainer = stylecap.registry("trainer").get("gumbel-transformer").create(**options)
    return Engine(trainer).run(), trainer


@pytest.fixture(scope="module")
def gan(corpus, tmp_path_factory):
    """MLE pretraining in the same run, then D alone, then adversarial steps; and the same run stopped before
    the adversarial steps, to see what they changed."""
    options = dict(mle_steps=30, d_pretrain_steps=10, mle_every=0, lr=0.02, lr_g=3e-3, lr_d=5e-3, **corpus, **TINY)
    before = train(out=tmp_path_factory.mktemp("before") / "run", steps=40, **options)
    after = train(out=tmp_path_factory.mktemp("after") / "run", steps=46, **options)
    return before, after


def test_phases_log_what_they_train(gan):
    (_, _), (backend, trainer) = gan
    rows = metrics(trainer.config.out)
    mle, pretrain, adversarial = rows[:15], rows[15:20], rows[20:]
    assert all("d_loss" not in r for r in mle) and mle[-1]["nll"] < mle[0]["nll"] - 1.0
    logged = {"d_loss", "d_acc_real", "d_acc_fake", "d_acc_mismatched", "d_acc_pair", "fake_length"}
    assert all(logged <= set(r) for r in pretrain)
    assert all("g_loss" not in r for r in pretrain)
    assert pretrain[-1]["d_loss"] < pretrain[0]["d_loss"]  # D learns while G stands still
    assert all({"g_loss", "beta", "d_on_fake"} <= set(r) for r in adversarial)
    last = (beta("exponential", 4, 5, 100.0) + 100.0) / 2  # the log averages steps 45 and 46, the last one's β_max
    assert adversarial[0]["beta"] < adversarial[-1]["beta"] == pytest.approx(last)


def test_adversarial_steps_move_generator_and_discriminator(gan):
    (_, before), (_, after) = gan
    for name in ("lm", "d"):
        old, new = before.models[name].state_dict(), after.models[name].state_dict()
        moved = [k for k in old if old[k].is_floating_point() and not torch.equal(old[k], new[k])]
        assert len(moved) >= len([k for k in old if old[k].is_floating_point()]) // 2, (name, moved)


def test_trained_backend_reloads_and_captions_a_photo(gan, tmp_path):
    (_, _), (backend, trainer) = gan
    assert isinstance(backend, GumbelTransformer)
    sets = [[s] for s in SUBJECTS]
    texts = backend.generate(sets)
    assert sum(s[0] in text for s, text in zip(sets, texts)) >= 3  # grounded beam search names the subject
    again = stylecap.Pipeline.load(trainer.config.out / "final").caption
    assert isinstance(again, GumbelTransformer) and again.generate(sets) == texts
    path = backend.save(tmp_path / "g.safetensors", half=True)
    loaded = stylecap.create("caption", "gumbel-transformer", weights=str(path))
    assert all(v.dtype == torch.float16 for k, v in stylecap.core.checkpoint.load_checkpoint(path)[0].items()
               if k.startswith("net.") and v.is_floating_point())  # fmt: skip
    assert len(loaded.generate(sets)) == 4
    assert isinstance(load_backend(str(path)), GumbelTransformer)  # `stylecap eval caption FILE` reads its kind
    assert "cat" in stylecap.Pipeline.load(trainer.config.out / "final")(PHOTOS / "chelsea.png", seed=0).caption


def test_warm_start_from_an_mle_run_continues_adversarially(gan, corpus, tmp_path):
    (_, before), (_, _) = gan
    backend, trainer = train(out=tmp_path / "warm", init=before.config.out, steps=3, d_pretrain_steps=1,
                             **corpus, **TINY)  # fmt: skip
    assert backend.vocab.words == before.vocab.words
    assert "g_loss" in metrics(tmp_path / "warm")[-1]


def test_cnn_discriminator_learns_and_trains_the_generator(gan, corpus, tmp_path):
    (_, before), (_, _) = gan
    judge = {"discriminator": "caption-soft-cnn", "discriminator_options": {"embed": 16, "filters": 8, "dropout": 0.0}}
    _, trainer = train(out=tmp_path / "cnn", init=before.config.out, steps=34, d_pretrain_steps=30, lr_d=3e-3,
                       **corpus, **(TINY | judge))  # fmt: skip
    assert isinstance(trainer.models["d"], SoftCNNDiscriminator)
    rows = metrics(tmp_path / "cnn")
    assert rows[14]["d_loss"] < rows[0]["d_loss"] - 0.05, (rows[0], rows[14])  # D learns while G stands still
    assert "g_loss" in rows[-1]


def test_each_gan_refuses_to_warm_start_from_the_other_kind_of_generator(gan, tmp_path):
    (_, before), (_, _) = gan
    with pytest.raises(UsageError, match="holds no mle-lstm caption model.*stylecap train caption mle-lstm"):
        seqgan_init(before.config.out)  # a transformer is no LSTM to fine-tune by policy gradient
    lstm = stylecap.create("caption", "seqgan").save(tmp_path / "lstm.safetensors")  # the shipped LSTM
    with pytest.raises(UsageError, match="lstm.safetensors holds no gumbel-transformer caption model"):
        gumbel_init(lstm)


def test_a_seqgan_run_folder_warm_starts_seqgan_as_its_lstm(tmp_path):
    shipped = stylecap.create("caption", "seqgan")
    stylecap.Pipeline(None, shipped).save(tmp_path / "run" / "final")  # a seqgan run: an MLE phase to go on from
    lstm = seqgan_init(tmp_path / "run")
    assert lstm.name == "mle-lstm" and lstm.vocab.words == shipped.vocab.words and lstm.tones == shipped.tones
    assert all(torch.equal(v, shipped.net.state_dict()[k]) for k, v in lstm.net.state_dict().items())


def test_resume_after_a_kill_repeats_the_uninterrupted_run(corpus, tmp_path):
    options = dict(mle_steps=2, d_pretrain_steps=2, steps=6, mle_every=2, gan_loss="hinge", relaxation="soft",
                   beta_schedule="linear", feature_matching=0.5, **corpus, **(TINY | {"log_every": 1}))  # fmt: skip
    check_resume_is_exact("caption", "gumbel-transformer", tmp_path / "gan", **options)
    assert all(row["feature_matching"] > 0 for row in metrics(tmp_path / "gan")[4:])


@pytest.mark.parametrize(
    "values, field",
    [({"beta_max": 0.5}, "beta_max"), ({"beta_schedule": "cubic"}, "beta_schedule"), ({"gan_loss": "wgan"}, "gan_loss"),
     ({"lr_g": 0}, "lr_g"), ({"feature_matching": -1}, "feature_matching"),
     ({"mle_every": -1}, "mle_every"), ({"d_steps": 0}, "d_steps"),
     ({"init": "missing/run"}, "init"), ({"init": None}, "init is required"), ({"relaxation": "warm"}, "relaxation"),
     ({"generator": "nope"}, "generator 'nope'"), ({"generator_options": "heads=3"}, "generator_options.*heads"),
     ({"discriminator": "caption-soft-cnn", "discriminator_options": {"widths": [30]}},
      "discriminator_options.*widths"),
     ({"discriminator_options": {"embed": 30, "heads": 4}}, "discriminator_options.*multiple of heads")],
)  # fmt: skip
def test_bad_values_are_config_errors_naming_the_field(plugin, tmp_path, values, field):  # noqa: F811
    with pytest.raises(ConfigError, match=field):
        stylecap.registry("trainer").get("gumbel-transformer").build_config({"init": str(tmp_path)} | values)


def test_backend_without_weights_says_how_to_get_them(plugin):  # noqa: F811
    backend = stylecap.create("caption", "gumbel-transformer", weights="none")
    with pytest.raises(stylecap.StylecapError, match="no trained weights.*stylecap train caption gumbel-transformer"):
        backend.caption(torch.zeros(1, 3, 32, 32))
