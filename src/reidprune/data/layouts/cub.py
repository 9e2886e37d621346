"""CUB-200-2011: three id-keyed text files and an ``images/`` folder.

::

    root/images.txt                1 001.Black_footed_Albatross/Black_Footed_Albatross_0046_18.jpg
    root/image_class_labels.txt    1 1
    root/train_test_split.txt      1 0           (1 = train, 0 = test)
    root/classes.txt               1 001.Black_footed_Albatross   (optional: class names)
    root/images/<path>

pid = class id, camid = -1, splits ``train`` and ``test``; rows are sorted by image id.
"""
from __future__ import annotations

import os
from pathlib import Path

from reidprune.data.layouts.base import (
    LoadedDataset, dataset_root, inside_root, parse_id, read_lines,
)
from reidprune.data.table import make_table
from reidprune.errors import ReidPruneError

CUB_FILES = ("images.txt", "image_class_labels.txt", "train_test_split.txt")
VALUE_KINDS = {"int": "non-negative integer", "path": "relative path", "text": "text"}


def load_cub(root: str | os.PathLike) -> LoadedDataset:
    """Read a CUB-200-2011 folder.

    Parameters
    ----------
    root:
        Folder holding ``images.txt``, ``image_class_labels.txt``, ``train_test_split.txt``
        and ``images/`` (``classes.txt`` is optional and gives ``names``).

    Returns
    -------
    LoadedDataset
        Rows in image id order.

    Raises
    ------
    ReidPruneError
        Naming the file and line for an unreadable or duplicated line, an image id that is
        missing from one of the files, or an image that does not exist.
    """
    root = dataset_root(root)
    missing = [name for name in CUB_FILES if not (root / name).is_file()]
    if missing:
        raise ReidPruneError(f"{root} has no {missing[0]}; the cub200 layout expects "
                             f"{', '.join(CUB_FILES)} and images/")
    image_paths = read_id_file(root / "images.txt", kind="path")
    classes = read_id_file(root / "image_class_labels.txt")
    is_train = read_id_file(root / "train_test_split.txt")
    check_same_ids(root, image_paths, classes, is_train)
    rows = []
    for image_id in sorted(image_paths):
        rel, where = image_paths[image_id]
        flag, flag_where = is_train[image_id]
        if flag not in (0, 1):
            raise ReidPruneError(f"{flag_where}: is_train must be 0 or 1, got {flag}")
        path = root / "images" / rel
        if not path.is_file():
            raise ReidPruneError(f"{where}: image {path} does not exist; restore it or remove "
                                 f"image id {image_id} from the three files")
        rows.append((str(path), classes[image_id][0], "train" if flag else "test"))
    table = make_table(root, "cub200", [r[0] for r in rows], [r[1] for r in rows],
                       [-1] * len(rows), [r[2] for r in rows])
    names = read_class_names(root / "classes.txt") if (root / "classes.txt").is_file() else {}
    return LoadedDataset(table, names=names)


def read_id_file(path: Path, kind: str = "int") -> dict[int, tuple]:
    """``{id: (value, "file:line")}`` from a CUB ``id value`` file.

    Parameters
    ----------
    path:
        The text file.
    kind:
        ``"int"``: the value is a non-negative integer; ``"path"``: a relative image path
        (may contain spaces) that must stay inside the dataset folder; ``"text"``: any text.
    """
    entries: dict[int, tuple] = {}
    for number, line in enumerate(read_lines(path), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        parts = line.strip().split(None, 1)
        key = parse_id(parts[0])
        value = None if len(parts) < 2 else (
            parse_id(parts[1].strip()) if kind == "int" else parts[1].strip())
        if key is None or value is None:
            raise ReidPruneError(f"{where}: expected '<id> <{VALUE_KINDS[kind]}>', got "
                                 f"{line.strip()!r}; fix the line")
        if key in entries:
            raise ReidPruneError(f"{where}: image id {key} appears twice (first at "
                                 f"{entries[key][1]}); remove the duplicate line")
        if kind == "path":
            value = inside_root(value, where)
        entries[key] = (value, where)
    return entries


def check_same_ids(root: Path, images: dict, classes: dict, is_train: dict) -> None:
    """Every image id must appear in all three files."""
    for name, other in (("image_class_labels.txt", classes), ("train_test_split.txt", is_train)):
        absent = sorted(set(images) - set(other))
        if absent:
            raise ReidPruneError(f"{root / name}: image id {absent[0]} from images.txt is missing "
                                 f"({len(absent)} id(s) in all); add it")
        extra = sorted(set(other) - set(images))
        if extra:
            raise ReidPruneError(f"{other[extra[0]][1]}: image id {extra[0]} is not in "
                                 "images.txt; remove the line")


def read_class_names(path: Path) -> dict[int, str]:
    """Class id -> name from ``classes.txt`` (``1 001.Black_footed_Albatross``)."""
    names = read_id_file(path, kind="text")
    return {class_id: value for class_id, (value, _) in names.items()}
