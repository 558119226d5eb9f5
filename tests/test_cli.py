"""The command line: listings, run, JSON output, exit codes and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

import stylecap
from stylecap_cli.main import main

from .conftest import run_cli as cli


def test_plugins_json_lists_temporary_plugin_and_it_goes_away(toy_plugin, capsys):
    code, out, _ = cli(capsys, "plugins", "--json")
    toy = {p["name"]: p for p in json.loads(out)}["toy"]
    assert code == 0 and toy["hooks"] == ["register_caption_backends", "register_generators", "register_style_backends"]
    assert toy["error"] is None
    from stylecap.core.host import host

    host().unregister("toy")
    code, out, _ = cli(capsys, "plugins", "--json")
    assert "toy" not in {p["name"] for p in json.loads(out)}


def test_list_and_info(toy_plugin, capsys):
    code, out, _ = cli(capsys, "list", "style", "--json")
    assert (
        code == 0
        and {"name": "mean-shift", "plugin": "toy"}.items()
        <= {e["name"]: e for e in json.loads(out)}["mean-shift"].items()
    )
    code, out, _ = cli(capsys, "list", "style")
    line = next(line for line in out.splitlines() if " mean-shift " in line)
    described = stylecap.registry("style").get("mean-shift").cls.describe()
    assert code == 0 and line.split()[:4] == ["style", "mean-shift", "plugin", "toy"] and line.endswith(described)
    code, out, _ = cli(capsys, "info", "mean-shift", "--json")
    info = json.loads(out)
    assert info["options"] == [
        {"name": "amount", "type": "float", "default": 1.0, "help": "0 keeps the content, 1 matches the style means."}
    ]
    code, out, _ = cli(capsys, "info", "mean-shift")
    assert code == 0 and "amount" in out and "toy" in out


def test_info_unknown_name_suggests(toy_plugin, capsys):
    code, out, err = cli(capsys, "info", "mean-shfit")
    assert code == 2 and "no component is named 'mean-shfit'" in err and "mean-shift" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_run_json_writes_outputs_and_captions(toy_plugin, images, tmp_path, capsys):
    outdir = tmp_path / "out"
    code, out, err = cli(
        capsys,
        "run",
        str(images.content),
        "--style",
        str(images.red),
        "--style-backend",
        "mean-shift",
        "--caption-backend",
        "brightness",
        "-o",
        str(outdir),
        "--json",
        "--seed",
        "3",
    )
    assert code == 0, err
    record = json.loads(out)
    assert record["output"] == str(outdir / "content.png") and record["caption"] == "ooh, moody and dark"
    assert record["seed"] == 3 and record["timings"]["total_s"] > 0
    assert Image.open(outdir / "content.png").size == (48, 40)
    assert (outdir / "content.txt").read_text() == "ooh, moody and dark\n"


def test_run_folder_reports_bad_files_and_keeps_going(toy_plugin, images, tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    Image.open(images.content).save(folder / "a.png")
    (folder / "b.png").write_bytes(b"not a png")
    Image.open(images.content).save(folder / "c.jpg")
    code, out, err = cli(
        capsys,
        "run",
        str(folder),
        "--style",
        str(images.blue),
        "--style-backend",
        "mean-shift",
        "--caption-backend",
        "none",
        "-o",
        str(tmp_path / "out"),
        "--json",
    )
    records = [json.loads(line) for line in out.splitlines()]
    assert code == 1
    assert [r.get("output") is not None for r in records] == [True, False, True]
    assert "b.png" in records[1]["error"]
    assert sorted(os.listdir(tmp_path / "out")) == ["a.png", "c.png"]
    assert "1 of 3 results failed" in err


def test_each_style_makes_every_content_style_pair(toy_plugin, images, tmp_path, capsys):
    styles = tmp_path / "styles"
    styles.mkdir()
    for path in (images.red, images.blue):
        Image.open(path).save(styles / f"{path.stem}.png")
    args = ["run", str(images.content), "--style", str(styles), "--style-backend", "mean-shift", "--json"]
    code, out, err = cli(capsys, *args, "--each-style", "-o", str(tmp_path / "out"))
    assert code == 0, err
    outputs = {Path(json.loads(line)["output"]).name: json.loads(line)["output"] for line in out.splitlines()}
    assert sorted(outputs) == ["content_blue.png", "content_red.png"]
    red, blue = (Image.open(outputs[f"content_{c}.png"]).convert("RGB").getpixel((5, 5)) for c in ("red", "blue"))
    assert red[0] > red[2] and blue[2] > blue[0]  # each result has its own style, not a blend
    code, _, err = cli(capsys, *args, "--each-style", "--style-weight", "1", "--style-weight", "2")
    assert code == 2 and "--each-style" in err


@pytest.mark.parametrize(
    "args, message",
    [
        (["--style-backend", "nope"], "unknown style backend 'nope'"),
        (["--style-backend", "mean-shift", "-s", "amount=lots"], "option 'amount' is 'lots'"),
        (["--style-backend", "mean-shift", "--format", "gif"], "--format 'gif' is not supported"),
        (["--style-backend", "mean-shift", "--style-weight", "1", "--style-weight", "2"], "2 style weights for 1"),
    ],
)
def test_run_usage_errors_exit_2_with_one_line(toy_plugin, images, tmp_path, capsys, args, message):
    outdir = tmp_path / "out"
    code, _, err = cli(capsys, "run", str(images.content), "--style", str(images.red), "-o", str(outdir), *args)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not outdir.exists() or not os.listdir(outdir)


def test_style_backend_none_captions_the_picture_as_it_is(toy_plugin, images, tmp_path, capsys):
    outdir = tmp_path / "out"
    args = ["run", str(images.content), "--style-backend", "none", "--caption-backend", "brightness", "-o", str(outdir)]
    code, out, err = cli(capsys, *args, "--json")
    assert code == 0, err
    assert json.loads(out)["caption"] == "ooh, moody and dark" and list(json.loads(out)["components"]) == ["caption"]
    assert Image.open(outdir / "content.png").tobytes() == Image.open(images.content).convert("RGB").tobytes()
    code, _, err = cli(capsys, *args, "--style", str(images.red))
    assert code == 2 and "does not use --style" in err
    code, _, err = cli(capsys, *args[:-3], "none", "-o", str(outdir))
    assert code == 2 and "leaves nothing to do" in err


def test_missing_input_names_the_path(toy_plugin, tmp_path, capsys):
    code, _, err = cli(capsys, "run", str(tmp_path / "ghost.jpg"), "--style-backend", "mean-shift")
    assert code == 2 and "ghost.jpg" in err


def test_typer_usage_error_exits_2(capsys):
    code, _, err = cli(capsys, "run", "--no-such-flag")
    assert code == 2


def test_debug_shows_traceback(toy_plugin, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("STYLECAP_DEBUG", "1")
    from stylecap.core.errors import UsageError

    with pytest.raises(UsageError):
        main(["run", str(tmp_path / "ghost.jpg"), "--style-backend", "mean-shift"])


def test_console_script_and_library_import_stay_light():
    """The library never loads the CLI's typer or rich; ``import stylecap`` loads not even torch until a name
    needs it; and the console script answers --version without torch or a plugin."""
    code = (
        "import sys, stylecap; print('typer' in sys.modules or 'rich' in sys.modules, 'torch' in sys.modules); "
        "stylecap.Pipeline; stylecap.list_components(); print('typer' in sys.modules or 'rich' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.split()
    assert out == ["False", "False", "False"]
    result = subprocess.run(["stylecap", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("stylecap ")
    code = "import sys; from stylecap_cli.main import main\ntry: main(['--version'])\nexcept SystemExit: pass\n"
    code += "print('torch' in sys.modules, [m for m in sys.modules if m.startswith('stylecap.plugins')])"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.split()[-2:] == [
        "False",
        "[]",
    ]


def test_broken_plugin_leaves_the_cli_working_and_strict_mode_fails_in_one_line(monkeypatch, capsys):
    from .test_plugins import ep, fake_entry_points

    fake_entry_points(monkeypatch, ep("broken", "no_such_module_xyz"), ep("good", "tests.plugin_a"))
    with pytest.raises(SystemExit) as info:
        main(["plugins", "--json"])
    captured = capsys.readouterr()
    records = {p["name"]: p for p in json.loads(captured.out)}
    assert (
        info.value.code == 0 and records["good"]["error"] is None and "no_such_module_xyz" in records["broken"]["error"]
    )
    assert "plugin 'broken'" in captured.err

    from stylecap.core import host as plugins

    plugins.reset()
    monkeypatch.setenv("STYLECAP_STRICT_PLUGINS", "1")
    with pytest.raises(SystemExit) as info:
        main(["list"])
    err = capsys.readouterr().err
    assert info.value.code == 1 and "no_such_module_xyz" in err and len(err.strip().splitlines()) == 1


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_keep_freed_memory_asks_glibc_unless_the_user_set_malloc(monkeypatch):
    from stylecap_cli import main as cli_main

    calls = []
    monkeypatch.setattr(cli_main.ctypes, "CDLL", lambda name: type("Libc", (), {"mallopt": lambda *a: calls.append(a)}))
    for key in [k for k in os.environ if k.startswith("MALLOC_")]:
        monkeypatch.delenv(key)
    cli_main.keep_freed_memory()
    assert calls == [(cli_main.M_TRIM_THRESHOLD, 1 << 30), (cli_main.M_MMAP_THRESHOLD, 32 << 20)]
    calls.clear()
    monkeypatch.setenv("MALLOC_ARENA_MAX", "2")
    cli_main.keep_freed_memory()
    assert calls == []
