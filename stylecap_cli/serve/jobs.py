"""The work behind ``stylecap serve``: requests checked, pictures decoded, one worker thread, a bounded queue.

Nothing here knows about HTTP. :class:`Runner` owns the job table, the queue (jobs waiting; a full queue refuses
new ones) and the one worker thread that runs them, one at a time, with one model instance per backend and
options, kept in a small LRU cache. Every file it writes lies in its work folder under a name it generated.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import json
import logging
import math
import re
import secrets
import shutil
import threading
import time
import traceback
import uuid
from pathlib import Path
from typing import IO, Any

import torch
from PIL import Image

from stylecap.core import config as config_mod
from stylecap.core.component import Component
from stylecap.core.errors import StylecapError, UsageError
from stylecap.core.host import registry
from stylecap.core.imageio import LoadedImage, read_image, resize_max, write_image
from stylecap.core.pipeline import Pipeline

log = logging.getLogger("stylecap.serve")

SNAPSHOT_FIELDS = ("snapshot_every", "snapshot_dir")
"""Options of a style backend that can save its picture in progress (gatys); the server sets them itself."""

SNAPSHOTS_PER_RUN = 25
"""About how many pictures in progress a run shows."""

_FILE_LIKE = re.compile(r"[/\\]|^[~.]|\.[A-Za-z][A-Za-z0-9]{0,9}$")
"""A value that looks like a file: a separator, a leading ``~`` or ``.``, or a suffix (``x.pth``)."""

JOB_ID = re.compile(r"^[0-9a-f]{16}$")

FINISHED = ("done", "failed", "cancelled")


class RequestError(Exception):
    """A request the server refuses: an HTTP status and a message a person can act on."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class Cancelled(Exception):
    """Raised in the worker (by the progress callback) when a job has been cancelled."""


# -- checking a request -----------------------------------------------------------------------------


def parse_options(text: str | None, what: str) -> dict[str, Any]:
    """``style_options``/``caption_options``: a JSON object of option name -> value (strings are coerced)."""
    if text is None or not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise RequestError(400, f"{what} is not valid JSON ({e})") from None
    if not isinstance(value, dict):
        raise RequestError(400, f'{what} must be a JSON object of option names and values, e.g. {{"alpha": 0.8}}')
    return value


def check_backend(kind: str, name: str | None, options: dict[str, Any]) -> Any:
    """Look ``name`` up and build its config from ``options``, refusing what a web request must not set.

    Options that name files (a ``Path`` field, or a value that looks like a path) are refused, so no path
    from a request ever reaches the disk; the snapshot options belong to the server. Returns the config.
    """
    if name is None:
        if options:
            raise RequestError(400, f"{kind}_options given but no {kind} backend")
        return None
    try:
        entry = registry(kind).get(name)
    except UsageError as e:
        raise RequestError(400, str(e)) from None
    fields = {f.name: f for f in config_mod.fields(entry.cls.Config)}
    writing = {f.name for f in dataclasses.fields(entry.cls.Config) if f.metadata.get("writes")}
    for key, value in options.items():
        field = fields.get(str(key).replace("-", "_"))
        if field is not None and field.name.startswith("snapshot"):
            raise RequestError(400, f"{kind} option {key!r} is set by the server (it shows the picture in progress)")
        if field is not None and ("Path" in field.type or field.name in writing):
            raise RequestError(400, f"{kind} option {key!r} names files, which the server does not accept")
        if any(_FILE_LIKE.search(text) for text in _strings(value)):
            raise RequestError(
                400, f"{kind} option {key!r} = {value!r} looks like a file path, which the server does not accept"
            )
    try:
        return entry.build_config(options)
    except StylecapError as e:
        raise RequestError(400, str(e)) from None


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in _strings(v)]
    return []


