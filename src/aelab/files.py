"""Writing files so that a kill at any moment leaves the old file or the new one, never a part.

Every file a run produces that something later reads (checkpoints, metrics, saved configs,
the tokenizer, caches, generated outputs) goes through `atomic_write`. The temporary file is
staged in the destination's own directory: a rename inside one directory is atomic on every
local filesystem, while a temporary file in `$TMPDIR` cannot be renamed onto another
filesystem (EXDEV) and the usual fallback copies over the old file, truncating it first.
"""

import contextlib
import errno
import io
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from aelab.errors import AelabError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp creates files readable by their owner only; a checkpoint or metrics file should get
# the permissions any other file written here would.
FILE_MODE = 0o666 & ~_umask()


def fix_for(err: OSError, path: Path) -> str | None:
    """One line naming what the filesystem refused and what to do, for the errors a user
    can fix; None for the rest (a real bug should keep its traceback)."""
    if err.errno == errno.ENOSPC or err.errno == errno.EDQUOT:
        return (f"no space left to write {path} (disk or quota full): free some space, or "
                "write the run elsewhere (hydra.run.dir=DIR or paths.log_dir=DIR)")
    if err.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return (f"cannot write {path}: {os.strerror(err.errno)}; pick a writable "
                "directory (hydra.run.dir=DIR or paths.log_dir=DIR)")
    if err.errno in (errno.ENOTDIR, errno.EEXIST):
        blocking = next((p for p in [path, *path.parents] if p.exists() and not p.is_dir()), path)
        return (f"cannot write {path}: {blocking} is a file, not a directory; remove it "
                "or pick another directory (hydra.run.dir=DIR)")
    return None


def disk_problem(err: OSError) -> str | None:
    """fix_for's line for a full disk or a read-only filesystem met outside our own writes (a
    logger's file, a library's cache), naming the file when the error does; None otherwise.
    Permission errors are left out: there they may come from reading, not writing."""
    if err.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
        return None
    return fix_for(err, Path(err.filename) if err.filename else Path("a file of the run"))


@contextlib.contextmanager
def filesystem_errors(path: Path) -> Iterator[None]:
    """Turn a full disk, a read-only or foreign directory, or a file where a directory
    should be into one line (AelabError) naming the path and the fix."""
    try:
        yield
    except OSError as err:
        message = fix_for(err, Path(path))
        if message is None:
            raise
        raise AelabError(message) from None


def make_dirs(path: str | Path) -> Path:
    """`mkdir -p`, with the filesystem's refusals said in one line."""
    path = Path(path)
    with filesystem_errors(path):
        path.mkdir(parents=True, exist_ok=True)
    return path


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], None]) -> Path:
    """Write `path` through `write(file)`: staged beside it, flushed to disk, then renamed
    over it. A kill at any point leaves the previous file whole (or no file)."""
    path = Path(path)
    make_dirs(path.parent)
    with filesystem_errors(path):
        handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(handle, "wb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())  # the bytes are on disk before the name points at them
            os.chmod(tmp, FILE_MODE)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        fsync_dir(path.parent)  # and the rename itself survives a power cut
    return path


def fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not every filesystem lets a directory be opened
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    return atomic_write(path, lambda f: f.write(data))


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_save_image(image, path: str | Path, **params) -> Path:
    """A PIL image, in the format its suffix names, written atomically."""
    buffer = io.BytesIO()
    image.save(buffer, format=image_format(path), **params)
    return atomic_write_bytes(path, buffer.getvalue())


def image_format(path: str | Path) -> str:
    from PIL import Image

    Image.init()
    suffix = Path(path).suffix.lower()
    if suffix not in Image.EXTENSION:
        raise AelabError(f"cannot write {path}: unknown image suffix {suffix!r}; use .png")
    return Image.EXTENSION[suffix]


def remove_stale_temporaries(directory: Path) -> None:
    """Temporary files a killed writer left behind (`.name.XXXX.tmp`); only the owner of a
    run dir (it holds the lock) calls this, so no live writer's file is removed."""
    if directory.is_dir():
        for stale in directory.glob(".*.tmp"):
            with contextlib.suppress(OSError):
                stale.unlink()


def free_name(path: Path) -> Path:
    """`path`, or `stem-1.suffix`, `stem-2.suffix`, ...: the first name not taken, so an
    earlier output is never replaced without a word."""
    candidate, n = path, 0
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate
