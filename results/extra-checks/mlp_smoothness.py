# Extra check (binary preset, MLP, 15 %, splits 0-4): is A smooth at the final points at lr 0.1?
# Run from the repository root: OMP_NUM_THREADS=1 python results/extra-checks/mlp_smoothness.py
# A at the stored final points, A under 20 draws of 1e-6 noise on X_c, lr*lambda_max(H) at w_T,
# and how many of the 200 training steps raised the training loss.
import json, numpy as np, bgpoison as bg
from bgpoison import datasets
from bgpoison.experiments.experiment import Settings, load_data, make_model
rows = [json.loads(l) for l in open("results/binary/results.jsonl")]
for seed in range(5):
    r = [x for x in rows if x["label"] == "mlp generic" and x["fraction"] == 0.15 and x["seed"] == seed][0]
    s = Settings(**{**r["settings"], "classes": tuple(r["settings"]["classes"]), "class_map": ()})
    data = load_data(s)
    rng = np.random.default_rng(seed)
    (X_tr, y_tr), (X_val, y_val), _ = datasets.split(data.X, data.y, (s.n_train, s.n_val, s.n_test), rng=rng)
    model = make_model("mlp", X_tr.shape[1], data.n_classes, s)
    X_c0, y_c = bg.flip_labels(X_tr, y_tr, r["n_points"], data.n_classes, rng)
    w0 = model.init_params(rng)
    assert np.allclose(X_c0, r["X_c0"], atol=1e-6)
    gd = bg.GradientDescent(s.lr, s.steps); obj = bg.ErrorGeneric(X_val, y_val)
    src = bg.BackGradient("stored")
    X_c = np.array(r["X_c"])
    A = src.value(model, gd, w0, X_tr, y_tr, X_c, y_c, obj)
    noise = np.random.default_rng(100 + seed)
    An = [src.value(model, gd, w0, X_tr, y_tr, np.clip(X_c + 1e-6 * noise.standard_normal(X_c.shape), 0, 1), y_c, obj) for _ in range(20)]
    X = np.vstack([X_tr, X_c]); T = model.targets(np.concatenate([y_tr, y_c]))
    w = w0.copy(); losses = []
    for t in range(s.steps):
        acts = model.forward(w, X); losses.append(model.data_loss(acts, T) + model.penalty(w))
        w = w - s.lr * model.backward(w, X, T, acts)
    acts = model.forward(w, X)
    H = np.column_stack([model.r_backward(w, X, T, acts, e, slice(0, 0))[0] for e in np.eye(model.n_params)])
    lam = np.max(np.abs(np.linalg.eigvalsh(0.5 * (H + H.T))))
    print(f"seed {seed}: A recorded {r['history'][-1]:.4f}, recomputed {A:.4f}, with 1e-6 noise {min(An):.4f}..{max(An):.4f} (max |change| {max(abs(a - A) for a in An):.1e}); "
          f"lr*|lam|max at w_T {s.lr * lam:.3f}; loss rises {int(np.sum(np.diff(losses) > 0))}/{s.steps - 1}", flush=True)
