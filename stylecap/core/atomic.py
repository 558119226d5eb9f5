"""Write files so that a crash or Ctrl-C never leaves a half-written one behind.

A file is written under a temporary name beside its target, synced, given the mode a plain
``open`` would have given it (``0666`` less the umask, or the mode of the file it replaces),
and renamed into place. The temporary name records the host and process that write it
(``.NAME.HOST-PID.RANDOM.tmp``), so :func:`clean_stale` can remove what a killed process left
behind without touching a live writer's file.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

_TMP_SUFFIX = ".tmp"


def umask() -> int:
    """The process's umask, read without changing it where the system allows."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere the only way to read it is to set it (and put it back)
    os.umask(mask)
    return mask


def new_file_mode(path: str | os.PathLike | None = None, *, folder: bool = False) -> int:
    """The mode ``path`` gets: that of the file it replaces, else what ``open``/``mkdir`` would give."""
    if path is not None:
        with contextlib.suppress(OSError):
            return stat.S_IMODE(os.stat(path).st_mode)
    return (0o777 if folder else 0o666) & ~umask()


def _owner() -> str:
    host = re.sub(r"[^A-Za-z0-9-]", "_", socket.gethostname())[:40] or "host"
    return f"{host}-{os.getpid()}"


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # someone else's process, or we cannot tell: leave its files alone
    return True


def _stale_owner(name: str) -> bool:
    """Whether ``name`` is a temporary file written by a process of this host that no longer runs."""
    if not (name.startswith(".") and name.endswith(_TMP_SUFFIX)):
        return False
    parts = name[: -len(_TMP_SUFFIX)].rsplit(".", 2)
    if len(parts) != 3:
        return False
    host, _, pid = parts[1].rpartition("-")
    if not pid.isdigit() or host != _owner().rpartition("-")[0]:
        return False
    return not _alive(int(pid))


def clean_stale(folder: str | os.PathLike) -> list[Path]:
    """Remove the temporary files (and checkpoint folders) that killed writers left in ``folder``.

    Only files of this host whose process is gone are removed; returns what was removed.
    """
    removed = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            if _stale_owner(entry.name):
                path = Path(entry.path)
                with contextlib.suppress(OSError):
                    if entry.is_dir(follow_symlinks=False):
                        shutil.rmtree(path)
                    else:
                        path.unlink()
                    removed.append(path)
    return removed


def temp_name(path: Path) -> str:
    """The prefix of a temporary name beside ``path`` that :func:`clean_stale` can attribute."""
    return f".{path.name}.{_owner()}."


def fsync_folder(folder: str | os.PathLike) -> None:
    """Make a rename inside ``folder`` durable (best effort: not every system allows it)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one rename.

    The temporary file lives in the same folder so the final ``os.replace`` is atomic.
    If the body raises, the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=temp_name(path), suffix=_TMP_SUFFIX, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, new_file_mode(path))  # mkstemp makes 0600; the result gets what open() would give
        os.replace(tmp, path)
        fsync_folder(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))
