"""Dataset layout parsers on fixtures written in each real format, plus the real cuhk03 folder."""
from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from reidprune.data.layouts import (
    LAYOUTS, SkippedFilesWarning, detect_layout, load_dataset, read_dataset,
)
from reidprune.errors import ReidPruneError



def write_image(path: Path, value: int = 0) -> Path:
    """A tiny 8 x 4 (H x W) image in the format the suffix names."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.full((8, 4, 3), value, dtype=np.uint8)
    Image.fromarray(pixels).save(path, format={".png": "PNG", ".bmp": "BMP"}.get(
        path.suffix.lower(), "JPEG"))
    return path


def rows(table, root: Path) -> list[tuple[str, int, int, str, int]]:
    """(relative path, pid, camid, split, label) of every row, for exact comparisons."""
    rel = [str(Path(p).relative_to(root.resolve())).replace("\\", "/") for p in table.path]
    return list(zip(rel, table.pid.tolist(), table.camid.tolist(), table.split.tolist(),
                    table.label.tolist()))


# ---------------------------------------------------------------- Market-1501 style


def make_market(root: Path) -> Path:
    for name in ["0002_c1s1_000451_03.jpg", "0002_c2s1_000301_01.jpg", "0007_c3s3_000001_00.jpg",
                 "0010_c6s4_002452_02.PNG"]:
        write_image(root / "bounding_box_train" / name)
    for name in ["0002_c3s1_000551_00.jpg", "0007_c1s1_000001_00.jpeg"]:
        write_image(root / "query" / name)
    for name in ["0002_c4s1_000001_00.jpg", "-1_c1s1_000401_03.jpg", "0000_c5s1_000001_00.bmp",
                 "0099_c1s1_000001_00.jpg", "0007_c2s2_000001_00.jpg"]:
        write_image(root / "bounding_box_test" / name)
    # Not images, hidden, or in a sub-folder: all ignored (sub-folder images are counted).
    (root / "bounding_box_train" / "Thumbs.db").write_bytes(b"x")
    (root / "bounding_box_train" / "readme.txt").write_text("not an image")
    write_image(root / "bounding_box_train" / ".0003_c1s1_000001_00.jpg")
    write_image(root / "bounding_box_train" / "extra" / "0004_c1s1_000001_00.jpg")
    return root


MARKET_ROWS = [
    ("bounding_box_test/0000_c5s1_000001_00.bmp", 0, 5, "gallery", -1),
    ("bounding_box_test/0002_c4s1_000001_00.jpg", 2, 4, "gallery", 0),
    ("bounding_box_test/0007_c2s2_000001_00.jpg", 7, 2, "gallery", 1),
    ("bounding_box_test/0099_c1s1_000001_00.jpg", 99, 1, "gallery", -1),
    ("bounding_box_train/0002_c1s1_000451_03.jpg", 2, 1, "train", 0),
    ("bounding_box_train/0002_c2s1_000301_01.jpg", 2, 2, "train", 0),
    ("bounding_box_train/0007_c3s3_000001_00.jpg", 7, 3, "train", 1),
    ("bounding_box_train/0010_c6s4_002452_02.PNG", 10, 6, "train", 2),
    ("query/0002_c3s1_000551_00.jpg", 2, 3, "query", 0),
    ("query/0007_c1s1_000001_00.jpeg", 7, 1, "query", 1),
]


def test_market_rows_exact(tmp_path):
    root = make_market(tmp_path / "market")
    loaded = read_dataset(root, "market1501")
    table = loaded.table
    assert rows(table, root) == MARKET_ROWS
    assert table.layout == "market1501"
    assert table.classes.tolist() == [2, 7, 10]
    assert loaded.skipped == {"junk": 1, "in_subfolder": 1}
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in table.path)


def test_market_auto_and_aliases_agree(tmp_path):
    root = make_market(tmp_path / "market")
    assert detect_layout(root) == "market1501"
    for name in ["auto", "market", "duke", "dukemtmc", "cuhk03", "cuhk03-np", "Market1501"]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SkippedFilesWarning)
            table = load_dataset(root, name)
        assert table.layout == "market1501"
        assert rows(table, root) == MARKET_ROWS


def test_market_junk_reported_as_warning_with_count(tmp_path):
    root = make_market(tmp_path / "market")
    write_image(root / "bounding_box_test" / "-1_c2s1_000402_03.jpg")
    with pytest.warns(SkippedFilesWarning, match=r"skipped 2 junk image\(s\) \(pid -1\)"):
        table = load_dataset(root)
    assert -1 not in table.pid.tolist()
    assert 0 in table.pid[table.split == "gallery"].tolist()  # distractors stay in the gallery


def test_market_images_in_subfolders_are_counted_and_warned(tmp_path):
    root = make_market(tmp_path / "market")
    write_image(root / "query" / "deep" / "deeper" / "0002_c1s1_000009_00.jpg")
    (root / "query" / "deep" / "notes.txt").write_text("not an image")
    assert read_dataset(root).skipped["in_subfolder"] == 2
    with pytest.warns(SkippedFilesWarning, match=r"skipped 2 image\(s\) in sub-folders"):
        load_dataset(root)


def test_market_bad_name_raises_naming_file(tmp_path):
    root = make_market(tmp_path / "market")
    write_image(root / "query" / "holiday.jpg")
    with pytest.raises(ReidPruneError, match=r"query/holiday\.jpg: file name does not match"):
        load_dataset(root)


def test_market_bad_name_skip_counts(tmp_path):
    root = make_market(tmp_path / "market")
    for name in ["holiday.jpg", "-_c1.jpg", "-5_c1s1_000001_00.jpg", "9" * 25 + "_c1.jpg"]:
        write_image(root / "query" / name)
    loaded = read_dataset(root, on_bad_name="skip")
    assert loaded.skipped == {"junk": 1, "bad_name": 4, "in_subfolder": 1}
    assert rows(loaded.table, root) == MARKET_ROWS
    with pytest.raises(ReidPruneError, match="on_bad_name must be one of"):
        read_dataset(root, on_bad_name="ignore")


def test_market_custom_pattern(tmp_path):
    root = tmp_path / "custom"
    write_image(root / "bounding_box_train" / "cam3-id12.jpg")
    write_image(root / "bounding_box_train" / "cam1-id5.jpg")
    # The pattern's group 1 is the identity, group 2 the camera, whatever their order in the name.
    table = read_dataset(root, "market", pattern=r"(?=.*id(\d+))cam(\d+)").table
    assert rows(table, root) == [("bounding_box_train/cam1-id5.jpg", 5, 1, "train", 0),
                                 ("bounding_box_train/cam3-id12.jpg", 12, 3, "train", 1)]
    with pytest.raises(ReidPruneError, match="needs two groups"):
        read_dataset(root, "market", pattern=r"(\d+)")
    with pytest.raises(ReidPruneError, match="not a valid regular expression"):
        read_dataset(root, "market", pattern=r"(\d+")


def test_market_without_training_images_is_an_error(tmp_path):
    root = tmp_path / "empty"
    (root / "bounding_box_train").mkdir(parents=True)
    write_image(root / "query" / "0001_c1s1_000001_00.jpg")
    with pytest.raises(ReidPruneError, match="no training images"):
        load_dataset(root)


def test_market_only_junk_in_train_is_an_error(tmp_path):
    root = tmp_path / "junk"
    write_image(root / "bounding_box_train" / "-1_c1s1_000001_00.jpg")
    with pytest.raises(ReidPruneError, match="no training images"):
        load_dataset(root, "market1501")


def test_market_named_but_missing_train_folder(tmp_path):
    write_image(tmp_path / "query" / "0001_c1s1_000001_00.jpg")
    with pytest.raises(ReidPruneError, match="has no bounding_box_train folder"):
        load_dataset(tmp_path, "market1501")


def test_real_cuhk03_listing(cuhk03):
    loaded = read_dataset(cuhk03)  # lists and parses names only; no image is decoded
    table = loaded.table
    assert table.layout == "market1501"
    assert loaded.skipped == {}
    counts = {split: len(table.rows(split)) for split in ("train", "query", "gallery", "test")}
    assert counts == {"train": 7239, "query": 200, "gallery": 738, "test": 0}
    train = table.split == "train"
    assert table.num_classes == 743
    assert table.classes.tolist() == list(range(1, 744))
    assert np.array_equal(table.label[train], table.pid[train] - 1)
    assert set(table.pid[~train].tolist()) == set(range(1001, 1101))
    assert (table.label[~train] == -1).all()
    assert set(table.camid.tolist()) == {1, 2}
    relative = table.relative_paths()
    assert relative.tolist() == sorted(relative.tolist())
    assert relative[0] == "bounding_box_test/1001_c1_001.jpg"


# ---------------------------------------------------------------- MSMT17


def make_msmt(root: Path) -> Path:
    train = ["0000/0000_000_01_0303morning_0015_0.jpg 0",
             "0000/0000_011_05_0303morning_0016_0.jpg 0",
             "0001/0001_000_15_0303noon_0010_1.jpg 1"]
    val = ["0002/0002_003_07_0303afternoon_0020_0.jpg 2"]
    query = ["0000/0000_000_02_0303morning_0036_0.jpg 0"]
    gallery = ["0000/0000_001_03_0303morning_0040_0.jpg 0",
               "test/0005/0005_002_11_0303noon_0001_0.jpg 5"]  # already relative to root
    for lines, folder in ((train, "train"), (val, "train"), (query, "test"), (gallery, "test")):
        for line in lines:
            rel = line.split()[0]
            write_image(root / (rel if rel.startswith("test/") else f"{folder}/{rel}"))
    (root / "list_train.txt").write_text("\n".join(train) + "\n\n")  # blank lines are fine
    (root / "list_val.txt").write_text("\n".join(val) + "\n")
    (root / "list_query.txt").write_text("\r\n".join(query) + "\r\n")  # Windows line endings
    (root / "list_gallery.txt").write_text("\n".join(gallery))
    return root


def test_msmt17_rows_exact(tmp_path):
    root = make_msmt(tmp_path / "msmt")
    assert detect_layout(root) == "msmt17"
    table = load_dataset(root)
    assert table.layout == "msmt17"
    assert rows(table, root) == [
        ("train/0000/0000_000_01_0303morning_0015_0.jpg", 0, 1, "train", 0),
        ("train/0000/0000_011_05_0303morning_0016_0.jpg", 0, 5, "train", 0),
        ("train/0001/0001_000_15_0303noon_0010_1.jpg", 1, 15, "train", 1),
        ("test/0000/0000_000_02_0303morning_0036_0.jpg", 0, 2, "query", 0),
        ("test/0000/0000_001_03_0303morning_0040_0.jpg", 0, 3, "gallery", 0),
        ("test/0005/0005_002_11_0303noon_0001_0.jpg", 5, 11, "gallery", -1),
    ]


def test_msmt17_include_val(tmp_path):
    root = make_msmt(tmp_path / "msmt")
    table = load_dataset(root, include_val=True)
    train = table.split == "train"
    assert table.pid[train].tolist() == [0, 0, 1, 2]
    assert table.camid[train].tolist() == [1, 5, 15, 7]
    assert table.classes.tolist() == [0, 1, 2]
    (root / "list_val.txt").unlink()
    with pytest.raises(ReidPruneError, match="include_val=True but .*list_val.txt does not exist"):
        load_dataset(root, include_val=True)
    with pytest.raises(ReidPruneError, match="include_val must be True or False"):
        load_dataset(root, include_val="yes")


def test_msmt17_duplicate_line(tmp_path):
    root = make_msmt(tmp_path / "msmt")
    with open(root / "list_train.txt", "a") as handle:
        handle.write("0001/0001_000_15_0303noon_0010_1.jpg 1\n")
    with pytest.raises(ReidPruneError, match=r"list_train\.txt:5: image .* is listed twice "
                                             r"\(first at .*list_train\.txt:3\)"):
        load_dataset(root)


def test_msmt17_duplicate_across_lists(tmp_path):
    root = make_msmt(tmp_path / "msmt")
    (root / "list_query.txt").write_text("0000/0000_001_03_0303morning_0040_0.jpg 0\n")
    with pytest.raises(ReidPruneError, match=r"list_gallery\.txt:1: .*listed twice .*list_query"):
        load_dataset(root)


@pytest.mark.parametrize("line, message", [
    ("0000/0000_000_01_0303morning_0015_0.jpg", "expected 'relative/path pid'"),
    ("0000/0000_000_01_0303morning_0015_0.jpg zero", "expected 'relative/path pid'"),
    ("0000/0000_000_01_0303morning_0015_0.jpg -3", "expected 'relative/path pid'"),
    ("0000/0000_000_0303morning.jpg 0", "cannot read the camera"),
    ("0000/0000_000_xx_0303morning_0015_0.jpg 0", "cannot read the camera"),
    ("0000/0000_000_01_0303morning_9999_0.jpg 0", "not found under"),
    ("/etc/0000_000_01_passwd 0", "must be relative"),
    ("../0000/0000_000_01_0303morning_0015_0.jpg 0", "must be relative"),
])
def test_msmt17_bad_line_names_list_and_line(tmp_path, line, message):
    root = make_msmt(tmp_path / "msmt")
    (root / "list_train.txt").write_text("0000/0000_000_01_0303morning_0015_0.jpg 0\n" + line + "\n")
    with pytest.raises(ReidPruneError, match=rf"list_train\.txt:2: .*{message}"):
        load_dataset(root)


def test_msmt17_list_not_utf8(tmp_path):
    root = make_msmt(tmp_path / "msmt")
    (root / "list_query.txt").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(ReidPruneError, match="list_query.txt is not UTF-8"):
        load_dataset(root)


# ---------------------------------------------------------------- VeRi-776


def test_veri_rows_exact(tmp_path):
    root = tmp_path / "veri"
    for rel in ["image_train/0001_c001_00016450_0.jpg", "image_train/0001_c002_00016455_1.jpg",
                "image_train/0002_c003_00084800_0.jpg", "image_query/0002_c002_00030600_0.jpg",
                "image_test/0002_c005_00030610_1.jpg", "image_test/0003_c014_00040000_0.jpg"]:
        write_image(root / rel)
    assert detect_layout(root) == "veri776"
    table = load_dataset(root, "veri")
    assert table.layout == "veri776"
    assert rows(table, root) == [
        ("image_query/0002_c002_00030600_0.jpg", 2, 2, "query", 1),
        ("image_test/0002_c005_00030610_1.jpg", 2, 5, "gallery", 1),
        ("image_test/0003_c014_00040000_0.jpg", 3, 14, "gallery", -1),
        ("image_train/0001_c001_00016450_0.jpg", 1, 1, "train", 0),
        ("image_train/0001_c002_00016455_1.jpg", 1, 2, "train", 0),
        ("image_train/0002_c003_00084800_0.jpg", 2, 3, "train", 1),
    ]
    write_image(root / "image_test" / "car.jpg")
    with pytest.raises(ReidPruneError, match=r"image_test/car\.jpg: file name does not match"):
        load_dataset(root)
    assert read_dataset(root, on_bad_name="skip").skipped == {"bad_name": 1}


# ---------------------------------------------------------------- one folder per identity


def test_folders_named_identities(tmp_path):
    root = tmp_path / "pets"
    write_image(root / "bob" / "img_c2.jpg")
    write_image(root / "alice" / "img_c2.jpg")  # same file name under another identity
    write_image(root / "alice" / "b.png")
    write_image(root / "carol" / "cam7" / "x_c7_1.jpg")  # nested folders belong to the identity
    (root / "notes.txt").write_text("ignored")
    assert detect_layout(root) == "folders"
    loaded = read_dataset(root)
    assert rows(loaded.table, root) == [
        ("alice/b.png", 0, -1, "train", 0),
        ("alice/img_c2.jpg", 0, 2, "train", 0),
        ("bob/img_c2.jpg", 1, 2, "train", 1),
        ("carol/cam7/x_c7_1.jpg", 2, 7, "train", 2),
    ]
    assert loaded.names == {0: "alice", 1: "bob", 2: "carol"}


def test_folders_integer_identities_keep_their_number(tmp_path):
    root = tmp_path / "ints"
    write_image(root / "003" / "a_c1.jpg")
    write_image(root / "10" / "a_c1.jpg")
    loaded = read_dataset(root, "folders")
    assert rows(loaded.table, root) == [("003/a_c1.jpg", 3, 1, "train", 0),
                                        ("10/a_c1.jpg", 10, 1, "train", 1)]
    assert loaded.names == {3: "003", 10: "10"}
    write_image(root / "0010" / "b.jpg")
    with pytest.raises(ReidPruneError, match="'0010' and '10' both mean pid 10"):
        read_dataset(root, "folders")


def test_folders_with_splits(tmp_path):
    root = tmp_path / "split"
    write_image(root / "train" / "zed" / "1.jpg")
    write_image(root / "train" / "amy" / "1.jpg")
    write_image(root / "query" / "amy" / "2_c1.jpg")
    write_image(root / "gallery" / "amy" / "3_c2.jpg")
    write_image(root / "gallery" / "new" / "1_c2.jpg")
    loaded = read_dataset(root)
    assert rows(loaded.table, root) == [
        ("gallery/amy/3_c2.jpg", 0, 2, "gallery", 0),
        ("gallery/new/1_c2.jpg", 1, 2, "gallery", -1),
        ("query/amy/2_c1.jpg", 0, 1, "query", 0),
        ("train/amy/1.jpg", 0, -1, "train", 0),
        ("train/zed/1.jpg", 2, -1, "train", 1),
    ]
    assert loaded.names == {0: "amy", 1: "new", 2: "zed"}
    write_image(root / "test" / "amy" / "4.jpg")
    with pytest.raises(ReidPruneError, match=r"test: next to train/ only query/ and gallery/"):
        read_dataset(root)


def test_folders_stray_images_are_an_error(tmp_path):
    write_image(tmp_path / "alice" / "a.jpg")
    write_image(tmp_path / "loose.jpg")
    with pytest.raises(ReidPruneError, match=r"loose\.jpg: images must be inside identity folders"):
        read_dataset(tmp_path, "folders")


def test_folders_without_images_is_an_error(tmp_path):
    (tmp_path / "alice").mkdir()
    with pytest.raises(ReidPruneError, match="no training images"):
        load_dataset(tmp_path)


# ---------------------------------------------------------------- CIFAR-100


def cifar_batch(n: int, offset: int, labels: list[int], bytes_keys: bool) -> dict:
    data = ((np.arange(n * 3072) + offset) % 251).astype(np.uint8).reshape(n, 3072)
    batch = {"data": data, "fine_labels": labels, "coarse_labels": [0] * n,
             "filenames": [f"img{i}.png".encode() for i in range(n)], "batch_label": "b"}
    return {k.encode(): v for k, v in batch.items()} if bytes_keys else batch


def make_cifar(folder: Path, protocol: int = 2) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    # Python 2 wrote the real files with bytes keys; accept Python 3 str keys too.
    with open(folder / "train", "wb") as handle:
        pickle.dump(cifar_batch(3, 0, [5, 0, 5], bytes_keys=True), handle, protocol=protocol)
    with open(folder / "test", "wb") as handle:
        pickle.dump(cifar_batch(2, 7, [0, 9], bytes_keys=False), handle, protocol=protocol)
    names = [f"class{i}".encode() for i in range(100)]
    with open(folder / "meta", "wb") as handle:
        pickle.dump({b"fine_label_names": names, b"coarse_label_names": []}, handle,
                    protocol=protocol)
    return folder


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_cifar_rows_pixels_and_names(tmp_path, protocol):
    make_cifar(tmp_path / "cifar-100-python", protocol)
    assert detect_layout(tmp_path) == "cifar100"
    loaded = read_dataset(tmp_path)
    table = loaded.table
    assert table.layout == "cifar100"
    assert rows(table, tmp_path) == [
        ("cifar-100-python/train#00000", 5, -1, "train", 1),
        ("cifar-100-python/train#00001", 0, -1, "train", 0),
        ("cifar-100-python/train#00002", 5, -1, "train", 1),
        ("cifar-100-python/test#00000", 0, -1, "test", 0),
        ("cifar-100-python/test#00001", 9, -1, "test", -1),
    ]
    assert table.pixels.shape == (5, 32, 32, 3) and table.pixels.dtype == np.uint8
    # Channel-major rows: pixel (y, x) of channel c is data[c * 1024 + y * 32 + x].
    train_data = cifar_batch(3, 0, [5, 0, 5], False)["data"]
    test_data = cifar_batch(2, 7, [0, 9], False)["data"]
    for row, data in ((1, train_data[1]), (4, test_data[1])):
        for y, x, c in [(0, 0, 0), (3, 17, 1), (31, 31, 2), (10, 2, 2)]:
            assert table.pixels[row, y, x, c] == data[c * 1024 + y * 32 + x]
    assert loaded.names[5] == "class5" and len(loaded.names) == 100


def test_cifar_files_directly_in_root(tmp_path):
    make_cifar(tmp_path)
    table = load_dataset(tmp_path, "cifar")
    assert table.path[0] == str(tmp_path.resolve() / "train") + "#00000"
    assert len(table) == 5


def test_cifar_wrong_content(tmp_path):
    with open(tmp_path / "train", "wb") as handle:
        pickle.dump({b"data": np.zeros((2, 100), np.uint8), b"fine_labels": [0, 1]}, handle)
    with pytest.raises(ReidPruneError, match=r"train: 'data' must be an N x 3072 uint8 array"):
        load_dataset(tmp_path, "cifar100")
    with open(tmp_path / "train", "wb") as handle:
        pickle.dump({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1]}, handle)
    with pytest.raises(ReidPruneError, match="key 'fine_labels' is missing"):
        load_dataset(tmp_path, "cifar100")
    with open(tmp_path / "train", "wb") as handle:
        pickle.dump({b"data": np.zeros((2, 3072), np.uint8), b"fine_labels": [0]}, handle)
    with pytest.raises(ReidPruneError, match="'fine_labels' must hold 2 non-negative integers"):
        load_dataset(tmp_path, "cifar100")


# ---------------------------------------------------------------- CUB-200-2011


def make_cub(root: Path) -> Path:
    images = {1: "001.Black_footed_Albatross/Black_Footed_Albatross_0046_18.jpg",
              2: "001.Black_footed_Albatross/Black_Footed_Albatross_0009_34.jpg",
              3: "002.Laysan_Albatross/Laysan Albatross_0002_1027.jpg",  # space in the name
              4: "003.Sooty_Albatross/Sooty_Albatross_0031_1066.jpg"}
    for rel in images.values():
        write_image(root / "images" / rel)
    order = [3, 1, 4, 2]  # the files need not be sorted
    (root / "images.txt").write_text("".join(f"{i} {images[i]}\n" for i in order))
    (root / "image_class_labels.txt").write_text("1 1\n2 1\n3 2\n4 3\n")
    (root / "train_test_split.txt").write_text("1 1\n2 0\n3 1\n4 0\n")
    (root / "classes.txt").write_text("1 001.Black_footed_Albatross\n2 002.Laysan_Albatross\n"
                                      "3 003.Sooty_Albatross\n")
    return root


def test_cub_rows_exact(tmp_path):
    root = make_cub(tmp_path / "CUB_200_2011")
    assert detect_layout(root) == "cub200"
    loaded = read_dataset(root)
    assert loaded.table.layout == "cub200"
    assert rows(loaded.table, root) == [
        ("images/001.Black_footed_Albatross/Black_Footed_Albatross_0046_18.jpg", 1, -1, "train", 0),
        ("images/001.Black_footed_Albatross/Black_Footed_Albatross_0009_34.jpg", 1, -1, "test", 0),
        ("images/002.Laysan_Albatross/Laysan Albatross_0002_1027.jpg", 2, -1, "train", 1),
        ("images/003.Sooty_Albatross/Sooty_Albatross_0031_1066.jpg", 3, -1, "test", -1),
    ]
    assert loaded.names == {1: "001.Black_footed_Albatross", 2: "002.Laysan_Albatross",
                            3: "003.Sooty_Albatross"}


@pytest.mark.parametrize("file, content, message", [
    ("image_class_labels.txt", "1 1\n2 1\n3 2\n", r"image_class_labels\.txt: image id 4 .* is missing"),
    ("image_class_labels.txt", "1 1\n2 1\n3 2\n4 3\n5 3\n", r"image_class_labels\.txt:5: image id 5 is not in"),
    ("train_test_split.txt", "1 1\n2 0\n2 1\n3 1\n4 0\n", r"train_test_split\.txt:3: image id 2 appears twice"),
    ("train_test_split.txt", "1 1\n2 0\n3 2\n4 0\n", r"train_test_split\.txt:3: is_train must be 0 or 1"),
    ("image_class_labels.txt", "1 1\n2 one\n3 2\n4 3\n", r"image_class_labels\.txt:2: expected '<id>"),
    ("images.txt", "1 001.Black_footed_Albatross/missing.jpg\n", r"images\.txt:1: image .*missing\.jpg does not exist"),
])
def test_cub_bad_files(tmp_path, file, content, message):
    root = make_cub(tmp_path / "cub")
    if file == "images.txt":
        (root / "image_class_labels.txt").write_text("1 1\n")
        (root / "train_test_split.txt").write_text("1 1\n")
    (root / file).write_text(content)
    with pytest.raises(ReidPruneError, match=message):
        load_dataset(root)


# ---------------------------------------------------------------- registry and detection


def test_unknown_layout_lists_known_layouts(tmp_path):
    with pytest.raises(ReidPruneError) as info:
        load_dataset(tmp_path, "imagenet")
    message = str(info.value)
    assert "unknown layout 'imagenet'" in message and "\n" not in message
    for name in ["market1501", "msmt17", "veri776", "cifar100", "cub200", "folders",
                 "bounding_box_train", "list_train.txt", "image_train", "images.txt"]:
        assert name in message


def test_undetectable_folder_lists_known_layouts(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ReidPruneError, match=r"cannot tell the layout of .*market1501.*msmt17"):
        load_dataset(tmp_path)


def test_missing_root(tmp_path):
    with pytest.raises(ReidPruneError, match="does not exist or is not a folder"):
        load_dataset(tmp_path / "nope")


def test_unknown_option_for_layout(tmp_path):
    root = make_market(tmp_path / "m")
    with pytest.raises(ReidPruneError, match=r"layout market1501 has no option 'include_val' "
                                             r"\(options: pattern, on_bad_name\)"):
        read_dataset(root, include_val=True)


def test_registry_aliases_point_to_canonical_layouts():
    assert {layout.name for layout in LAYOUTS.values()} == {
        "market1501", "msmt17", "veri776", "cifar100", "cub200", "folders"}
    for alias in ["market1501", "market", "duke", "dukemtmc", "cuhk03", "cuhk03-np"]:
        assert LAYOUTS[alias].name == "market1501"
