"""The shared input checks: hand-computed values and the messages users see."""
import numpy as np
import pytest

from reidprune.errors import ReidPruneError
from reidprune.validation.arrays import as_bool_mask, as_labels, as_logits, as_probabilities, check_int, check_number, softmax
from reidprune.validation.paths import check_output_folder, relative_path


def test_softmax_of_hand_computed_rows():
    probs = softmax(np.array([[0.0, np.log(3.0)], [1000.0, 1000.0]]))
    np.testing.assert_allclose(probs, [[0.25, 0.75], [0.5, 0.5]])  # no overflow at 1000


@pytest.mark.parametrize("value, kwargs, message", [
    (-1, {"minimum": 0}, "seed must be a non-negative integer, got -1"),
    (0, {"minimum": 1}, "seed must be a positive integer, got 0"),
    (True, {}, "seed must be an integer, got True"),
    (2.0, {"minimum": 0, "maximum": 5}, r"seed must be an integer in \[0, 5\], got 2.0"),
    (1, {"minimum": 2}, "seed must be an integer >= 2, got 1"),
])
def test_check_int_refuses(value, kwargs, message):
    with pytest.raises(ReidPruneError, match=message):
        check_int(value, "seed", **kwargs)


def test_check_int_and_number_accept_numpy_scalars():
    assert check_int(np.int64(3), "k", 2, 3) == 3 and type(check_int(np.int64(3), "k")) is int
    assert check_number(np.float32(0.5), "f", 0.0, 1.0, max_open=True) == 0.5
    for bad in (1.0, float("nan"), "0.5", False):
        with pytest.raises(ReidPruneError, match=r"f must be a number in \[0, 1\), got"):
            check_number(bad, "f", 0.0, 1.0, max_open=True)


def test_labels_logits_probabilities():
    np.testing.assert_array_equal(as_labels(np.array([2, 0], np.int32), 2, 3), [2, 0])
    with pytest.raises(ReidPruneError, match=r"labels must lie in 0..2 \(training labels\), got 0..3"):
        as_labels([0, 3], 2, 3)
    with pytest.raises(ReidPruneError, match="1-D array of 3 entries"):
        as_labels([0, 1], 3)
    logits, labels = as_logits([[1.0, 2.0]], [1])
    assert logits.dtype == np.float64 and labels.tolist() == [1]
    with pytest.raises(ReidPruneError, match="at least 2 class columns"):
        as_logits([[1.0]])
    with pytest.raises(ReidPruneError, match="row 1 sums to 1.5"):
        as_probabilities([[0.5, 0.5], [1.0, 0.5]])
    with pytest.raises(ReidPruneError, match="mask must be a 1-D bool mask of 2 entries"):
        as_bool_mask([0, 1], 2)


@pytest.mark.parametrize("rel, message", [
    ("", "empty or invalid path"), ("/etc/passwd", "is absolute"), ("C:\\x.jpg", "is absolute"),
    ("a/../../x.jpg", "contains '..'"), ("a\\..\\x.jpg", "contains '..'"),
])
def test_relative_path_refuses(rel, message):
    with pytest.raises(ReidPruneError, match=message):
        relative_path(rel, "list.txt:3")


def test_relative_path_and_output_folder(tmp_path):
    assert relative_path("a/./b//c.jpg", "x") == "a/b/c.jpg"
    assert check_output_folder(tmp_path / "new", overwrite=False) == (tmp_path / "new").resolve()
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "f").write_text("x")
    with pytest.raises(ReidPruneError, match="is not empty; choose a new folder or pass --overwrite"):
        check_output_folder(tmp_path / "full", overwrite=False, how="pass --overwrite")
    assert check_output_folder(tmp_path / "full", overwrite=True).name == "full"
    with pytest.raises(ReidPruneError, match="is not a folder"):
        check_output_folder(tmp_path / "full" / "f", overwrite=True)


def test_check_outside_refuses_the_dataset_its_parents_and_its_subfolders(tmp_path):
    from reidprune.validation.paths import check_outside

    data = tmp_path / "data"
    (data / "train").mkdir(parents=True)
    assert check_outside(tmp_path / "copy", data, "output") == (tmp_path / "copy").resolve()
    for target in (data, data / "train", tmp_path):
        with pytest.raises(ReidPruneError, match=f"^--materialize x overlaps the dataset {data.resolve()}; "):
            check_outside(target, data, "--materialize x")


def test_check_output_folder_names_the_option_and_offers_no_overwrite(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "f").write_text("x")
    with pytest.raises(ReidPruneError, match=r"^--materialize full is not empty; choose a new folder$"):
        check_output_folder(tmp_path / "full", overwrite=False, how=None, name="--materialize full")
