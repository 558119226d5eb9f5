"""``stylecap serve``: the HTTP API with Starlette's test client (and a live server for concurrent uploads).

Tiny backends keep these fast: the toy plugin's ``mean-shift`` and ``brightness``, plus three test backends
registered here (a captioner with options, a slow style backend that counts steps, one that fails), and one
small ``adain`` and ``gatys`` run each.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Literal

import pytest
import torch
from PIL import Image

pytest.importorskip("starlette")
pytest.importorskip("httpx")
pytest.importorskip("python_multipart")

with warnings.catch_warnings():  # Starlette 1.x prefers httpx2 (Python >= 3.11 only); httpx still works
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient` is deprecated")
    from starlette.testclient import TestClient

import stylecap  # noqa: E402
from stylecap.core import host as plugins  # noqa: E402
from stylecap.core.component import Captions  # noqa: E402
from stylecap_cli.serve import is_loopback  # noqa: E402
from stylecap_cli.serve.app import BackgroundServer, Limits, create_app  # noqa: E402
from stylecap_cli.serve.jobs import Runner  # noqa: E402

from .conftest import run_cli  # noqa: E402


class Toned(stylecap.CaptionBackend):
    """Says the tone it was asked for, once per caption asked for (a captioner with options, for tests)."""

    name = "toned"

    @dataclass
    class Config:
        tone: Literal["plain", "cheerful"] = stylecap.field("plain", help="the feeling")
        num_captions: int = stylecap.field(1, help="how many")

    def caption(self, image, *, content=None):
        return f"{self.config.tone} 0"

    def captions(self, image, *, content=None, seed=0):
        return Captions([f"{self.config.tone} {n}" for n in range(self.config.num_captions)])


class Slow(stylecap.StyleBackend):
    """Takes ``steps`` steps of ``delay`` seconds, telling progress after each (to test the queue and cancel)."""

    name = "slow"
    needs_style = False
    made: list[Slow] = []

    @dataclass
    class Config:
        steps: int = stylecap.field(400, help="steps")
        delay: float = stylecap.field(0.01, help="seconds a step")

    def __init__(self, config=None):
        super().__init__(config)
        self.steps_done = 0
        Slow.made.append(self)

    def stylize(self, content, styles, *, style_weights=None, progress=None):
        for step in range(1, self.config.steps + 1):
            time.sleep(self.config.delay)
            self.steps_done = step
            if progress:
                progress(step, self.config.steps, {"step": float(step)})
        return 1 - content


class Broken(stylecap.StyleBackend):
    """Fails with a bug (to check that the server keeps serving)."""

    name = "broken"
    needs_style = False

    def stylize(self, content, styles, *, style_weights=None, progress=None):
        raise RuntimeError("boom")


@pytest.fixture
def test_plugins(toy_plugin):
    plugin = SimpleNamespace(
        register_style_backends=stylecap.hookimpl(lambda register: (register(Slow), register(Broken))),
        register_caption_backends=stylecap.hookimpl(lambda register: register(Toned)),
    )
    plugins.host().register(plugin, "serve-tests")
    Slow.made.clear()
    yield
    Slow.made.clear()


def make_client(tmp_path, **kwargs):
    kwargs.setdefault("limits", Limits(max_upload_bytes=2**20, max_size=64))
    return TestClient(create_app(workdir=tmp_path / "work", **kwargs))


@pytest.fixture
def client(tmp_path, test_plugins):
    with make_client(tmp_path) as c:
        yield c


def png(size=(48, 40), colour=(150, 120, 90)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def noise_png(size=(64, 64)) -> bytes:
    data = (torch.rand(size[1], size[0], 3, generator=torch.Generator().manual_seed(0)) * 255).to(torch.uint8)
    buffer = io.BytesIO()
    Image.fromarray(data.numpy()).save(buffer, format="PNG")
    return buffer.getvalue()


def post(client, style_backend="mean-shift", caption_backend="brightness", *, style=True, content=None, **fields):
    files = [("content", ("photo.png", content if content is not None else png(), "image/png"))]
    if style:
        files.append(("style", ("red.png", png((32, 32), (200, 40, 40)), "image/png")))
    data = {"style_backend": style_backend, "caption_backend": caption_backend}
    for key, value in fields.items():
        data[key] = json.dumps(value) if isinstance(value, dict) else str(value)
    return client.post("/api/run", files=files, data=data)


def wait(client, job_id, timeout=60.0, until=("done", "failed", "cancelled")) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["status"] in until:
            return job
        assert time.monotonic() < deadline, f"job {job_id} still {job['status']} after {timeout} s"
        time.sleep(0.02)


# -- the API ------------------------------------------------------------------------------------------


def test_components_lists_what_stylecap_list_json_lists(client):
    answer = client.get("/api/components")
    assert answer.status_code == 200
    assert answer.json() == [e.to_json() for e in stylecap.list_components()]
    names = {(e["kind"], e["name"]) for e in answer.json()}
    assert {("style", "mean-shift"), ("caption", "brightness"), ("style", "adain")} <= names


def test_component_options_and_unknown_names(client):
    doc = client.get("/api/components/style/mean-shift").json()
    assert doc["needs_style"] is True
    assert [o["name"] for o in doc["options"]] == ["amount"]
    assert client.get("/api/components/caption/toned").json()["options"][0]["type"] == "'plain' | 'cheerful'"
    missing = client.get("/api/components/style/mean-shfit")
    assert missing.status_code == 404 and "mean-shift" in missing.json()["error"]  # the close match


def test_run_restyles_captions_and_serves_the_result(client):
    answer = post(client, style_options={"amount": 0.5}, seed=3)
    assert answer.status_code == 202, answer.text
    job = answer.json()
    assert answer.headers["location"] == f"/api/jobs/{job['id']}"
    assert job["status"] in ("queued", "running", "done")
    job = wait(client, job["id"])
    assert job["status"] == "done", job["error"]
    assert job["caption"] == "ooh, moody and dark" and job["captions"] == ["ooh, moody and dark"]
    assert job["style_options"] == {"amount": 0.5} and job["seed"] == 3 and job["size"] == [48, 40]
    assert job["progress"] == {"step": 1, "total": 1, "scalars": {}}
    result = client.get(job["result_url"])
    assert result.status_code == 200 and result.headers["content-type"] == "image/png"
    picture = Image.open(io.BytesIO(result.content))
    assert picture.size == (48, 40)
    assert picture.getpixel((0, 0)) != (150, 120, 90)  # moved halfway to the red style
    download = client.get(job["download_url"])
    assert download.headers["content-disposition"].startswith("attachment")
    assert 'filename="photo-stylecap.png"' in download.headers["content-disposition"]
    assert client.get(job["content_url"]).status_code == 200
    listed = client.get("/api/jobs").json()
    assert [j["id"] for j in listed["jobs"]] == [job["id"]]
    assert result.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'self'" in client.get("/").headers["content-security-policy"]


def test_caption_options_tone_and_number(client):
    job = post(client, caption_backend="toned", caption_options={"tone": "cheerful", "num_captions": 3}).json()
    job = wait(client, job["id"])
    assert job["captions"] == ["cheerful 0", "cheerful 1", "cheerful 2"] and job["caption"] == "cheerful 0"
    assert job["caption_options"] == {"tone": "cheerful", "num_captions": 3}


def test_adain_with_its_options(client):
    answer = post(client, "adain", "none", style_options={"alpha": 0.6, "preserve_color": "luminance"})
    job = wait(client, answer.json()["id"])
    assert job["status"] == "done", job["error"]
    assert job["caption"] is None and job["captions"] == []
    assert Image.open(io.BytesIO(client.get(job["result_url"]).content)).size == (48, 40)


def test_gatys_shows_the_picture_in_progress(client, monkeypatch):
    """gatys' snapshots (set by the server, in its own folder) become the job's preview as it runs."""
    seen = []
    take = Runner._take_snapshot

    def watch(job, folder):
        take(job, folder)
        if job.preview is not None:
            seen.append((job.preview_step, Image.open(io.BytesIO(job.preview)).size))
            seen.append(client.get(f"/api/jobs/{job.id}").json()["preview_url"])

    monkeypatch.setattr(Runner, "_take_snapshot", staticmethod(watch))
    job = post(client, "gatys", "none", style_options={"steps": 8, "max_size": 32}).json()
    job = wait(client, job["id"])
    assert job["status"] == "done", job["error"]
    assert job["progress"]["step"] == job["progress"]["total"] == 8
    assert seen[0] == (1, (32, 27)) and seen[1] == f"/api/jobs/{job['id']}/preview?step=1"
    assert job["preview_url"] is None  # the result replaces it
    (model,) = [m for k, m in client.app.state.runner._models.items() if k[1] == "gatys"]
    assert model.config.snapshot_every == 1
    assert model.config.snapshot_dir.is_relative_to(client.app.state.workdir)


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"style_backend": "mean-shfit"}, "unknown style backend 'mean-shfit' (did you mean 'mean-shift'?"),
        ({"style_options": {"amout": 1}}, "unknown option 'amout'"),
        ({"style_options": {"amount": "lots"}}, "give a number"),
        ({"style_options": "[1]"}, "must be a JSON object"),
        ({"style_options": "{"}, "not valid JSON"),
        ({"caption_options": {"tone": "grumpy"}, "caption_backend": "toned"}, "choose one of"),
        ({"style_backend": "none", "caption_backend": "none"}, "nothing to do"),
        ({"seed": "x"}, "not a number"),
    ],
)
def test_bad_requests_are_400_with_a_message(client, fields, message):
    answer = post(client, **fields)
    assert answer.status_code == 400
    assert message in answer.json()["error"]


def test_a_style_backend_that_needs_a_style_picture(client):
    answer = post(client, style=False)
    assert answer.status_code == 400 and "needs a style picture" in answer.json()["error"]
    answer = client.post("/api/run", data={"style_backend": "mean-shift"})
    assert answer.status_code == 400 and "no content picture" in answer.json()["error"]


@pytest.mark.parametrize(
    "options, message",
    [
        ({"init": "/etc/passwd"}, "looks like a file path"),
        ({"init": "photo.png"}, "looks like a file path"),
        ({"encoder_weights": "..\\vgg.pth"}, "looks like a file path"),
        ({"masks": ["mask.png"]}, "names files"),
        ({"snapshot_dir": "x"}, "set by the server"),
    ],
)
def test_options_that_name_files_are_refused(client, options, message):
    answer = post(client, "gatys", "none", style_options=options)
    assert answer.status_code == 400
    assert message in answer.json()["error"]


def test_bad_pictures_get_the_readers_message(client, tmp_path):
    answer = post(client, content=b"not a picture at all")
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert "the content picture 'photo.png' is not a readable image: not a known image format" in error
    assert str(tmp_path) not in error  # the reader's message names the upload, not the server's file
    truncated = post(client, content=noise_png()[:300])
    assert truncated.status_code == 400 and "not a readable image" in truncated.json()["error"]


def test_picture_and_upload_limits(tmp_path, test_plugins):
    with make_client(tmp_path, limits=Limits(max_pixels=1000, max_upload_bytes=20_000)) as client:
        answer = post(client)  # 48 x 40 = 1920 pixels
        assert answer.status_code == 400
        assert "is 48x40 = 1,920 pixels, more than the limit of 1,000" in answer.json()["error"]
        big = post(client, content=noise_png((120, 120)))  # ~43 kB, declared in Content-Length
        assert big.status_code == 413 and "20,000" not in big.json()["error"]
        # a chunked upload declares no length: the limit is counted as the bytes arrive
        body, content_type = _multipart({"style_backend": "brightness"}, noise_png((120, 120)))
        chunked = client.post("/api/run", content=iter([body]), headers={"content-type": content_type})
        assert chunked.status_code == 413 and "limit" in chunked.json()["error"]
        assert client.get("/api/jobs").json()["jobs"] == []


def _multipart(fields: dict[str, str], content: bytes) -> tuple[bytes, str]:
    boundary = "stylecap-test-boundary"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="content"; filename="a.png"\r\n'
        f"Content-Type: image/png\r\n\r\n".encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def test_no_path_from_the_request_touches_the_disk(client, tmp_path):
    files = [
        ("content", ("../../../evil.png", png(), "image/png")),
        ("style", ("/etc/cron.d/x.png", png((32, 32)), "image/png")),
    ]
    answer = client.post("/api/run", files=files, data={"style_backend": "mean-shift", "caption_backend": "none"})
    job = wait(client, answer.json()["id"])
    assert job["status"] == "done"
    assert job["content_name"] == "evil.png" and job["style_names"] == ["x.png"]
    written = sorted(p.relative_to(tmp_path / "work").as_posix() for p in (tmp_path / "work").rglob("*") if p.is_file())
    assert written == sorted([f"results/{job['id']}.png", f"results/{job['id']}-content.png"])
    assert not (tmp_path / "evil.png").exists()
    assert client.get("/api/jobs/..%2F..%2Fetc/result").status_code == 404
    assert client.get("/api/examples/..%2Fpyproject.toml").status_code == 404


def test_one_model_per_backend_and_options(client):
    ids = [
        post(client, "slow", "none", style=False, style_options=options).json()["id"]
        for options in ({"steps": 2}, {"steps": "2"}, {"steps": 2, "delay": 0.01}, {"steps": 3})
    ]
    for job_id in ids:
        assert wait(client, job_id)["status"] == "done"
    assert [m.config.steps for m in Slow.made] == [2, 3]  # the first three are the same config


def test_a_full_queue_answers_503_and_loses_nothing(tmp_path, test_plugins):
    with make_client(tmp_path, queue_size=2) as client:
        first = post(client, "slow", "none", style=False, style_options={"steps": 2000}).json()
        wait(client, first["id"], until=("running",))
        queued = [post(client, "slow", "none", style=False, style_options={"steps": 1}) for _ in range(2)]
        assert [a.status_code for a in queued] == [202, 202]
        assert [a.json()["position"] for a in queued] == [1, 2]
        refused = post(client, "slow", "none", style=False)
        assert refused.status_code == 503 and refused.headers["retry-after"]
        assert "queue is full" in refused.json()["error"]
        client.delete(f"/api/jobs/{first['id']}")
        assert [wait(client, a.json()["id"])["status"] for a in queued] == ["done", "done"]
        assert wait(client, first["id"])["status"] == "cancelled"


def test_cancel_stops_a_running_job_and_drops_a_queued_one(client):
    running = post(client, "slow", "none", style=False, style_options={"steps": 100_000}).json()
    queued = post(client, "slow", "none", style=False, style_options={"steps": 5}).json()
    wait(client, running["id"], until=("running",))
    answer = client.delete(f"/api/jobs/{queued['id']}")
    assert answer.status_code == 200 and answer.json()["outcome"] == "cancelled"
    assert answer.json()["job"]["status"] == "cancelled"
    while Slow.made[0].steps_done < 3:
        time.sleep(0.01)
    answer = client.delete(f"/api/jobs/{running['id']}")
    assert answer.status_code == 202 and answer.json()["outcome"] == "cancelling"
    job = wait(client, running["id"])
    assert job["status"] == "cancelled" and job["result_url"] is None
    stopped_at = Slow.made[0].steps_done
    time.sleep(0.1)
    assert Slow.made[0].steps_done == stopped_at < 100_000  # the work stopped
    assert len(Slow.made) == 1  # the queued job never ran
    # a finished job is deleted, files and all
    done = wait(client, post(client).json()["id"])
    assert client.delete(f"/api/jobs/{done['id']}").json()["outcome"] == "deleted"
    assert client.get(done["url"]).status_code == 404
    assert not list((client.app.state.workdir / "results").glob(f"{done['id']}*"))


def test_a_failing_backend_fails_its_job_only(client):
    job = wait(client, post(client, "broken", "brightness", style=False).json()["id"])
    assert job["status"] == "failed" and job["error"] == "internal error: RuntimeError: boom"
    assert wait(client, post(client).json()["id"])["status"] == "done"


def test_finished_jobs_beyond_keep_are_forgotten(tmp_path, test_plugins):
    with make_client(tmp_path, keep=2) as client:
        ids = [wait(client, post(client).json()["id"])["id"] for _ in range(3)]
        assert [j["id"] for j in client.get("/api/jobs").json()["jobs"]] == ids[:0:-1]
        assert len(list((tmp_path / "work" / "results").iterdir())) == 4  # two results, two originals


def test_other_origins_and_hosts_are_refused(tmp_path, test_plugins):
    with make_client(tmp_path, allowed_hosts=["127.0.0.1"]) as client:
        assert client.get("/api/components").status_code == 400  # Host: testserver (DNS rebinding)
    with make_client(tmp_path) as client:
        answer = client.post("/api/run", headers={"origin": "http://evil.example"}, data={})
        assert answer.status_code == 403
        same = post(client, style_backend="nope")
        assert same.status_code == 400


def test_the_page_and_examples(tmp_path, test_plugins):
    examples = tmp_path / "examples"
    examples.mkdir()
    Image.new("RGB", (8, 8)).save(examples / "a.jpg")
    (examples / "notes.txt").write_text("not a picture")
    with make_client(tmp_path, examples=examples) as client:
        page = client.get("/")
        assert page.status_code == 200 and "/static/app.js" in page.text
        assert client.get("/static/app.js").status_code == 200
        assert client.get("/api/examples").json() == [{"name": "a.jpg", "url": "/api/examples/a.jpg"}]
        assert client.get("/api/examples/a.jpg").headers["content-type"] == "image/jpeg"
        assert client.get("/api/examples/notes.txt").status_code == 404
        server = client.get("/api/server").json()
        assert server["queue"] == {"waiting": 0, "running": 0, "limit": 8} and server["limits"]["max_size"] == 64


def test_twenty_concurrent_uploads_are_all_answered(tmp_path, test_plugins):
    """A real server (uvicorn in a thread): 20 uploads at once, each accepted (202) or refused because the
    queue is full (503); every accepted job finishes, and the server keeps serving."""
    pytest.importorskip("uvicorn")
    import httpx

    app = create_app(workdir=tmp_path / "work", queue_size=6, limits=Limits(max_size=64))
    with BackgroundServer(app) as server:
        start = threading.Barrier(20)

        def upload(n: int) -> httpx.Response:
            with httpx.Client(base_url=server.url, timeout=60) as http:
                files = {"content": (f"p{n}.png", png(colour=(n * 10, 90, 90)), "image/png")}
                data = {"style_backend": "slow", "caption_backend": "brightness", "style_options": '{"steps": 3}'}
                start.wait()
                return http.post("/api/run", files=files, data=data)

        with ThreadPoolExecutor(20) as pool:
            answers = list(pool.map(upload, range(20)))
        codes = [a.status_code for a in answers]
        assert set(codes) <= {202, 503} and codes.count(202) >= 6, codes
        with httpx.Client(base_url=server.url, timeout=60) as http:
            accepted = [a.json()["id"] for a in answers if a.status_code == 202]
            for job_id in accepted:
                assert wait(http, job_id)["status"] == "done"
            assert http.get("/api/components").status_code == 200
            assert {j["id"] for j in http.get("/api/jobs").json()["jobs"]} == set(accepted)


# -- the command --------------------------------------------------------------------------------------


def test_serve_command_warns_off_loopback(monkeypatch, capsys):
    import uvicorn

    import stylecap_cli.serve.app as app_module

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append(kw))
    monkeypatch.setattr(app_module, "create_app", lambda **kw: kw)
    code, _, err = run_cli(capsys, "serve", "--port", "9999")
    assert code == 0 and "warning" not in err and "http://127.0.0.1:9999/" in err
    assert calls[-1] == {"host": "127.0.0.1", "port": 9999, "log_level": "warning"}
    code, _, err = run_cli(capsys, "serve", "--host", "0.0.0.0", "--port", "9999")
    assert code == 0 and "warning: listening on 0.0.0.0, not a loopback address" in " ".join(err.split())
    code, _, err = run_cli(capsys, "serve", "--queue", "0")
    assert code == 2 and "--queue must be at least 1" in err
    assert is_loopback("127.0.0.2") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.2") and not is_loopback("example.com")


def test_the_web_stack_loads_only_when_serving():
    code = (
        "import sys, stylecap_cli.main; "
        "print(sorted({n.split('.')[0] for n in sys.modules} & {'starlette', 'uvicorn', 'python_multipart', 'httpx'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
