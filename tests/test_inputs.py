"""Bad or unusual inputs to the API: one clear ValueError, or accepted when harmless."""
import os

import numpy as np
import pytest

import bgpoison as bg
from bgpoison import datasets, gradcheck
from bgpoison.experiments.experiment import Settings, check_sizes


def _data():
    rng = np.random.default_rng(0)
    X = rng.random((30, 2))
    return X, (X[:, 0] > 0.5).astype(np.int64)


def test_a_csv_with_a_byte_order_mark_and_quoted_numbers_is_read(tmp_path):
    path = tmp_path / "quoted.csv"
    path.write_bytes(b'\xef\xbb\xbf"a","b","label"\r\n"1.5","2",0\r\n3,"4e0","1"\r\n')
    data = datasets.csv(path)
    np.testing.assert_array_equal(data.X, [[1.5, 2.0], [3.0, 4.0]])
    assert data.y.tolist() == [0, 1]


def test_undecodable_bytes_name_the_file_and_line(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"1,2,0\n3,\xe94,1\n")
    with pytest.raises(ValueError, match=r"latin1.csv, line 2: not UTF-8 text \(byte 0xE9"):
        datasets.csv(path)


def test_a_fifo_or_a_device_is_refused_before_opening(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="fifo is not a regular file"):
        datasets.csv(fifo)                                   # would block forever
    with pytest.raises(ValueError, match="/dev/zero is not a regular file"):
        datasets.csv("/dev/zero")                            # would never end
    with pytest.raises(ValueError, match="is not a folder"):
        datasets.mnist(fifo)


def test_an_idx_file_with_zero_images_is_named(tmp_path):
    (tmp_path / "train-images-idx3-ubyte").write_bytes(
        bytes.fromhex("00000803") + bytes(4) + (28).to_bytes(4, "big") * 2)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(bytes.fromhex("00000801") + bytes(4))
    with pytest.raises(ValueError, match="train-images-idx3-ubyte holds 0 images"):
        datasets.mnist(tmp_path)


def test_evaluate_with_targets_equal_to_the_truth_gives_nan_not_an_unrelated_error():
    X, y = _data()
    ev = bg.evaluate(bg.LogisticRegression(2), bg.GradientDescent(0.5, 10), X, y, X, y, rng=0,
                     y_target=y)
    assert np.isnan(ev.target_rate) and 0 <= ev.test_error <= 1
    with pytest.raises(ValueError, match=r"y_target must have shape \(30,\)"):
        bg.evaluate(bg.LogisticRegression(2), bg.GradientDescent(0.5, 10), X, y, X, y, rng=0,
                    y_target=y[:3])


@pytest.mark.parametrize("rng", ["abc", 0.5, None, True])
def test_rng_must_be_a_generator_or_an_int(rng):
    X, y = _data()
    attack = bg.PoisoningAttack(bg.LogisticRegression(2), bg.GradientDescent(0.5, 5),
                                bg.ErrorGeneric(X, y), 2)
    with pytest.raises(ValueError, match="rng must be a numpy.random.Generator or an int"):
        attack.run(X, y, rng=rng)


def test_init_params_takes_an_int_seed():
    model = bg.MLP(2, 3, 2)
    np.testing.assert_array_equal(model.init_params(3),
                                  model.init_params(np.random.default_rng(3)))
    with pytest.raises(ValueError, match="rng must be"):
        model.init_params("3")


@pytest.mark.parametrize("option, value", [("eps", 0), ("eps", -1e-6), ("eps", np.nan),
                                           ("rtol", -1), ("atol", np.inf)])
def test_the_checker_refuses_a_step_or_tolerance_that_cannot_work(option, value):
    with pytest.raises(ValueError, match=f"{option} must be a finite number"):
        gradcheck.check_gradient(np.sum, np.ones_like, np.zeros(3),
                                 rng=np.random.default_rng(0), **{option: value})


def test_complex_or_non_numeric_input_is_refused():
    X, y = _data()
    model = bg.LogisticRegression(2)
    with pytest.raises(ValueError, match="X must hold real numbers"):
        model.loss(np.zeros(3), X + 1j, y)
    with pytest.raises(ValueError, match="y must hold integer labels; got complex"):
        model.loss(np.zeros(3), X, y + 0j)
    with pytest.raises(ValueError, match="X must hold numbers"):
        model.loss(np.zeros(3), [["a", "b"]], [0])


@pytest.mark.parametrize("fields, message", [
    (dict(victim_lr=0.0), "victim-lr must be a finite number > 0"),
    (dict(victim_steps=0), "victim-steps must be an integer >= 1"),
    (dict(passes=0), "passes must be an integer >= 1"),
    (dict(lr=float("nan")), "lr must be a finite number > 0"),
    (dict(objective="specific", class_map=((8, 8),)), "changes no class"),
])
def test_settings_reject_zero_and_other_bad_values(fields, message):
    with pytest.raises(ValueError, match=message):
        Settings(**fields)


def test_every_case_size_is_checked_before_any_runs():
    with pytest.raises(ValueError, match="fraction 0.6 needs 150 poisoning points.*n_train is 100"):
        check_sizes(Settings(n_train=100), [0.0, 0.6])
    with pytest.raises(ValueError, match="2300 rows are needed but digits holds 1797"):
        check_sizes(Settings(n_train=2000), [0.0])


def test_data_with_a_single_class_are_refused_by_name(tmp_path):
    path = tmp_path / "one.csv"
    path.write_text("".join(f"{i / 10},{i % 3},7\n" for i in range(10)))
    with pytest.raises(ValueError, match="one holds a single class \\(7\\)"):
        check_sizes(Settings(dataset="csv", data_path=str(path), n_train=3, n_val=3), [0.0])
