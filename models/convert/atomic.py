"""Files and folders that appear whole or not at all, and disk-full errors a user can read."""
from __future__ import annotations

import errno
import os
import secrets
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from models.errors import ModelError


class DiskFullError(ModelError):
    """A model file could not be written for want of space (a ModelError, so callers that only say
    what went wrong need not tell it apart)."""


def disk_full(folder: Path) -> DiskFullError:
    return DiskFullError(f"the disk is full: there is not enough free space in {folder} to write the model; "
                      "free some space and try again")


def is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))


@contextmanager
def atomic_file(target: Path) -> Iterator[Path]:
    """A temporary path beside `target`, renamed onto it when the block succeeds and removed when it
    fails, so a half-written file never carries the target's name."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    # named, not created: whoever writes it creates it with the user's usual permissions
    temporary = target.parent / f".{target.name}.{secrets.token_hex(4)}.partial"
    try:
        yield temporary
        os.replace(temporary, target)
    except OSError as exc:
        if is_disk_full(exc):
            raise disk_full(target.parent) from exc
        raise
    finally:
        temporary.unlink(missing_ok=True)


@contextmanager
def scratch_folder(beside: Path) -> Iterator[Path]:
    """A temporary folder next to `beside` (same disk, so renames out of it are cheap), removed after."""
    beside = Path(beside)
    beside.parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f".{beside.name}.", suffix=".work", dir=beside.parent))
    try:
        yield folder
    except OSError as exc:
        if is_disk_full(exc):
            raise disk_full(beside.parent) from exc
        raise
    finally:
        shutil.rmtree(folder, ignore_errors=True)
