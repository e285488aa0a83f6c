"""Defences remove planted outliers and keep the rest; projections land in box ∩ region;
adaptive attacks pass the defence they adapt to; bad input gets one clear ValueError."""
import numpy as np
import pytest
from hypothesis import given

import bgpoison as bg
from bgpoison import constraints, datasets, defences
from strategies import regions


def blobs_with_outliers(rng, n=97, n_out=3, offset=None):
    """Two tight classes in 2-D (centres (0.3, 0.3) and (0.7, 0.7), noise 0.03), and ``n_out``
    planted rows per class at ``offset`` from their own class centre. Returns X, y, outlier."""
    centres = np.array([[0.3, 0.3], [0.7, 0.7]])
    X = np.vstack([c + 0.03 * rng.standard_normal((n, 2)) for c in centres])
    y = np.repeat([0, 1], n)
    out = np.vstack([centres[k] + offset[k] for k in (0, 1) for _ in range(n_out)])
    out += 0.01 * rng.standard_normal(out.shape)
    return (np.vstack([X, out]), np.concatenate([y, np.repeat([0, 1], n_out)]),
            np.arange(2 * n + 2 * n_out) >= 2 * n)


# q = 0.97 over 100 rows per class puts r at 3 % of the way from the largest inlier distance
# to the smallest outlier distance (np.quantile interpolates at index 99 * 0.97 = 96.03): the
# three outliers are exactly the 3 % above it, so the radius separates them from every inlier.
Q = 0.97


def test_sphere_removes_far_rows_of_each_class_and_keeps_the_rest():
    offsets = [np.array([0.0, -0.25]), np.array([0.25, 0.0])]      # 8 noise sd from the centre
    X, y, outlier = blobs_with_outliers(np.random.default_rng(0), offset=offsets)
    keep = defences.Sphere(Q).fit(X, y).keep(X, y)
    np.testing.assert_array_equal(keep, ~outlier)


def test_slab_removes_rows_far_along_the_centroid_line_and_keeps_rows_beside_it():
    u = np.array([1.0, 1.0]) / np.sqrt(2)
    along = [-0.25 * u, 0.25 * u]                                   # beyond each class's end
    X, y, outlier = blobs_with_outliers(np.random.default_rng(1), offset=along)
    slab = defences.Slab(Q).fit(X, y)
    np.testing.assert_array_equal(slab.keep(X, y), ~outlier)
    # rows as far away but across the line (perpendicular to u) pass the slab, not the sphere
    across = np.array([[0.3, 0.3], [0.7, 0.7]]) + 0.25 * np.array([1.0, -1.0]) / np.sqrt(2)
    assert slab.keep(across, np.array([0, 1])).all()
    assert not defences.Sphere(Q).fit(X, y).keep(across, np.array([0, 1])).any()


def test_slab_with_three_classes_slabs_each_class_against_the_other_centroids():
    rng = np.random.default_rng(2)
    centres = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    X = np.vstack([c + 0.05 * rng.standard_normal((50, 2)) for c in centres])
    y = np.repeat([0, 1, 2], 50)
    slab = defences.Slab(0.9).fit(X, y)
    u0 = slab.fitted["directions"][0]                      # from the mean of mu_1 and mu_2 to mu_0
    mu = slab.fitted["centres"]
    expected = mu[0] - (mu[1] + mu[2]) / 2
    np.testing.assert_allclose(u0, expected / np.linalg.norm(expected), rtol=1e-12)
    kept = slab.keep(X, y)
    for k in range(3):                                     # q = 0.9 keeps 45 of each 50 rows
        assert kept[y == k].sum() == 45


def test_loss_filter_removes_the_flipped_rows_and_keeps_the_rest():
    offsets = [np.array([0.4, 0.4]), np.array([-0.4, -0.4])]       # deep inside the other class
    X, y, outlier = blobs_with_outliers(np.random.default_rng(3), offset=offsets)
    model, gd = bg.LogisticRegression(2, l2=0.01), bg.GradientDescent(2.0, 200)
    for iterations in (1, 3):
        loss = defences.LossFilter(model, gd, outlier.mean(), iterations=iterations).fit(X, y)
        np.testing.assert_array_equal(loss.keep(X, y), ~outlier)
        X_kept, y_kept, mask = loss.sanitise(X, y)
        np.testing.assert_array_equal(X_kept, X[~outlier])


