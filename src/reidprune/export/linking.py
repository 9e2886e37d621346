"""How one file of an exported copy is placed: hard link, copy or symlink."""
from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

from reidprune.errors import ReidPruneError

LINK_MODES = ("hardlink", "copy", "symlink")

# Hard links are impossible across filesystems (EXDEV), on filesystems without them
# (EOPNOTSUPP), past the link limit (EMLINK), and for files of other users under
# fs.protected_hardlinks (EPERM): copy instead and count it.
_NO_HARDLINK = {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.EOPNOTSUPP,
                getattr(errno, "ENOTSUP", errno.EOPNOTSUPP)}


def check_link(link: str) -> str:
    """``link`` if it is one of :data:`LINK_MODES`, else a :class:`ReidPruneError`."""
    if link not in LINK_MODES:
        raise ReidPruneError(f"unknown link mode {link!r}; choose one of {', '.join(LINK_MODES)}")
    return link


def place(source: Path, target: Path, mode: str) -> bool:
    """Link or copy ``source`` to ``target``; True when a hard link had to become a copy.

    Parameters
    ----------
    source:
        The existing file.
    target:
        Where it goes (its folder exists).
    mode:
        ``"hardlink"`` (a copy where a hard link is impossible), ``"copy"`` or ``"symlink"``
        (absolute target).
    """
    if mode == "copy":
        shutil.copy2(source, target)
        return False
    if mode == "symlink":
        os.symlink(os.path.abspath(source), target)
        return False
    try:
        os.link(source, target)
        return False
    except OSError as exc:
        if exc.errno not in _NO_HARDLINK:
            raise
    shutil.copy2(source, target)
    return True
