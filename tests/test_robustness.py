"""Nothing lost, nothing leaked: bad inputs of every kind, made here, through the CLI and ``Pipeline``.

Tiny, huge-declared, truncated and NaN pictures and weights, malformed and hostile ``pipeline.json`` files,
colliding names, broken plugins and user errors: no traceback, nothing written outside the output folder,
every good input still processed. Tiny backends only (``mean-shift``/``brightness`` from conftest, an
untrained AdaIN with 4 channels on a random encoder), so the file runs in seconds.
"""

from __future__ import annotations

import io
import json
import os
import signal
import stat
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from PIL import Image

import stylecap
from stylecap.core import host as plugins
from stylecap.core.atomic import atomic_path, clean_stale, temp_name
from stylecap.core.checkpoint import load_checkpoint, save_checkpoint
from stylecap.core.errors import CheckpointError, ConfigError, UsageError
from stylecap.core.pipeline import FORMAT, Pipeline
from stylecap_cli.main import main
from stylecap_cli.run import DEFAULT_CAPTION_BACKEND

from . import toy_trainer
from .conftest import Brightness, MeanShift, run_cli

ROOT = Path(__file__).resolve().parents[1]
TOY = ["--style-backend", "mean-shift", "--caption-backend", "brightness"]
ADAIN = {"weights": None, "encoder_weights": "random", "width": 4}
ADAIN_OPTIONS = ["-s", "weights=none", "-s", "encoder_weights=random", "-s", "width=4"]
ADAIN_TRAIN = {"encoder_weights": "random", "width": 4, "crop_size": 32, "load_size": 32, "batch_size": 2,
               "log_every": 1, "flip": False, "steps": 2}  # fmt: skip


def cli(capsys, *args):
    code, out, err = run_cli(capsys, *args)
    assert "Traceback" not in err, err
    return code, out, err


def one_line(err: str) -> bool:
    return len(err.strip().splitlines()) == 1