def test_knn_labels_relabels_the_flipped_rows_and_leaves_the_others():
    offsets = [np.array([0.4, 0.4]), np.array([-0.4, -0.4])]
    X, y, outlier = blobs_with_outliers(np.random.default_rng(4), offset=offsets)
    truth = np.where(outlier, 1 - y, y)
    knn = defences.KNNLabels(k=10, agreement=0.5).fit(X, y)
    X_out, y_out, keep = knn.sanitise(X, y)
    np.testing.assert_array_equal(y_out, truth)
    np.testing.assert_array_equal(keep, ~outlier)
    np.testing.assert_array_equal(X_out, X)                  # nothing removed


def test_knn_labels_leaves_a_row_alone_without_enough_agreement():
    # the row's 4 neighbours: 3 of label 1 and 1 of label 0. agreement 0.75 relabels it, 0.8 not
    X = np.array([[0.0], [1.0], [1.1], [1.2], [0.9], [5.0]])
    y = np.array([0, 1, 1, 1, 0, 0])
    for agreement, expected in ((0.75, 1), (0.8, 0)):
        relabelled = defences.KNNLabels(k=4, agreement=agreement).fit(X, y).relabel(X, y)
        assert relabelled[0] == expected


def test_defences_fitted_with_fit_return_a_copy_and_refuse_keep_before_fit():
    sphere = defences.Sphere()
    fitted = sphere.fit(np.eye(2), [0, 1])
    assert sphere.fitted is None and fitted.fitted is not None
    with pytest.raises(ValueError, match="not fitted"):
        sphere.keep(np.eye(2), [0, 1])


@given(regions())
def test_project_box_lands_in_the_box_and_in_the_region(problem):
    region, X, y, X0, lb, ub = problem
    P = constraints.project_box(region, X, y, X0, lb, ub)
    assert np.all((lb <= P) & (P <= ub))                   # exactly: the last step is a clip
    assert region.contains(P, y, X0).all()                 # up to TOL (round-off of the pull)
    # points already in box ∩ C stay where they are (up to the pull's round-off)
    np.testing.assert_allclose(constraints.project_box(region, P, y, X0, lb, ub), P,
                               rtol=0, atol=1e-12)


@given(regions())
def test_region_project_is_the_nearest_point_of_the_region(problem):
    # the nearest point p of a convex set satisfies <x - p, q - p> <= 0 for every q in it; the
    # centre is in it. Round-off of O(1) products: 1e-12
    region, X, y, X0, lb, ub = problem
    P = region.project(X, y, X0)
    assert region.contains(P, y, X0).all()
    c = region.centre(y, X0)
    assert np.all(np.sum((X - P) * (c - P), axis=1) <= 1e-12)


def test_distance_inf_in_the_box_is_the_exact_coordinate_clip():
    rng = np.random.default_rng(5)
    X0, X = rng.random((4, 3)), 3 * rng.standard_normal((4, 3))
    P = constraints.project_box(constraints.Distance(0.2, np.inf), X, np.zeros(4), X0, 0.0, 1.0)
    np.testing.assert_array_equal(P, np.clip(X, np.maximum(0, X0 - 0.2), np.minimum(1, X0 + 0.2)))


def _attack_problem(constraint_of=None):
    data = datasets.blobs(400, 2, 2, separation=3.0, rng=0)
    (X_tr, y_tr), (X_val, y_val), _ = datasets.split(data.X, data.y, (40, 100, None), rng=0)
    model, gd = bg.LogisticRegression(2, l2=0.001), bg.GradientDescent(2.5, 50)
    constraint = constraint_of(X_tr, y_tr) if constraint_of else None
    attack = bg.PoisoningAttack(model, gd, bg.ErrorGeneric(X_val, y_val), 6, update="joint",
                                max_passes=4, constraint=constraint)
    return attack.run(X_tr, y_tr, rng=0), X_tr, y_tr