def decode_upload(
    file: IO[bytes], label: str, folder: Path, *, max_pixels: int, max_size: int | None = None
) -> LoadedImage:
    """Decode one uploaded picture with stylecap's reader (its size, bomb and format checks), shrunk so its
    longer side is at most ``max_size``.

    The bytes go to a file named here (never after the upload), which is removed again; the reader's
    message names ``label`` instead of that file.
    """
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f"upload-{uuid.uuid4().hex}"
    try:
        with open(tmp, "wb") as out:
            shutil.copyfileobj(file, out, 1 << 20)
        loaded = read_image(tmp, max_pixels=max_pixels)
    except StylecapError as e:
        raise RequestError(400, str(e).replace(str(tmp), label)) from None
    finally:
        tmp.unlink(missing_ok=True)
    rgb, alpha = resize_max(loaded.rgb, max_size), loaded.alpha
    if alpha is not None and alpha.size != rgb.size:
        alpha = alpha.resize(rgb.size, Image.Resampling.LANCZOS)
    return LoadedImage(rgb, alpha, None)


def display_name(filename: str | None, fallback: str) -> str:
    """An upload's name as the page shows it: printable, short; it never names a file on the server."""
    name = re.sub(r"[^\w .()+-]", "_", (filename or "").rsplit("/", 1)[-1].rsplit("\\", 1)[-1]).strip()
    return name[:80] or fallback


# -- jobs --------------------------------------------------------------------------------------------


@dataclasses.dataclass(eq=False)
class Job:
    """One request: its inputs while it waits, then its state and result."""

    style_backend: str | None
    caption_backend: str | None
    style_config: Any
    caption_config: Any
    content: LoadedImage | None
    styles: list[Image.Image]
    style_weights: list[float] | None = None
    seed: int | None = None
    content_name: str = "picture"
    style_names: list[str] = dataclasses.field(default_factory=list)
    id: str = dataclasses.field(default_factory=lambda: secrets.token_hex(8))
    status: str = "queued"
    phase: str = "waiting"
    step: int = 0
    total: int = 0
    scalars: dict[str, float] = dataclasses.field(default_factory=dict)
    error: str | None = None
    caption: str | None = None
    captions: list[str] = dataclasses.field(default_factory=list)
    condition: dict[str, Any] | None = None
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)
    created: float = dataclasses.field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    preview: bytes | None = None
    preview_step: int = 0
    result_path: Path | None = None
    content_path: Path | None = None
    cancel: threading.Event = dataclasses.field(default_factory=threading.Event)

    def options(self, kind: str) -> dict[str, Any]:
        """The options that differ from the backend's defaults."""
        config = self.style_config if kind == "style" else self.caption_config
        if config is None:
            return {}
        chosen = config_mod.to_dict(config)
        try:
            default = config_mod.to_dict(type(config)())
        except TypeError:  # a field without a default
            return chosen
        return {k: v for k, v in chosen.items() if default.get(k) != v}

    def to_json(self, position: int | None = None) -> dict[str, Any]:
        base = f"/api/jobs/{self.id}"
        done = self.status == "done" and self.result_path is not None
        return {
            "id": self.id,
            "status": self.status,
            "phase": self.phase,
            "position": position,
            "cancelling": self.cancel.is_set() and self.status not in FINISHED,
            "progress": {"step": self.step, "total": self.total, "scalars": self.scalars},
            "style_backend": self.style_backend,
            "caption_backend": self.caption_backend,
            "style_options": self.options("style"),
            "caption_options": self.options("caption"),
            "content_name": self.content_name,
            "style_names": self.style_names,
            "caption": self.caption,
            "captions": self.captions,
            "condition": self.condition,
            "error": self.error,
            "seed": self.metadata.get("seed", self.seed),
            "size": self.metadata.get("size"),
            "timings": self.metadata.get("timings"),
            "created": self.created,
            "started": self.started,
            "finished": self.finished,
            "url": base,
            "content_url": f"{base}/content" if self.content_path else None,
            "preview_url": f"{base}/preview?step={self.preview_step}" if self.preview and not done else None,
            "result_url": f"{base}/result" if done else None,
            "download_url": f"{base}/result?download=1" if done else None,
        }


class QueueFull(Exception):
    """The queue holds as many waiting jobs as it may."""


