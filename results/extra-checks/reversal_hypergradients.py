# Extra check (reversal preset, 4 %, splits 0-4): how far the paper and fixed-point reversals'
# hypergradients are from the stored (exact) one, and lr * lambda_max of the training Hessian,
# at the initial and at the final points.
# Run from the repository root: OMP_NUM_THREADS=1 python results/extra-checks/reversal_hypergradients.py
import json, numpy as np, bgpoison as bg
from bgpoison import datasets
from bgpoison.experiments.experiment import Settings, load_data, make_model
rows = [json.loads(l) for l in open("results/reversal/results.jsonl")]
for seed in range(5):
  r = [x for x in rows if x["fraction"] == 0.04 and x["seed"] == seed and x["settings"]["reversal"] == "stored"][0]
  s = Settings(**{**r["settings"], "class_map": ()})
  data = load_data(s)
  rng = np.random.default_rng(seed)
  (X_tr, y_tr), (X_val, y_val), _ = datasets.split(data.X, data.y, (s.n_train, s.n_val, s.n_test), rng=rng)
  model = make_model("softmax", X_tr.shape[1], data.n_classes, s)
  X_c0, y_c0 = bg.flip_labels(X_tr, y_tr, r["n_points"], data.n_classes, rng)
  w0 = model.init_params(rng)
  assert np.allclose(X_c0, r["X_c0"], atol=1e-6)
  gd = bg.GradientDescent(s.lr, s.steps); obj = bg.ErrorGeneric(X_val, y_val)
  for name, X_c in (("initial", X_c0), ("final", np.array(r["X_c"]))):
    X = np.vstack([X_tr, X_c]); T = model.targets(np.concatenate([y_tr, y_c0]))
    ref = bg.back_gradient(model, gd, w0, X_tr, y_tr, X_c, y_c0, obj, "stored")
    w = ref.w_T; acts = model.forward(w, X)
    H = np.column_stack([model.r_backward(w, X, T, acts, e, slice(0, 0))[0] for e in np.eye(model.n_params)])
    lam = np.max(np.linalg.eigvalsh(0.5 * (H + H.T)))
    H0 = np.column_stack([model.r_backward(w0, X, T, model.forward(w0, X), e, slice(0, 0))[0] for e in np.eye(model.n_params)])
    lam0 = np.max(np.linalg.eigvalsh(0.5 * (H0 + H0.T)))
    out = [f"seed {seed} {name:7s} lr*lam_max(w0)={s.lr*lam0:.3f} lr*lam_max(w_T)={s.lr*lam:.3f}"]
    for rev in ("paper", "fixed-point"):
      try:
        g = bg.back_gradient(model, gd, w0, X_tr, y_tr, X_c, y_c0, obj, rev)
        cos = np.sum(g.dX_c * ref.dX_c) / np.linalg.norm(g.dX_c) / np.linalg.norm(ref.dX_c)
        rel = np.linalg.norm(g.dX_c - ref.dX_c) / np.linalg.norm(ref.dX_c)
        out.append(f"{rev}: w0 err {g.w0_error:.2e} rel err {rel:.2e} cos {cos:.4f} it {g.iterations}")
      except Exception as e:
        out.append(f"{rev}: {type(e).__name__}")
    print(" | ".join(out), flush=True)
