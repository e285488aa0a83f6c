"""Benchmark sections on synthetic data (``python -m bgpoison.experiments.bench`` runs them):
the hypergradient by back-gradient against the KKT gradient and central differences, one joint
against one sequential attack pass, and the exact momentum reversal against stored and
checkpoint. Each returns rows; ``bench`` prints them."""
import numpy as np

import bgpoison as bg
from bgpoison.experiments.bench_speed import best_time, peak_bytes
from bgpoison.implicit import implicit_gradient, train_to_optimum
from bgpoison.models import smoothness


def clusters(rng, n, d, K):
    """n points in [0, 1]^d around K random centres, labels 0..K-1."""
    centres = rng.uniform(0.2, 0.8, (K, d))
    y = rng.integers(0, K, n)
    return np.clip(centres[y] + 0.15 * rng.standard_normal((n, d)), 0, 1), y


def cosine(a, b):
    return float(np.sum(a * b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def hypergradient_table(n=1000, d=64, K=10, T=200, m=20, repeats=3, seed=0):
    """Back-gradient vs KKT vs finite differences on the same converged convex problem."""
    rng = np.random.default_rng(seed)
    X, y = clusters(rng, n + m + 500, d, K)
    model = bg.SoftmaxRegression(d, K, l2=0.05)
    X_tr, y_tr, X_c, y_c = X[:n], y[:n], X[n:n + m], (y[n:n + m] + 1) % K
    objective = bg.ErrorGeneric(X[n + m:], y[n + m:])
    w0 = model.init_params(rng)
    X_all, Y_all = np.vstack([X_tr, X_c]), model.targets(np.concatenate([y_tr, y_c]))
    gd = bg.GradientDescent(1.0 / smoothness(model, w0, X_all[:n], y_tr, rng), T)
    rows = slice(n, None)
    t_bg, g_bg = best_time(lambda: bg.back_gradient(
        model, gd, w0, X_tr, y_tr, X_c, y_c, objective).dX_c, repeats)
    out = [("back-gradient (stored)", t_bg, 1.0)]
    for solver in ("cg", "direct"):
        t, g = best_time(lambda: implicit_gradient(
            model, train_to_optimum(model, w0, X_all, Y_all), X_all, Y_all, rows, objective,
            solver=solver)[1], repeats)
        out.append((f"KKT, L-BFGS + {solver}", t, cosine(g, g_bg)))

    def A(x):
        X_c2 = X_c.copy()
        X_c2[0] = x
        return objective.value(model, gd.run(model, w0, np.vstack([X_tr, X_c2]),
                                             np.concatenate([y_tr, y_c])))
    eps = 1e-6

    def fd():
        return np.array([(A(X_c[0] + eps * e) - A(X_c[0] - eps * e)) / (2 * eps)
                         for e in np.eye(d)])
    t_fd, g_fd = best_time(fd, 1)
    out.append((f"central differences, 1 point x {d} coords", t_fd, cosine(g_fd, g_bg[0])))
    return out, dict(n=n, d=d, K=K, T=T, m=m)


def attack_pass_table(n=100, d=64, m=10, T=100, seed=0):
    """Time and gain in A of one joint pass vs one sequential pass of the attack."""
    rng = np.random.default_rng(seed)
    X, y = clusters(rng, n + 400, d, 2)
    model = bg.LogisticRegression(d, l2=0.01)
    objective = bg.ErrorGeneric(X[n:], y[n:])
    out = []
    for update in ("joint", "sequential"):
        attack = bg.PoisoningAttack(model, bg.GradientDescent(0.5, T), objective, m,
                                    update=update, max_passes=1)
        t, r = best_time(lambda: attack.run(X[:n], y[:n], rng=seed), 1)
        out.append((update, t, r.history[-1] - r.history[0], r.n_hypergradients, r.n_trainings))
    return out


def exact_table(n=1000, d=64, K=10, m=20, repeats=3, seed=0, gammas=(0.9, 0.98),
                steps=(50, 200)):
    """Exact (fixed-point) momentum reversal against stored and checkpoint: time ratio to
    training, and memory: buffer bits vs storing 64-bit iterates."""
    rng = np.random.default_rng(seed)
    X, y = clusters(rng, n + m + 500, d, K)
    model = bg.SoftmaxRegression(d, K, l2=1e-3)
    X_tr, y_tr, X_c, y_c = X[:n], y[:n], X[n:n + m], y[n:n + m]
    objective = bg.ErrorGeneric(X[n + m:], y[n + m:])
    w0 = model.init_params(rng)
    lr = 0.1 / smoothness(model, w0, X_tr, y_tr, rng)
    X_all, y_all = np.vstack([X_tr, X_c]), np.concatenate([y_tr, y_c])
    rows = []
    for gamma in gammas:
        for T in steps:
            gd = bg.GradientDescent(lr, T, momentum=gamma)
            t_train, _ = best_time(lambda: gd.run(model, w0, X_all, y_all), repeats)
            for reversal in ("stored", "checkpoint", "exact"):
                t, r = best_time(lambda: bg.back_gradient(
                    model, gd, w0, X_tr, y_tr, X_c, y_c, objective, reversal=reversal), repeats)
                peak = peak_bytes(lambda: bg.back_gradient(
                    model, gd, w0, X_tr, y_tr, X_c, y_c, objective, reversal=reversal))
                rows.append((gamma, T, reversal, (t - t_train) / t_train, r.w0_error,
                             peak / 1024, r.buffer_bits / (T * model.n_params)))
    return rows, dict(n=n, d=d, K=K, p=model.n_params)