class Runner:
    """The job table, a bounded queue of waiting jobs and the one worker thread that runs them.

    ``queue_size`` jobs may wait besides the one running; :meth:`submit` raises :class:`QueueFull` past that.
    Finished jobs are kept (with their files) up to ``keep``, the oldest forgotten first. Models are made in
    the worker, one per backend and options, ``cache_size`` of each kind kept.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        queue_size: int = 8,
        keep: int = 100,
        cache_size: int = 2,
        device: str | None = None,
        max_size: int | None = 1024,
    ):
        self.workdir = Path(workdir)
        self.queue_size = queue_size
        self.keep = keep
        self.cache_size = cache_size
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.max_size = max_size
        self._jobs: dict[str, Job] = {}
        self._waiting: collections.deque[Job] = collections.deque()
        self._models: collections.OrderedDict[tuple[str, str, str], Component] = collections.OrderedDict()
        self._lock = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self.running: Job | None = None

    # -- the table, from request threads -------------------------------------------------------------

    def start(self) -> None:
        (self.workdir / "results").mkdir(parents=True, exist_ok=True)
        with self._lock:
            if self._thread is None:
                self._stopping = False
                self._thread = threading.Thread(target=self._work, name="stylecap-serve-worker", daemon=True)
                self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Cancel what runs and waits, and end the worker."""
        with self._lock:
            self._stopping = True
            for job in [*self._waiting, *([self.running] if self.running else [])]:
                job.cancel.set()
            self._lock.notify_all()
            thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)

    def submit(self, job: Job) -> Job:
        """Queue ``job`` (its inputs checked and decoded)."""
        with self._lock:
            if len(self._waiting) >= self.queue_size:
                if job.content_path is not None:
                    job.content_path.unlink(missing_ok=True)
                raise QueueFull(f"the queue is full ({self.queue_size} jobs waiting)")
            self._jobs[job.id] = job
            self._waiting.append(job)
            self._lock.notify_all()
        return job

    def save_original(self, job: Job) -> None:
        """The content as the job will see it, for the page's gallery (outside the lock: it writes a file)."""
        if job.content is not None:
            path = self.workdir / "results" / f"{job.id}-content.png"
            write_image(path, job.content.rgb, alpha=job.content.alpha)
            job.content_path = path

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id) if JOB_ID.match(job_id) else None

    def position(self, job: Job) -> int | None:
        """How many jobs run or wait before ``job`` (0: it is next); None unless it waits."""
        with self._lock:
            for i, waiting in enumerate(self._waiting):
                if waiting is job:
                    return i + (1 if self.running is not None else 0)
            return None

    def describe(self, job: Job) -> dict[str, Any]:
        return job.to_json(self.position(job))

    def jobs(self) -> list[Job]:
        """Every job the server remembers, newest first."""
        with self._lock:
            return sorted(self._jobs.values(), key=lambda j: j.created, reverse=True)

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {"waiting": len(self._waiting), "running": int(self.running is not None), "limit": self.queue_size}

    def cancel(self, job: Job) -> str:
        """Stop ``job``: a waiting one leaves the queue, a running one stops at its next progress call.
        A finished job is forgotten, its files removed. Returns what happened: cancelled, cancelling, deleted."""
        with self._lock:
            if job.status == "queued":
                self._waiting.remove(job)
                job.cancel.set()
                self._finish(job, "cancelled")
                return "cancelled"
            if job.status == "running":
                job.cancel.set()
                return "cancelling"
            self._forget(job)
            return "deleted"

    # -- the worker ------------------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            with self._lock:
                while not self._waiting and not self._stopping:
                    self._lock.wait()
                if self._stopping:
                    return
                job = self._waiting.popleft()
                job.status, job.phase, job.started = "running", "loading", time.time()
                self.running = job
            try:
                self._run(job)
            except Cancelled:
                job.error = None
                status = "cancelled"
            except StylecapError as e:
                job.error = str(e)
                status = "failed"
            except Exception as e:  # a bug in a backend: the server keeps serving
                log.error("job %s failed:\n%s", job.id, traceback.format_exc())
                job.error = f"internal error: {type(e).__name__}: {e}"
                status = "failed"
            else:
                status = "cancelled" if job.cancel.is_set() else "done"
            with self._lock:
                self.running = None
                self._finish(job, status)

    def _finish(self, job: Job, status: str) -> None:
        """Under the lock: mark ``job`` finished, drop its inputs, forget the oldest finished jobs past ``keep``."""
        job.status, job.phase, job.finished = status, status, time.time()
        job.content, job.styles, job.preview = None, [], None
        if status != "done":
            if job.result_path is not None:
                job.result_path.unlink(missing_ok=True)
                job.result_path = None
        finished = sorted((j for j in self._jobs.values() if j.status in FINISHED), key=lambda j: j.finished or 0)
        for old in finished[: max(0, len(finished) - self.keep)]:
            self._forget(old)

    def _forget(self, job: Job) -> None:
        self._jobs.pop(job.id, None)
        for path in (job.result_path, job.content_path):
            if path is not None:
                path.unlink(missing_ok=True)
        job.result_path = job.content_path = job.preview = None

    def _run(self, job: Job) -> None:
        style = self._model("style", job.style_backend, job.style_config)
        caption = self._model("caption", job.caption_backend, job.caption_config)
        snapshots = self._snapshot_dir(style)
        if snapshots is not None:
            shutil.rmtree(snapshots, ignore_errors=True)
            snapshots.mkdir(parents=True)
        job.phase = "styling" if style is not None else "captioning"

        def progress(step: int, total: int, scalars: dict[str, float]) -> None:
            if job.cancel.is_set():
                raise Cancelled(job.id)
            job.step, job.total = step, total
            job.scalars = {k: float(v) for k, v in scalars.items() if math.isfinite(v)}  # JSON has no NaN
            if snapshots is not None:
                self._take_snapshot(job, snapshots)
            if step >= total and caption is not None:
                job.phase = "captioning"

        if job.cancel.is_set():
            raise Cancelled(job.id)
        pipeline = Pipeline(style, caption, device=self.device, max_size=self.max_size)
        result = pipeline(job.content, job.styles, style_weights=job.style_weights, seed=job.seed, progress=progress)
        if job.cancel.is_set():
            raise Cancelled(job.id)
        job.phase = "saving"
        path = self.workdir / "results" / f"{job.id}.png"
        result.save(path)
        job.result_path = path
        job.caption, job.captions = result.caption, result.captions
        job.condition = result.condition.to_json() if result.condition is not None else None
        job.metadata = {k: result.metadata[k] for k in ("seed", "size", "timings")}
        if job.total == 0:
            job.step = job.total = 1

    def _model(self, kind: str, name: str | None, config: Any) -> Component | None:
        """The shared instance for this backend and config, made (and cached) on first use."""
        if name is None:
            return None
        values = config_mod.to_dict(config)
        key = (kind, name, json.dumps(values, sort_keys=True))
        if key in self._models:
            self._models.move_to_end(key)
            return self._models[key]
        entry = registry(kind).get(name)
        if kind == "style" and all(f in values for f in SNAPSHOT_FIELDS):
            every = max(1, _steps(values) // SNAPSHOTS_PER_RUN)
            folder = self.workdir / "snapshots" / hashlib.sha1("\0".join(key).encode()).hexdigest()[:12]
            config = entry.build_config(values | {"snapshot_every": every, "snapshot_dir": str(folder)})
        model = entry.create(config)
        same_kind = [k for k in self._models if k[0] == kind]
        for old in same_kind[: max(0, len(same_kind) + 1 - self.cache_size)]:
            del self._models[old]
        self._models[key] = model
        return model

    @staticmethod
    def _snapshot_dir(style: Component | None) -> Path | None:
        folder = getattr(getattr(style, "config", None), "snapshot_dir", None)
        return Path(folder) if folder and getattr(style.config, "snapshot_every", 0) else None

    @staticmethod
    def _take_snapshot(job: Job, folder: Path) -> None:
        """Keep the newest picture in progress in memory (for the page) and remove the files."""
        files = sorted(folder.glob("step-*.png"))
        if not files:
            return
        try:
            data = files[-1].read_bytes()
            step = int(files[-1].stem.split("-")[1])
        except (OSError, ValueError):
            return
        for f in files:
            f.unlink(missing_ok=True)
        job.preview, job.preview_step = data, step


def _steps(values: dict[str, Any]) -> int:
    steps = values.get("steps") or 1
    levels = values.get("pyramid_levels") or 1
    return int(steps) * int(levels)
