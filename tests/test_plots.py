"""The figures: each writes a real PNG, bad inputs are refused, and nothing touches pyplot."""
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.colors import to_rgb
from matplotlib.image import imread

import bgpoison as bg
from bgpoison.experiments import plots

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path):
    """(width, height) of a PNG, after checking its signature and that it holds pixels."""
    data = Path(path).read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    assert data[12:16] == b"IHDR"                       # the first chunk gives the size
    width, height = struct.unpack(">II", data[16:24])
    assert width > 100 and height > 100 and len(data) > 2000
    return width, height


def curves(F=4):
    x = np.linspace(0, 0.2, F)
    return {"back-gradient": dict(fractions=x, mean=0.1 + x, std=np.full(F, 0.02)),
            "random flips": dict(fractions=x, mean=0.1 + x / 4, std=np.full(F, 0.01))}


def test_error_curves_writes_a_png_and_returns_its_path(tmp_path):
    path = tmp_path / "sub" / "curves.png"                 # missing folders are created
    assert plots.error_curves(path, curves(), title="t") == path
    png_size(path)


@pytest.mark.parametrize("key", ["mean", "std"])
def test_error_curves_rejects_arrays_of_different_lengths(tmp_path, key):
    bad = curves()
    bad["random flips"][key] = bad["random flips"][key][:-1]
    with pytest.raises(ValueError, match="'random flips'.*one length"):
        plots.error_curves(tmp_path / "c.png", bad)


def test_error_curves_rejects_no_curves_and_missing_keys(tmp_path):
    with pytest.raises(ValueError, match="at least one label"):
        plots.error_curves(tmp_path / "c.png", {})
    with pytest.raises(ValueError, match="'a' must have keys fractions, mean and std"):
        plots.error_curves(tmp_path / "c.png", {"a": dict(fractions=[0.1], mean=[0.2])})


def test_poisoning_images_writes_one_column_per_point_up_to_max_points(tmp_path):
    rng = np.random.default_rng(0)
    X0, X1 = rng.random((12, 64)), rng.random((12, 64))
    labels = dict(labels_before=np.full(12, 8), labels_after=np.full(12, 3))
    wide = png_size(plots.poisoning_images(tmp_path / "a.png", X0, X1, (8, 8), **labels))
    narrow = png_size(plots.poisoning_images(tmp_path / "b.png", X0, X1, (8, 8), max_points=3))
    assert narrow[0] < wide[0] and narrow[1] == wide[1]   # 3 columns instead of 10, same rows


def test_poisoning_images_rejects_mismatched_points_and_image_shape(tmp_path):
    X = np.zeros((3, 64))
    with pytest.raises(ValueError, match="one shape"):
        plots.poisoning_images(tmp_path / "a.png", X, X[:2], (8, 8))
    with pytest.raises(ValueError, match=r"image_shape \(7, 7\) does not hold the 64"):
        plots.poisoning_images(tmp_path / "a.png", X, X, (7, 7))
    with pytest.raises(ValueError, match="max_points must be at least 1"):
        plots.poisoning_images(tmp_path / "a.png", X, X, (8, 8), max_points=0)


def _binary_problem():
    X_tr = np.array([[0.0, 0.0], [0.05, 0.0], [1.0, 1.0], [0.95, 1.0]])   # corners only
    return bg.LogisticRegression(2), X_tr, np.array([0, 0, 1, 1])


def test_decision_boundary_colours_each_panel_by_its_own_weights(tmp_path):
    model, X_tr, y_tr = _binary_problem()
    w_class0, w_class1 = np.array([0.0, 0.0, -1.0]), np.array([0.0, 0.0, 1.0])   # constant
    X_c, y_c = np.array([[0.0, 1.0]]), np.array([1])
    paths = np.array([[[0.5, 0.9]], [[0.2, 1.0]], [[0.0, 1.0]]])               # (3, 1, 2)
    path = plots.decision_boundary(tmp_path / "db.png", model, w_class0, w_class1, X_tr, y_tr,
                                   X_c, y_c, paths=paths)
    width, height = png_size(path)
    image = imread(path)[..., :3]                                            # (h, w, 3) in [0, 1]
    pale = lambda c: 0.65 + 0.35 * np.array(to_rgb(c))                       # plots' region tint
    # panel centres (clear of points and lines): about 30% and 78% across, half-way down
    np.testing.assert_allclose(image[height // 2, int(0.30 * width)], pale("C0"), atol=0.02)
    np.testing.assert_allclose(image[height // 2, int(0.78 * width)], pale("C1"), atol=0.02)


def test_decision_boundary_draws_multiclass_regions(tmp_path):
    rng = np.random.default_rng(0)
    model = bg.SoftmaxRegression(2, 3, l2=0.01)
    X, y = rng.random((30, 2)), np.arange(30) % 3
    w = bg.GradientDescent(1.0, 50).run(model, model.init_params(rng), X, y)
    png_size(plots.decision_boundary(tmp_path / "db.png", model, w, -w, X, y, X[:2], y[:2],
                                     lb=[0.0, -1.0], ub=[1.0, 2.0]))


def test_decision_boundary_rejects_data_that_is_not_2d(tmp_path):
    model, X_tr, y_tr = _binary_problem()
    w = np.zeros(3)
    with pytest.raises(ValueError, match=r"2-D data only: X_tr must have shape \(n, 2\)"):
        plots.decision_boundary(tmp_path / "a.png", bg.LogisticRegression(3), np.zeros(4),
                                np.zeros(4), np.zeros((4, 3)), y_tr, np.zeros((1, 3)), [0])
    with pytest.raises(ValueError, match=r"X_c must have shape \(n, 2\)"):
        plots.decision_boundary(tmp_path / "a.png", model, w, w, X_tr, y_tr, np.zeros(2), [0])
    with pytest.raises(ValueError, match=r"paths must have shape \(steps, 1, 2\)"):
        plots.decision_boundary(tmp_path / "a.png", model, w, w, X_tr, y_tr, np.zeros((1, 2)),
                                [0], paths=np.zeros((5, 2)))


def test_core_package_never_imports_matplotlib_and_plots_never_use_pyplot(tmp_path):
    script = (
        "import sys, bgpoison, bgpoison.datasets, bgpoison.evaluation\n"
        "assert 'matplotlib' not in sys.modules, 'a core module imported matplotlib'\n"
        "from bgpoison.experiments import plots\n"
        "plots.error_curves(sys.argv[1], {'a': dict(fractions=[0, 1], mean=[0, 1], std=[0, 0])})\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'plots imported pyplot'\n")
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "c.png")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    png_size(tmp_path / "c.png")
