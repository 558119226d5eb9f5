"""The HTTP side of ``stylecap serve``: a Starlette app over a :class:`~.jobs.Runner`.

The page (``static/``) uses only the API below; docs/serve.md documents it. Errors are JSON, ``{"error": ...}``,
with a 4xx status that says whose fault it is (503: the queue is full, try again).
"""

from __future__ import annotations

import contextlib
import re
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, Headers, UploadFile
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

import stylecap
from stylecap.core import config as config_mod
from stylecap.core.errors import UsageError
from stylecap.core.host import registry
from stylecap.core.imageio import SUPPORTED_SUFFIXES

from ..run import DEFAULT_CAPTION_BACKEND, DEFAULT_STYLE_BACKEND  # the page's defaults are the command's
from .jobs import Job, QueueFull, RequestError, Runner, check_backend, decode_upload, display_name, parse_options

STATIC = Path(__file__).with_name("static")

NONE = ("", "none")

SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; connect-src 'self'; "
        b"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-resource-policy", b"same-origin"),
]


@dataclass(frozen=True)
class Limits:
    """What one request may hold. ``max_size`` is the longer side pictures are shrunk to before they queue."""

    max_upload_bytes: int = 25 * 2**20
    max_pixels: int = 50_000_000
    max_size: int | None = 1024
    max_styles: int = 4


def create_app(
    *,
    workdir: str | Path | None = None,
    limits: Limits | None = None,
    queue_size: int = 8,
    keep: int = 100,
    cache_size: int = 2,
    device: str | None = None,
    examples: str | Path | None = None,
    allowed_hosts: list[str] | None = None,
) -> Starlette:
    """The app: a worker thread starts and stops with it (its lifespan); ``workdir`` (a temporary folder when
    None, removed at shutdown) holds results and snapshots under generated names. ``examples``: a folder of
    pictures offered as a gallery. ``allowed_hosts``: Host headers accepted (None: any), against DNS rebinding."""
    limits = limits or Limits()
    own_workdir = workdir is None
    work = Path(tempfile.mkdtemp(prefix="stylecap-serve-")) if workdir is None else Path(workdir)
    runner = Runner(
        work, queue_size=queue_size, keep=keep, cache_size=cache_size, device=device, max_size=limits.max_size
    )
    gallery = _examples(examples)
    stylecap.list_components()  # load the plugins now, not in the first request

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        runner.start()
        try:
            yield
        finally:
            await run_in_threadpool(runner.stop)
            if own_workdir:
                shutil.rmtree(work, ignore_errors=True)

    def job_or_404(request: Request) -> Job:
        job = runner.get(request.path_params["job_id"])
        if job is None:
            raise RequestError(404, "no such job (it may have been deleted, or the server restarted)")
        return job

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"cache-control": "no-cache"})

    async def server(request: Request) -> Response:
        return _json(
            {
                "version": stylecap.__version__,
                "device": runner.device,
                "queue": runner.counts(),
                "limits": asdict(limits),
                "defaults": {"style_backend": DEFAULT_STYLE_BACKEND, "caption_backend": DEFAULT_CAPTION_BACKEND},
            }
        )

    async def components(request: Request) -> Response:
        return _json([e.to_json() for e in stylecap.list_components()])

    async def component(request: Request) -> Response:
        kind, name = request.path_params["kind"], request.path_params["name"]
        try:
            entry = registry(kind).get(name)
        except UsageError as e:
            raise RequestError(404, str(e)) from None
        doc = entry.to_json() | {
            "needs_style": bool(getattr(entry.cls, "needs_style", False)),
            "options": [
                {"name": f.name, "type": f.type, "default": f.default, "help": f.help}
                for f in config_mod.fields(entry.cls.Config)
            ],
            "weights": [w.__dict__ for w in entry.cls.weights],
        }
        return _json(doc)

    async def example_list(request: Request) -> Response:
        return _json([{"name": name, "url": f"/api/examples/{name}"} for name in gallery])

    async def example(request: Request) -> Response:
        path = gallery.get(request.path_params["name"])
        if path is None:
            raise RequestError(404, "no such example picture")
        return FileResponse(path, headers={"cache-control": "max-age=3600"})

    async def run(request: Request) -> Response:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limits.max_upload_bytes:
            raise RequestError(413, _too_large(limits))
        if runner.counts()["waiting"] >= runner.queue_size:  # before reading a byte of the pictures
            raise QueueFull(f"the queue is full ({runner.queue_size} jobs waiting)")
        limited = Request(request.scope, _limited(request.receive, limits.max_upload_bytes))
        try:
            form = await limited.form(max_files=1 + limits.max_styles, max_fields=64)
        except _TooLarge:
            raise RequestError(413, _too_large(limits)) from None
        except ClientDisconnect:  # the upload stopped half-way: nobody is left to answer
            raise RequestError(400, "the upload was interrupted") from None
        try:
            job = await run_in_threadpool(_make_job, form, limits, work)
        finally:
            await form.close()
        await run_in_threadpool(runner.save_original, job)
        runner.submit(job)
        return _json(runner.describe(job), status_code=202, headers={"location": f"/api/jobs/{job.id}"})

    async def jobs(request: Request) -> Response:
        return _json({"jobs": [runner.describe(j) for j in runner.jobs()], "queue": runner.counts()})

    async def job(request: Request) -> Response:
        return _json(runner.describe(job_or_404(request)))

    async def cancel(request: Request) -> Response:
        found = job_or_404(request)
        outcome = runner.cancel(found)
        body = {"id": found.id, "outcome": outcome}
        if outcome != "deleted":
            body["job"] = runner.describe(found)
        return _json(body, status_code=202 if outcome == "cancelling" else 200)

    async def result(request: Request) -> Response:
        found = job_or_404(request)
        path = found.result_path
        if found.status != "done" or path is None:
            raise RequestError(404, f"job {found.id} has no result ({found.status})")
        if request.query_params.get("download"):
            stem = re.sub(r"[^A-Za-z0-9_-]+", "_", Path(found.content_name).stem).strip("_") or "picture"
            return FileResponse(path, media_type="image/png", filename=f"{stem}-stylecap.png")
        return FileResponse(path, media_type="image/png", headers={"cache-control": "private, max-age=86400"})

    async def content(request: Request) -> Response:
        found = job_or_404(request)
        if found.content_path is None:
            raise RequestError(404, "this job's original is gone")
        return FileResponse(found.content_path, media_type="image/png", headers={"cache-control": "private"})

    async def preview(request: Request) -> Response:
        found = job_or_404(request)
        data = found.preview
        if data is None:
            raise RequestError(404, "no picture in progress (only backends that save snapshots, such as gatys)")
        return Response(data, media_type="image/png", headers={"cache-control": "no-store"})

    routes = [
        Route("/", index),
        Route("/api/server", server),
        Route("/api/components", components),
        Route("/api/components/{kind}/{name}", component),
        Route("/api/examples", example_list),
        Route("/api/examples/{name}", example),
        Route("/api/run", run, methods=["POST"]),
        Route("/api/jobs", jobs),
        Route("/api/jobs/{job_id}", job, methods=["GET"]),
        Route("/api/jobs/{job_id}", cancel, methods=["DELETE"]),
        Route("/api/jobs/{job_id}/result", result),
        Route("/api/jobs/{job_id}/content", content),
        Route("/api/jobs/{job_id}/preview", preview),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    middleware = [Middleware(_Guard)]
    if allowed_hosts is not None:
        middleware.append(Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts))
    app = Starlette(
        routes=routes,
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers={RequestError: _error, HTTPException: _error, QueueFull: _error},
    )
    app.state.runner = runner
    app.state.workdir = work
    return app