def records(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def files_under(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` x ``height`` and holds almost nothing (a decompression bomb's header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


@pytest.fixture
def batch(tmp_path, images):
    """A folder of good and bad pictures, and a clean place around it to see that nothing leaks."""
    folder = tmp_path / "in"
    folder.mkdir()
    content = Image.open(images.content)
    good = ["a.png", "b.jpg", "tiny.png", "strip.png", os.fsdecode(b"caf\xe9.png")]
    content.save(folder / "a.png")
    content.convert("RGB").save(folder / "b.jpg")
    Image.new("RGB", (1, 1), (200, 30, 30)).save(folder / "tiny.png")
    Image.new("RGB", (1, 80), (30, 200, 30)).save(folder / "strip.png")
    content.save(folder / good[-1])
    raw = (folder / "a.png").read_bytes()
    (folder / "truncated.png").write_bytes(raw[: len(raw) // 2])
    (folder / "garbage.png").write_bytes(b"\x00not an image at all" * 10)
    (folder / "empty.png").write_bytes(b"")
    (folder / "bomb.png").write_bytes(png_header(100_000, 100_000))
    (folder / "dir.png").mkdir()  # a folder with a picture's name is not a picture
    return SimpleNamespace(folder=folder, good=good, bad=["bomb.png", "empty.png", "garbage.png", "truncated.png"])


# -- a folder run: every bad picture reported, every good one made ----------------------------------


def test_a_folder_of_bad_pictures_reports_each_and_makes_every_good_one(toy_plugin, batch, images, tmp_path, capsys):
    before = files_under(tmp_path)
    outdir = tmp_path / "out"
    args = ["run", str(batch.folder), "--style", str(images.red), *TOY, "-o", str(outdir), "--json"]
    code, out, err = cli(capsys, *args)
    found = records(out)
    assert code == 1 and f"{len(batch.bad)} of {len(batch.bad) + len(batch.good)} results failed" in err
    failed = sorted(Path(r["input"]).name for r in found if "error" in r)
    assert failed == batch.bad and all(Path(r["input"]).name in r["error"] for r in found if "error" in r)
    made = sorted(Path(r["output"]).name for r in found if "output" in r)
    assert made == sorted(Path(n).stem + ".png" for n in batch.good)
    assert files_under(tmp_path) - before == {"out"} | {f"out/{n}" for n in made} | {
        f"out/{Path(n).stem}.txt" for n in made
    }
    assert Image.open(outdir / "tiny.png").size == (1, 1) and Image.open(outdir / "strip.png").size == (1, 80)


def test_a_name_that_is_not_utf8_prints_on_a_strict_stdout(toy_plugin, batch, images, tmp_path, monkeypatch):
    name = os.fsdecode(b"caf\xe9.png")
    for extra in ([], ["--json"]):
        stdout = io.TextIOWrapper(io.BytesIO(), encoding="ascii", errors="strict")
        monkeypatch.setattr(sys, "stdout", stdout)
        with pytest.raises(SystemExit) as info:
            main(["run", str(batch.folder / name), "--style", str(images.red), *TOY, "-o", str(tmp_path / "o"), *extra])
        stdout.flush()
        text = stdout.buffer.getvalue().decode("ascii")
        assert (info.value.code or 0) == 0 and "caf" in text
        assert (tmp_path / "o" / os.fsdecode(b"caf\xe9.png")).is_file()


@pytest.mark.parametrize("backend, options", [("adain", ADAIN), ("cyclegan", {"weights": None,
                         "generator_options": "filters=4"})])  # fmt: skip
def test_one_pixel_and_one_pixel_wide_pictures_are_styled(images, backend, options):
    pipe = Pipeline.from_names(backend, None, style_config=options, device="cpu")
    for size in ((1, 1), (1, 80), (80, 1), (3, 2)):
        result = pipe(Image.new("RGB", size, (120, 80, 40)), [images.red], seed=0)
        assert result.image.size == size


def test_the_default_captioner_says_something_about_a_one_pixel_picture():
    pipe = Pipeline.from_names(None, DEFAULT_CAPTION_BACKEND, device="cpu")
    for size in ((1, 1), (1, 80)):
        assert pipe(Image.new("RGB", size, (20, 90, 200)), seed=0).caption


def test_a_backend_that_gives_nan_fails_that_picture_only(toy_plugin, images, tmp_path, capsys):
    class Broken(MeanShift):
        name = "broken"

        def stylize(self, content, styles, *, style_weights=None, progress=None):
            return content * float("nan")

    plugin = SimpleNamespace(register_style_backends=stylecap.hookimpl(lambda register: register(Broken)))
    plugins.host().register(plugin, "nan")
    args = ["run", str(images.content), "--style", str(images.red), "--style-backend", "broken", "--caption-backend",
            "none", "-o", str(tmp_path / "o"), "--json"]  # fmt: skip
    code, out, err = cli(capsys, *args)
    assert code == 1 and "NaN" in records(out)[0]["error"] and not (tmp_path / "o" / "content.png").exists()


# -- names: nothing overwrites anything -----------------------------------------------------------


def test_pictures_of_one_name_in_two_folders_make_two_results(toy_plugin, images, tmp_path, capsys):
    for folder, colour in (("d1", (250, 250, 250)), ("d2", (5, 5, 5))):
        (tmp_path / folder).mkdir()
        Image.new("RGB", (8, 8), colour).save(tmp_path / folder / "x.png")
    args = ["run", str(tmp_path / "d1"), str(tmp_path / "d2"), "--style-backend", "none", "--caption-backend"]
    code, out, err = cli(capsys, *args, "brightness", "-o", str(tmp_path / "o"), "--json")
    outputs = [Path(r["output"]).name for r in records(out)]
    assert code == 0 and outputs == ["d1_x.png", "d2_x.png"]
    assert (tmp_path / "o" / "d1_x.txt").read_text() != (tmp_path / "o" / "d2_x.txt").read_text()


def test_each_style_with_two_styles_of_one_name_makes_both(toy_plugin, images, tmp_path, capsys):
    for folder, path in (("s1", images.red), ("s2", images.blue)):
        (tmp_path / folder).mkdir()
        Image.open(path).save(tmp_path / folder / "st.png")
    args = ["run", str(images.content), "--style", str(tmp_path / "s1"), "--style", str(tmp_path / "s2"), *TOY]
    code, out, err = cli(capsys, *args, "--each-style", "-o", str(tmp_path / "o"), "--json")
    outputs = [Path(r["output"]).name for r in records(out)]
    assert code == 0 and outputs == ["content_s1_st.png", "content_s2_st.png"]
    red, blue = (Image.open(tmp_path / "o" / n).getpixel((3, 3)) for n in outputs)
    assert red[0] > red[2] and blue[2] > blue[0]


def test_distinct_names_add_suffixes_folders_then_numbers():
    from stylecap_cli.run import distinct_names

    paths = [Path("/p/a.jpg"), Path("/p/a.png"), Path("/q/d1/x.png"), Path("/q/d2/x.png"), Path("/q/X.png"),
             Path("/r/y.png")]  # fmt: skip
    names = distinct_names(paths)
    assert names == ["a_jpg", "a_png", "d1_x", "d2_x", "q_X", "y"]
    assert len({n.casefold() for n in distinct_names([Path("/a/k.png"), Path("/a/K.png")])}) == 2


def test_a_result_never_overwrites_an_input(toy_plugin, images, tmp_path, capsys):
    before = images.content.read_bytes()
    code, _, err = cli(capsys, "run", str(images.content), "--style", str(images.red), *TOY, "-o", str(tmp_path))
    assert code == 2 and "would overwrite the input" in err and one_line(err)
    assert images.content.read_bytes() == before


def test_skip_existing_resumes_a_batch_and_a_killed_writers_temporary_files_go(toy_plugin, batch, images, tmp_path,
                                                                               capsys):  # fmt: skip
    outdir = tmp_path / "o"
    args = ["run", str(batch.folder), "--style", str(images.red), *TOY, "-o", str(outdir), "--json"]
    cli(capsys, *args)
    (outdir / "a.png").unlink()  # as if the run had been killed before writing it
    stamp = (outdir / "b.png").stat().st_mtime_ns
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    killed = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(outdir / "a.png")], cwd=ROOT, env=env)
    assert killed.returncode == -signal.SIGKILL and [p.name for p in outdir.glob(".a.png.*.tmp")]
    live = outdir / f"{temp_name(outdir / 'b.png')}x.tmp"
    live.write_bytes(b"")  # a live process's file is left alone
    code, out, err = cli(capsys, *args, "--skip-existing")
    done = {Path(r["input"]).name: r for r in records(out)}
    assert code == 1 and "skipped" not in done["a.png"] and done["a.png"]["output"].endswith("a.png")
    assert done["b.jpg"]["skipped"] is True and (outdir / "b.png").stat().st_mtime_ns == stamp
    assert not list(outdir.glob(".a.png.*.tmp")) and live.exists()


KILLED_WRITER = """
import os, signal, sys
from stylecap.core.atomic import atomic_path
with atomic_path(sys.argv[1]) as tmp:
    tmp.write_bytes(b"half a picture")
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_outputs_get_the_mode_the_umask_gives(toy_plugin, images, tmp_path, capsys):
    old = os.umask(0o022)
    try:
        cli(capsys, "run", str(images.content), "--style", str(images.red), *TOY, "-o", str(tmp_path / "o"))
        Pipeline.from_names("weighted", "brightness").save(tmp_path / "p")
        run = tmp_path / "run"
        plugins.host().register(toy_trainer, "toy-trainer")
        stylecap.train("style", "colour-map", out=run, steps=2, batch_size=4, checkpoint_every=1)
    finally:
        os.umask(old)
    files = [tmp_path / "o" / "content.png", tmp_path / "o" / "content.txt", tmp_path / "p" / "pipeline.json",
             tmp_path / "p" / "style.safetensors", run / "checkpoints" / "latest", run / "config.json",
             run / "checkpoints" / "step-00000002" / "weights.safetensors"]  # fmt: skip
    assert {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in files} == {p.name: "0o644" for p in files}
    assert oct(stat.S_IMODE((run / "checkpoints" / "step-00000002").stat().st_mode)) == "0o755"


def test_clean_stale_removes_only_dead_writers_files(tmp_path):
    with atomic_path(tmp_path / "x.png") as tmp:
        assert not clean_stale(tmp_path) and tmp.exists()  # this process's own write goes on
        tmp.write_bytes(b"x")
    assert (tmp_path / "x.png").read_bytes() == b"x" and os.listdir(tmp_path) == ["x.png"]


# -- many processes: shares of one batch ----------------------------------------------------------


def test_shards_together_make_exactly_the_single_run(toy_plugin, batch, images, tmp_path, capsys):
    args = ["run", str(batch.folder), "--style", str(images.red), *TOY, "--seed", "1", "--json"]
    whole = records(cli(capsys, *args, "-o", str(tmp_path / "one"))[1])
    shares = [records(cli(capsys, *args, "-o", str(tmp_path / "many"), "--shard", f"{i}/3")[1]) for i in range(3)]
    assert sorted(len(s) for s in shares) == [3, 3, 3] and sum(shares, []) != whole
    assert sorted(json.dumps(r["input"]) for s in shares for r in s) == sorted(json.dumps(r["input"]) for r in whole)
    assert files_under(tmp_path / "one") == files_under(tmp_path / "many")
    for name in files_under(tmp_path / "one"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "many" / name).read_bytes(), name


TOY_CLI = """
import sys
from types import SimpleNamespace
import stylecap
from stylecap.core.host import host
from stylecap_cli.main import main
from tests.conftest import Brightness, MeanShift
host().register(SimpleNamespace(
    register_style_backends=stylecap.hookimpl(lambda register: register(MeanShift)),
    register_caption_backends=stylecap.hookimpl(lambda register: register(Brightness)),
), "toy")
main(sys.argv[1:])
"""


def test_two_processes_under_torchrun_variables_split_the_batch(toy_plugin, batch, images, tmp_path, capsys,
                                                                 monkeypatch):  # fmt: skip
    """Rank 1 in a process of its own, rank 0 in this one, at the same time, as torchrun would start them."""
    args = ["run", str(batch.folder), "--style", str(images.red), *TOY, "--seed", "2", "--json"]
    cli(capsys, *args, "-o", str(tmp_path / "one"))
    env = {"WORLD_SIZE": "2", "LOCAL_WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "1"}
    other = subprocess.Popen(
        [sys.executable, "-c", TOY_CLI, *args, "-o", str(tmp_path / "two")], cwd=ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env=os.environ | env | {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1",
        "STYLECAP_LOAD_PLUGINS": ""},  # the toy plugin only: no time spent importing the built-ins
    )  # fmt: skip
    for key, value in (env | {"RANK": "0", "LOCAL_RANK": "0"}).items():
        monkeypatch.setenv(key, value)
    code, out, _ = cli(capsys, *args, "-o", str(tmp_path / "two"))
    other_out, other_err = other.communicate(timeout=120)
    assert (code, other.returncode) == (1, 1), other_err  # each share holds some of the bad pictures
    assert "Traceback" not in other_err
    inputs = [{r["input"] for r in records(o)} for o in (out, other_out)]
    assert inputs[0] and inputs[1] and not inputs[0] & inputs[1]
    assert files_under(tmp_path / "one") == files_under(tmp_path / "two")
    for name in files_under(tmp_path / "one"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name


# -- a loaded pipeline is data, not instructions --------------------------------------------------


@pytest.fixture
def saved(toy_plugin, tmp_path):
    pipe = Pipeline.from_names("weighted", "brightness", style_config={"amount": 0.5})
    pipe.save(tmp_path / "p")
    path = tmp_path / "p" / "pipeline.json"
    return SimpleNamespace(folder=tmp_path / "p", path=path, doc=json.loads(path.read_text()))


def edit(saved, change) -> None:
    doc = json.loads(json.dumps(saved.doc))
    change(doc)
    saved.path.write_text(json.dumps(doc))


MALFORMED = {
    "a list": lambda d: d.clear() or d.update({"format": FORMAT, "components": [1, 2]}),
    "no components": lambda d: d.pop("components"),
    "null component": lambda d: d["components"].update(style=None),
    "no name": lambda d: d["components"]["style"].pop("name"),
    "numeric name": lambda d: d["components"]["style"].update(name=5),
    "null config": lambda d: d["components"]["style"].update(config=None),
    "config list": lambda d: d["components"]["style"].update(config=[1]),
    "wrong type": lambda d: d["components"]["style"]["config"].update(amount="lots"),
    "null value": lambda d: d["components"]["style"]["config"].update(amount=None),
    "nan value": lambda d: d["components"]["style"]["config"].update(amount=float("nan")),
    "unknown option": lambda d: d["components"]["style"]["config"].update(paint="yes"),
    "numeric weights": lambda d: d["components"]["style"].update(weights=7),
    "unknown slot": lambda d: d["components"].update(painter=d["components"]["style"]),
    "caption in the style slot": lambda d: d["components"].update(style=d["components"]["caption"]),
    "bad caption_source": lambda d: d.update(caption_source=5),
    "bad max_size": lambda d: d.update(max_size="big"),
    "missing weights file": lambda d: d["components"]["style"].update(weights="gone.safetensors"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_a_malformed_pipeline_is_one_checkpoint_error_before_anything_is_built(saved, case, monkeypatch):
    built = []
    monkeypatch.setattr(Brightness, "__init__", lambda self, config=None: built.append(self))
    edit(saved, MALFORMED[case])
    with pytest.raises(CheckpointError) as info:
        Pipeline.load(saved.folder)
    assert str(saved.path) in str(info.value) or case == "missing weights file" and "gone" in str(info.value)
    assert not built


@pytest.mark.parametrize("raw", [b'{"format": "\xff\xfe"}', b"[1, 2]", b'{"format": "stylecap-pipeline-1"', b"null"])
def test_a_pipeline_json_that_is_not_an_object_of_utf8_is_a_checkpoint_error(saved, raw):
    saved.path.write_bytes(raw)
    with pytest.raises(CheckpointError):
        Pipeline.load(saved.folder)


@pytest.mark.parametrize("weights", ["../../outside.safetensors", "/tmp/outside.safetensors", "~/x.safetensors"])
def test_weights_outside_the_pipeline_folder_are_never_read(saved, tmp_path, weights, monkeypatch):
    save_checkpoint(tmp_path / "outside.safetensors", {"weight": torch.ones(3)})
    read = []
    monkeypatch.setattr("stylecap.core.pipeline.load_checkpoint", lambda path, **kw: read.append(path))
    edit(saved, lambda d: d["components"]["style"].update(weights=weights))
    with pytest.raises(CheckpointError, match="outside the pipeline's folder"):
        Pipeline.load(saved.folder)
    assert not read


def test_paths_in_options_must_lie_inside_the_folder(tmp_path, images):
    pipe = Pipeline(stylecap.create("style", "adain", **ADAIN))
    pipe.save(tmp_path / "p")
    path = tmp_path / "p" / "pipeline.json"
    doc = json.loads(path.read_text())
    for value in ("/etc/passwd.safetensors", "../x.safetensors"):
        doc["components"]["style"]["config"]["weights"] = value
        path.write_text(json.dumps(doc))
        with pytest.raises(CheckpointError, match="outside the pipeline's folder"):
            Pipeline.load(tmp_path / "p")
    doc["components"]["style"]["config"].update(weights=None, masks=[str(images.red)])
    path.write_text(json.dumps(doc))
    with pytest.raises(CheckpointError, match="option 'masks'"):
        Pipeline.load(tmp_path / "p")


def test_snapshot_options_are_not_taken_from_a_loaded_pipeline(tmp_path, images):
    outside = tmp_path / "outside"
    config = {"steps": 2, "encoder_weights": "random", "max_size": 16}
    Pipeline.from_names("gatys", None, style_config=config).save(tmp_path / "p")
    path = tmp_path / "p" / "pipeline.json"
    doc = json.loads(path.read_text())
    doc["components"]["style"]["config"].update(snapshot_every=1, snapshot_dir=str(outside))
    path.write_text(json.dumps(doc))
    pipe = Pipeline.load(tmp_path / "p")
    assert pipe.style.config.snapshot_every == 0 and pipe.style.config.snapshot_dir is None
    pipe(images.content, [images.red], seed=0)
    assert not outside.exists()


def test_a_saved_pipeline_takes_the_files_it_names_along(tmp_path, images):
    decoder = tmp_path / "mine" / "decoder.safetensors"
    Pipeline(stylecap.create("style", "adain", **ADAIN)).save(tmp_path / "first")
    decoder.parent.mkdir()
    os.replace(tmp_path / "first" / "style.safetensors", decoder)
    backend = stylecap.create("style", "adain", **(ADAIN | {"weights": str(decoder)}))
    Pipeline(backend).save(tmp_path / "p")
    os.replace(tmp_path / "p", tmp_path / "moved")
    decoder.unlink()
    again = Pipeline.load(tmp_path / "moved")
    assert Path(again.style.config.weights).parent == (tmp_path / "moved" / "style-files").resolve()
    a, b = (p(images.content, [images.red], seed=0).image.tobytes() for p in (Pipeline(backend), again))
    assert a == b


def test_a_loaded_pipeline_names_the_plugin_of_a_component_its_options_name(tmp_path):
    class Sharp(stylecap.Loss):
        """A loss from a plugin."""

        name = "sharp-edges"

    plugin = SimpleNamespace(register_losses=stylecap.hookimpl(lambda register: register(Sharp)))
    plugins.host().register(plugin, "edges")
    Pipeline.from_names("gatys", None, style_config={"extra_losses": ["sharp-edges:5"]}).save(tmp_path / "p")
    uses = json.loads((tmp_path / "p" / "pipeline.json").read_text())["components"]["style"]["uses"]
    assert uses == [{"kind": "loss", "name": "sharp-edges", "plugin": "edges", "distribution": None, "version": None}]
    plugins.host().unregister("edges")
    with pytest.raises(CheckpointError, match="needs the loss 'sharp-edges' from plugin edges"):
        Pipeline.load(tmp_path / "p")


def test_from_names_takes_none_as_the_cli_does(toy_plugin, images):
    pipe = Pipeline.from_names("none", "brightness")
    assert pipe.style is None and pipe(images.content).caption
    assert Pipeline.from_names("mean-shift", "None").caption is None


# -- sizes and numbers from files and options ---------------------------------------------------


def weights_file(path: Path, config: dict, tensors: dict | None = None) -> Path:
    save_checkpoint(path, tensors or {"decoder.x": torch.zeros(1)}, {"config": config})
    return path


def test_a_tiny_weights_file_declaring_a_huge_decoder_is_refused_naming_the_width(tmp_path, images, capsys):
    path = weights_file(tmp_path / "huge.safetensors", {"levels": ["stage3"], "width": 200_000})
    assert path.stat().st_size < 2000
    with pytest.raises(CheckpointError, match="width"):
        stylecap.create("style", "adain", weights=str(path), encoder_weights="random")
    path = weights_file(tmp_path / "big.safetensors", {"levels": ["stage3"], "width": 500, "blocks": 60})
    code, _, err = cli(capsys, "run", str(images.content), "--style", str(images.red), "--style-backend", "adain",
                       "--caption-backend", "none", "-s", f"weights={path}", "-s", "encoder_weights=random",
                       "-o", str(tmp_path / "o"))  # fmt: skip
    assert code == 2 and "width" in err and "GiB" in err and one_line(err)
    with pytest.raises(ConfigError, match="width must be from 1 to"):
        stylecap.create("style", "adain", **(ADAIN | {"width": 100_000}))


def test_a_generator_too_big_for_memory_is_refused_before_it_is_built(tmp_path):
    path = tmp_path / "g.safetensors"
    save_checkpoint(path, {"a2b.x": torch.zeros(1)}, {"config": {"generator": "resnet-9",
                    "generator_options": {"filters": 100_000}}})  # fmt: skip
    with pytest.raises(CheckpointError, match="GiB"):
        stylecap.create("style", "cyclegan", weights=str(path))
    with pytest.raises(ConfigError, match="GiB"):
        stylecap.create("style", "cyclegan", weights=None, generator_options="filters=100000")


@pytest.mark.parametrize("metadata", ['{"levels": ', '{"levels": 5}', '{"levels": ["nope"]}', '["stage3"]'])
def test_bad_metadata_in_a_weights_file_is_one_error(tmp_path, images, capsys, metadata):
    path = tmp_path / "w.safetensors"
    save_checkpoint(path, {"decoder.x": torch.zeros(1)}, {"config": metadata})
    code, _, err = cli(capsys, "run", str(images.content), "--style", str(images.red), "--style-backend", "adain",
                       "--caption-backend", "none", "-s", f"weights={path}", "-s", "encoder_weights=random",
                       "-o", str(tmp_path / "o"))  # fmt: skip
    assert code == 2 and str(path) in err and one_line(err)


def test_nan_is_refused_in_options_weights_and_weight_files(toy_plugin, tmp_path, images, capsys):
    base = ["run", str(images.content), "--style", str(images.red), "--caption-backend", "none", "-o", str(tmp_path)]
    for args, message in (
        (["--style-backend", "mean-shift", "-s", "amount=nan"], "option 'amount' is 'nan'"),
        (["--style-backend", "gatys", "-s", "style_weight=nan"], "option 'style_weight' is 'nan'"),
        (["--style-backend", "mean-shift", "--style-weight", "nan"], "style weights nan"),
        (["--style-backend", "mean-shift", "--style-weight", "inf"], "style weights inf"),
    ):
        code, _, err = cli(capsys, *base[:-2], "-o", str(tmp_path / "o"), *args)
        assert code == 2 and message in err and one_line(err), err
    Pipeline(stylecap.create("style", "adain", **ADAIN)).save(tmp_path / "p")
    tensors, metadata = load_checkpoint(tmp_path / "p" / "style.safetensors")
    save_checkpoint(tmp_path / "nan.safetensors", {k: v * float("nan") for k, v in tensors.items()}, metadata)
    code, _, err = cli(capsys, *base[:-2], "-o", str(tmp_path / "o"), "--style-backend", "adain",
                       "-s", f"weights={tmp_path / 'nan.safetensors'}", "-s", "encoder_weights=random")  # fmt: skip
    assert code == 2 and "NaN" in err and one_line(err)
    assert not (tmp_path / "o").exists() or not os.listdir(tmp_path / "o")


# -- user errors: one line, exit 2 ----------------------------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (["--device", "bogus"], "--device 'bogus' is not a device"),
        (["--seed", "99999999999999999999"], "--seed 99999999999999999999"),
        (["--seed", "-1"], "--seed -1"),
        (["--shard", "2/2"], "--shard '2/2'"),
        (["--max-size", "0"], "--max-size 0"),
        (["-c", "nonsense"], "not KEY=VALUE"),
    ],
)
def test_request_errors_are_one_line_and_exit_2(toy_plugin, images, tmp_path, capsys, args, message):
    code, _, err = cli(capsys, "run", str(images.content), "--style", str(images.red), *TOY, "-o", str(tmp_path / "o"),
                       *args)  # fmt: skip
    assert code == 2 and message in err and one_line(err), err


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_asking_for_a_gpu_on_a_machine_without_one(toy_plugin, images, tmp_path, capsys):
    code, _, err = cli(capsys, "run", str(images.content), "--style", str(images.red), *TOY, "--device", "cuda")
    assert code == 2 and "no CUDA device" in err and one_line(err)
    with pytest.raises(UsageError, match="no CUDA device"):
        Pipeline(MeanShift(), device="cuda:0")


def test_caption_and_gatys_option_errors_are_one_line(images, tmp_path, capsys):
    base = ["run", str(images.content), "-o", str(tmp_path / "o")]
    code, _, err = cli(capsys, *base, "--style-backend", "none", "-c", "max_len=0")
    assert code == 2 and "max_len" in err and one_line(err)
    code, _, err = cli(capsys, *base, "--style", str(images.red), "--caption-backend", "none",
                       "-s", "style_layer_weights=1,2")  # fmt: skip
    assert code == 2 and "layer_weights" in err and one_line(err)
    code, _, err = cli(capsys, *base, "--style", str(images.red), "--caption-backend", "none",
                       "-s", "style_scale=1000")  # fmt: skip
    assert code == 2 and "style_scale=1000.0" in err and "smaller style_scale" in err and one_line(err)


# -- training ------------------------------------------------------------------------------------


@pytest.fixture
def toy_runs(tmp_path):
    plugins.host().register(toy_trainer, "toy-trainer")
    return tmp_path


def train_cli(capsys, *args):
    return cli(capsys, "train", "style", "colour-map", *args)


def test_training_user_errors_are_one_line(toy_runs, capsys):
    run = toy_runs / "run"
    code, _, err = train_cli(capsys, "--out", str(run), "--num-workers", "-1")
    assert code == 2 and "num_workers must not be negative" in err and one_line(err)
    (toy_runs / "list.json").write_text("[1, 2]")
    code, _, err = train_cli(capsys, "--out", str(run), "--config", str(toy_runs / "list.json"))
    assert code == 2 and "not an object of options" in err and one_line(err)
    (toy_runs / "bad.json").write_bytes(b'{"steps": "\xff"}')
    code, _, err = train_cli(capsys, "--out", str(run), "--config", str(toy_runs / "bad.json"))
    assert code == 2 and "not valid JSON" in err and one_line(err)
    code, _, err = train_cli(capsys, "--out", str(run), "--steps", "2", "--batch-size", "4", "--device", "bogus")
    assert code == 2 and "'bogus' is not a device" in err and one_line(err)


def test_a_damaged_run_is_one_error_and_a_cut_log_line_is_dropped(toy_runs, capsys):
    run = toy_runs / "run"
    stylecap.train("style", "colour-map", out=run, steps=4, batch_size=4, log_every=1, checkpoint_every=2)
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"step": 5, "lo')  # a kill in the middle of a log line
    (run / "checkpoints" / "latest").write_text("step-00000002\n")
    code, _, err = train_cli(capsys, "--resume", str(run), "--steps", "4")
    assert code == 0, err
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [1, 2, 3, 4]
    state = torch.load(run / "checkpoints" / "step-00000004" / "state.pt", weights_only=True)
    del state["optimizers"]
    torch.save(state, run / "checkpoints" / "step-00000004" / "state.pt")
    code, _, err = train_cli(capsys, "--resume", str(run), "--steps", "6")
    assert code == 1 and "lacks 'optimizers'" in err and one_line(err)
    (run / "config.json").write_text('{"trainer": "colour-map", "conf')
    code, _, err = train_cli(capsys, "--resume", str(run), "--steps", "6")
    assert code == 1 and "config.json is damaged" in err and one_line(err)


def test_resuming_with_another_shape_names_the_option(tmp_path, capsys):
    folders = {}
    for name in ("content", "style"):
        (tmp_path / name).mkdir()
        for i in range(2):
            Image.new("RGB", (32, 32), (40 * i, 90, 200)).save(tmp_path / name / f"{i}.png")
        folders[name] = str(tmp_path / name)
    run = tmp_path / "run"
    stylecap.train("style", "adain", out=run, **ADAIN_TRAIN, **folders)
    code, _, err = cli(capsys, "train", "style", "adain", "--resume", str(run), "--width", "8", "--steps", "3")
    assert code == 2 and "width=8" in err and "size mismatch" in err and one_line(err)


def test_a_new_run_in_a_used_folder_sets_the_earlier_run_aside(toy_runs, capsys):
    run = toy_runs / "run"
    first = stylecap.train("style", "colour-map", out=run, steps=4, batch_size=4, log_every=1, checkpoint_every=2)
    (run / "checkpoints" / "latest").unlink()  # as the message about a broken pointer says
    second = stylecap.train("style", "colour-map", out=run, steps=2, batch_size=4, log_every=1, lr=0.5)
    assert [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()] == [1, 2]
    weights, _ = load_checkpoint(run / "checkpoints" / "step-00000002" / "weights.safetensors")
    assert torch.equal(weights["map.weight"], second.state_dict()["weight"])
    assert not torch.equal(weights["map.weight"], first.state_dict()["weight"])
    assert (run / "earlier" / "1" / "checkpoints" / "step-00000004").is_dir()
    assert len((run / "earlier" / "1" / "metrics.jsonl").read_text().splitlines()) == 4


def test_train_help_lists_the_trainers_options(toy_runs, capsys):
    code, out, _ = train_cli(capsys, "--help")
    assert code == 0 and "--lr" in out and "SGD learning rate." in out and "--nan-at" in out
    code, out, _ = cli(capsys, "train", "style", "adain", "--help")
    assert code == 0 and "--crop-size" in out and "--no-flip" in out


# -- plugins -------------------------------------------------------------------------------------


PLUGINS = {
    "exits": "raise SystemExit(0)\n",
    "slow": "import time\ntime.sleep(0.3)\n",
    "hookfail": "import stylecap\n\n@stylecap.hookimpl\ndef register_style_backends(register):\n"
    "    raise ValueError('no backends today')\n",
}


@pytest.fixture
def plugin_modules(tmp_path, monkeypatch):
    from .test_plugins import ep, fake_entry_points

    names = {}
    for name, code in PLUGINS.items():
        module = f"robust_{name}_{os.getpid()}"
        (tmp_path / f"{module}.py").write_text(code)
        names[name] = module
    monkeypatch.syspath_prepend(str(tmp_path))
    fake_entry_points(monkeypatch, *(ep(n, m) for n, m in names.items()))
    monkeypatch.setattr(plugins, "SLOW_IMPORT_S", 0.2)
    yield names
    for module in names.values():
        sys.modules.pop(module, None)


def test_a_plugin_that_exits_or_fails_in_a_hook_is_named_and_the_run_goes_on(plugin_modules, images, tmp_path,
                                                                              capsys):  # fmt: skip
    toy = SimpleNamespace(register_style_backends=stylecap.hookimpl(lambda register: register(MeanShift)))
    plugins.host().register(toy, "toy")
    args = ["run", str(images.content), "--style", str(images.red), "--style-backend", "mean-shift"]
    with pytest.raises(SystemExit) as info:
        main([*args, "--caption-backend", "none", "-o", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert info.value.code == 0 and (tmp_path / "o" / "content.png").is_file()
    assert "plugin 'exits'" in err and "SystemExit(0)" in err
    assert "plugin 'hookfail'" in err and "failed in register_style_backends: ValueError: no backends today" in err
    assert "plugin 'slow'" in err and "s to import" in err


def test_debug_shows_a_hooks_traceback(plugin_modules, monkeypatch, capsys):
    monkeypatch.setenv("STYLECAP_DEBUG", "1")
    plugins.host().plugins()
    err = capsys.readouterr().err
    assert "Traceback" in err and "no backends today" in err and "raise ValueError" in err


def test_version_and_help_import_no_plugin_and_plugins_shows_import_times(plugin_modules, capsys):
    for args in (["--version"], ["--help"]):
        with pytest.raises(SystemExit) as info:
            main(args)
        assert (info.value.code or 0) == 0
        assert not any(m in sys.modules for m in plugin_modules.values())
    code, out, _ = run_cli(capsys, "plugins")
    slow = next(line for line in out.splitlines() if line.startswith("slow "))
    assert code == 0 and float(slow.split(" s ")[0].split()[-1]) >= 0.3


def test_version_and_help_answer_without_torch():
    code = (
        "import sys, time\nfrom stylecap_cli.main import main\nfor args in (['--version'], ['--help']):\n"
        "    try:\n        main(args)\n    except SystemExit:\n        pass\n"
        "print('TORCH', 'torch' in sys.modules, 'PLUGINS', [m for m in sys.modules if 'plugins.' in m])"
    )
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT).stdout
    assert "TORCH False PLUGINS []" in out and "stylecap " in out and "run" in out
    assert time.perf_counter() - start < 10  # with torch and every plugin it took 5-8 s on an idle machine


# -- the CLI's listings ---------------------------------------------------------------------------


def test_info_of_a_name_several_kinds_share_shows_the_backend(capsys):
    for name in ("adain", "cyclegan", "seqgan"):
        code, out, err = cli(capsys, "info", name)
        assert code == 0 and "style backend" in out or "caption backend" in out, err
        assert f"stylecap info {name} --kind trainer" in out
    code, out, _ = cli(capsys, "info", "adain", "--kind", "trainer", "--json")
    assert code == 0 and json.loads(out)["kind"] == "trainer"


def test_info_and_plugins_tables_are_whole_in_a_pipe(toy_plugin, capsys):
    class Wordy(MeanShift):
        """A backend with a long option help, to see that nothing is cut."""

        name = "a-rather-long-backend-name-for-a-narrow-table"

        from dataclasses import dataclass as _dataclass

        @_dataclass
        class Config:
            a_rather_long_option_name_indeed: float = stylecap.field(1.0, help="word " * 40)

    plugin = SimpleNamespace(register_style_backends=stylecap.hookimpl(lambda register: register(Wordy)))
    plugins.host().register(plugin, "a-plugin-with-a-long-name-to-see-it-whole")
    code, out, _ = cli(capsys, "info", Wordy.name)
    assert code == 0 and Wordy.name in out and "a_rather_long_option_name_indeed" in out
    assert ("word " * 40).strip() in out
    code, out, _ = cli(capsys, "plugins")
    assert code == 0 and "a-plugin-with-a-long-name-to-see-it-whole" in out
