"""Files written whole or not at all: a temporary file beside the target, fsynced, renamed
over it, and the folder fsynced. Used by the store (backups), the shell (Maildir delivery)
and the CLI (security.txt, reports); it lives in the store because the store may import
neither the shell nor the CLI, while both of them may import the store."""

from __future__ import annotations

import os
from pathlib import Path


def fsync_path(path: Path) -> None:
    """Flush the file or folder `path` to disk (a folder: its entries, e.g. a new name)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace `path` with `data` (file mode `mode`) so that readers see old or new, never half.

    Writes `.<name>.<pid>.tmp` beside it, fsyncs it, renames it over `path` and fsyncs the
    folder. On failure the temporary file is removed and the OSError raised.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.chmod(mode)  # the umask may have narrowed it
        tmp.replace(path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
    fsync_path(path.parent)