def _make_job(form: FormData, limits: Limits, work: Path) -> Job:
    """Check a ``POST /api/run`` form and decode its pictures (in a worker thread: decoding takes time)."""
    style_name = _backend(form, "style_backend", DEFAULT_STYLE_BACKEND)
    caption_name = _backend(form, "caption_backend", DEFAULT_CAPTION_BACKEND)
    if style_name is None and caption_name is None:
        raise RequestError(400, "style_backend none with caption_backend none leaves nothing to do")
    style_config = check_backend("style", style_name, parse_options(_text(form, "style_options"), "style_options"))
    caption_config = check_backend(
        "caption", caption_name, parse_options(_text(form, "caption_options"), "caption_options")
    )
    content = form.get("content")
    if not isinstance(content, UploadFile):
        raise RequestError(400, "no content picture: send it as the multipart file field 'content'")
    uploads = form.getlist("style")
    if any(not isinstance(u, UploadFile) for u in uploads):
        raise RequestError(400, "'style' must be a file field (one per style picture)")
    if len(uploads) > limits.max_styles:
        raise RequestError(400, f"{len(uploads)} style pictures; the server takes at most {limits.max_styles}")
    needs_style = style_name is not None and registry("style").get(style_name).cls.needs_style
    if needs_style and not uploads:
        raise RequestError(400, f"style backend {style_name!r} needs a style picture: send one as 'style'")
    if style_name is None and uploads:
        raise RequestError(400, "style_backend none does not use a style picture: name a style backend, or drop it")
    if not needs_style:
        uploads = []  # a backend with a learnt style (cyclegan) ignores them
    weights = [_number(w, "style_weight") for w in form.getlist("style_weight")]
    if weights and len(weights) != len(uploads):
        raise RequestError(400, f"{len(weights)} style_weight values for {len(uploads)} style pictures")
    seed_text = _text(form, "seed")
    seed = None if seed_text in (None, "") else int(_number(seed_text, "seed", whole=True))

    folder = work / "uploads"
    name = display_name(content.filename, "picture")
    decoded = decode_upload(
        content.file, f"the content picture {name!r}", folder, max_pixels=limits.max_pixels, max_size=limits.max_size
    )
    styles, style_names = [], []
    for n, upload in enumerate(uploads, 1):
        label = display_name(upload.filename, f"style {n}")
        style_names.append(label)
        picture = decode_upload(
            upload.file, f"style picture {label!r}", folder, max_pixels=limits.max_pixels, max_size=limits.max_size
        )
        styles.append(picture.rgb)
    return Job(
        style_backend=style_name,
        caption_backend=caption_name,
        style_config=style_config,
        caption_config=caption_config,
        content=decoded,
        styles=styles,
        style_weights=weights or None,
        seed=seed,
        content_name=name,
        style_names=style_names,
    )


def _text(form: FormData, key: str) -> str | None:
    value = form.get(key)
    if value is not None and not isinstance(value, str):
        raise RequestError(400, f"{key!r} must be a text field, not a file")
    return value


def _backend(form: FormData, key: str, default: str) -> str | None:
    value = _text(form, key)
    if value is None:
        return default
    return None if value.strip().lower() in NONE else value.strip()


def _number(value: Any, what: str, *, whole: bool = False) -> float:
    if not isinstance(value, str):
        raise RequestError(400, f"{what!r} must be a text field")
    try:
        number = float(value)
    except ValueError:
        raise RequestError(400, f"{what} {value!r} is not a number") from None
    if whole and not number.is_integer():
        raise RequestError(400, f"{what} {value!r} is not a whole number")
    return number


def _examples(folder: str | Path | None) -> dict[str, Path]:
    """Name -> file of the gallery pictures, fixed at start: a request names one, never a path."""
    if folder is None or not Path(folder).is_dir():
        return {}
    files = sorted(p for p in Path(folder).iterdir() if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES)
    return {p.name: p.resolve() for p in files if not p.name.startswith(".")}


def _json(body: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status_code, headers={"cache-control": "no-store", **(headers or {})})


async def _error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, QueueFull):
        return _json({"error": f"{exc} (try again in a moment)"}, status_code=503, headers={"retry-after": "5"})
    if isinstance(exc, HTTPException):
        return _json({"error": exc.detail}, status_code=exc.status_code)
    assert isinstance(exc, RequestError)
    return _json({"error": exc.message}, status_code=exc.status)


def _too_large(limits: Limits) -> str:
    return f"the upload is larger than the server's limit of {limits.max_upload_bytes / 2**20:g} MB"


class _TooLarge(Exception):
    """The request body passed the upload limit."""


def _limited(receive: Callable[[], Awaitable[dict[str, Any]]], limit: int) -> Callable[[], Awaitable[dict[str, Any]]]:
    """``receive`` that raises :class:`_TooLarge` once the body passes ``limit`` bytes, whatever the client
    declared (a chunked upload declares nothing)."""
    seen = 0

    async def wrapped() -> dict[str, Any]:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _TooLarge
        return message

    return wrapped


class _Guard:
    """Security headers on every response; a POST or DELETE from another origin (a web page elsewhere that
    the person has open) is refused."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if scope["method"] not in ("GET", "HEAD", "OPTIONS") and origin is not None:
            if urlsplit(origin).netloc != headers.get("host"):
                response = _json({"error": "requests from other web pages are refused"}, status_code=403)
                await response(scope, receive, send)
                return

        async def secured(message: dict) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, secured)


class BackgroundServer:
    """``app`` served by uvicorn in a thread of this process (tests, notebooks): ``url``, then :meth:`stop`.

    ``port=0`` picks a free port.
    """

    def __init__(self, app: Starlette, host: str = "127.0.0.1", port: int = 0, *, timeout: float = 30.0):
        import threading
        import time

        import uvicorn

        self.server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, name="stylecap-serve-http", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start on {host}:{port}")
            time.sleep(0.02)
        bound = self.server.servers[0].sockets[0].getsockname()
        self.url = f"http://{host}:{bound[1]}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)

    def __enter__(self) -> BackgroundServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