@pytest.mark.parametrize("name", ["Sphere", "Slab"])
def test_adaptive_attack_points_all_pass_the_defence_the_plain_attack_points_do_not(name):
    defence = getattr(defences, name)(0.9)
    plain, X_tr, y_tr = _attack_problem()
    adaptive, _, _ = _attack_problem(defence.constraint)
    fitted = defence.fit(X_tr, y_tr)                        # what the attacker assumed
    assert fitted.keep(adaptive.X_c, adaptive.y_c).all()
    assert len(adaptive.history) > 1                        # it moved, inside the region
    assert not fitted.keep(plain.X_c, plain.y_c).all()      # the test has teeth


def test_distance_limited_attack_stays_within_eps_of_its_clones():
    eps = 0.05
    result, _, _ = _attack_problem(lambda X, y: constraints.Distance(eps))
    assert np.all(np.linalg.norm(result.X_c - result.X_c0, axis=1) <= eps * (1 + 1e-10))
    assert np.max(np.linalg.norm(result.X_c - result.X_c0, axis=1)) > eps / 2      # it moved


@pytest.mark.parametrize("make, match", [
    (lambda: defences.Sphere(0.0), "quantile"), (lambda: defences.Sphere(1.0), "quantile"),
    (lambda: defences.Slab(1.5), "quantile"), (lambda: defences.KNNLabels(k=0), "k must"),
    (lambda: defences.KNNLabels(agreement=0), "agreement"),
    (lambda: defences.LossFilter(bg.Adaline(2), bg.GradientDescent(0.1, 5), 0.0), "fraction"),
    (lambda: constraints.Distance(0.0), "eps"), (lambda: constraints.Distance(-1.0), "eps"),
    (lambda: constraints.Distance(0.1, norm=1), "norm"),
    (lambda: defences.KNNLabels(k=5).fit(np.eye(3), [0, 1, 0]).relabel(np.eye(3), [0, 1, 0]),
     "k must be at most 2"),
])
def test_bad_input_gets_one_clear_value_error(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_a_constraint_for_another_number_of_features_is_refused():
    region = defences.Sphere().constraint(np.random.default_rng(0).random((10, 3)),
                                          np.arange(10) % 2)
    model = bg.LogisticRegression(2)
    with pytest.raises(ValueError, match="constraint is for 3 features but the model has 2"):
        bg.PoisoningAttack(model, bg.GradientDescent(0.1, 5), bg.ErrorGeneric(np.eye(2), [0, 1]),
                           2, constraint=region)


def test_evaluate_with_a_defence_reports_detection_and_false_positives_and_trains_on_the_rest():
    offsets = [np.array([0.0, -0.25]), np.array([0.25, 0.0])]
    X, y, outlier = blobs_with_outliers(np.random.default_rng(0), offset=offsets)
    X_tr, y_tr, X_c, y_c = X[~outlier], y[~outlier], X[outlier], 1 - y[outlier]   # flipped
    model, gd = bg.LogisticRegression(2, l2=0.01), bg.GradientDescent(2.0, 100)
    X_te, y_te = X_tr[::2], y_tr[::2]
    # fitted on D_tr ∪ D_c: the flipped rows sit 8 sd away from the centroid of their new
    # class too (the other class's centre is 0.57 away), so the sphere catches all six
    ev = bg.evaluate(model, gd, X_tr, y_tr, X_te, y_te, X_c, y_c, rng=0,
                     defence=defences.Sphere(Q))
    clean = bg.evaluate(model, gd, X_tr, y_tr, X_te, y_te, rng=0)
    assert ev.detection_rate == 1.0
    assert ev.false_positive_rate < 0.05
    assert ev.kept.shape == (len(y_tr) + len(y_c),)
    assert clean.detection_rate is None and clean.kept is None          # old callers: no change
    # a defence fitted beforehand (on the clean rows: a trusted set) is used as it is
    trusted = defences.Sphere(Q).fit(X_tr, y_tr)
    ev2 = bg.evaluate(model, gd, X_tr, y_tr, X_te, y_te, X_c, y_c, rng=0, defence=trusted)
    np.testing.assert_array_equal(ev2.kept, np.concatenate(
        [trusted.keep(X_tr, y_tr), trusted.keep(X_c, y_c)]))
    # without poisoning rows the detection rate is undefined, not 0
    assert np.isnan(bg.evaluate(model, gd, X_tr, y_tr, X_te, y_te, rng=0,
                                defence=defences.Sphere(Q)).detection_rate)


def test_evaluate_with_knn_labels_trains_on_the_relabelled_set():
    offsets = [np.array([0.4, 0.4]), np.array([-0.4, -0.4])]
    X, y, outlier = blobs_with_outliers(np.random.default_rng(4), offset=offsets)
    model, gd = bg.LogisticRegression(2, l2=0.01), bg.GradientDescent(2.0, 100)
    X_tr, y_tr, X_c, y_c = X[~outlier], y[~outlier], X[outlier], y[outlier]
    ev = bg.evaluate(model, gd, X_tr, y_tr, X_tr, y_tr, X_c, y_c, rng=0,
                     defence=defences.KNNLabels())
    truth = bg.evaluate(model, gd, X_tr, y_tr, X_tr, y_tr, X_c, 1 - y_c, rng=0)
    assert (ev.detection_rate, ev.false_positive_rate) == (1.0, 0.0)
    np.testing.assert_array_equal(ev.w, truth.w)             # same rows, same labels, same run


@given(regions())
def test_the_attacks_projection_lands_in_its_box_and_its_constraint(problem):
    region, X, y, X0, lb, ub = problem
    d, K = X.shape[1], region.n_classes or 2
    model = bg.SoftmaxRegression(d, K)
    attack = bg.PoisoningAttack(model, bg.GradientDescent(0.1, 2),
                                bg.ErrorGeneric(np.zeros((1, d)), [0]), 1, lb, ub,
                                constraint=region)
    P = attack.project(X, y, X0)
    assert np.all((lb <= P) & (P <= ub))
    assert region.contains(P, y, X0).all()              # up to constraints.TOL


def test_a_constraint_whose_centres_leave_the_box_or_with_a_grid_is_refused():
    model = bg.LogisticRegression(2)
    args = (model, bg.GradientDescent(0.1, 2), bg.ErrorGeneric(np.eye(2), [0, 1]), 1)
    outside = constraints.ClassBall(np.array([[0.5, 0.5], [1.5, 0.5]]), np.ones(2))
    with pytest.raises(ValueError, match="centres must lie inside the box"):
        bg.PoisoningAttack(*args, constraint=outside)
    with pytest.raises(ValueError, match="grid"):
        bg.PoisoningAttack(*args, grid=0.5, constraint=constraints.Distance(0.1))


def test_knn_labels_gives_the_same_labels_in_chunks_of_rows(monkeypatch):
    # the distance matrix is built a block of rows at a time; leaving each row itself out must
    # pick the right column in every block
    rng = np.random.default_rng(6)
    X, y = rng.random((50, 3)), rng.integers(0, 3, 50)
    whole = defences.KNNLabels(k=5).fit(X, y).relabel(X, y)
    monkeypatch.setattr(defences.KNNLabels, "chunk", 7)
    np.testing.assert_array_equal(defences.KNNLabels(k=5).fit(X, y).relabel(X, y), whole)
    # and against a plain double loop (no chunks, no Gram trick)
    D = np.linalg.norm(X[:, None] - X[None], axis=2) + np.diag(np.full(50, np.inf))
    for i in range(50):
        f = np.bincount(y[np.argsort(D[i])[:5]], minlength=3) / 5
        expected = f.argmax() if f.max() >= 0.5 and f.max() > f[y[i]] else y[i]
        assert whole[i] == expected
