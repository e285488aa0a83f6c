# Extra check (kkt preset): retrain each case's final points to the optimum (L-BFGS) and score it.
# Run from the repository root: OMP_NUM_THREADS=1 python results/extra-checks/kkt_optimum.py
import json, numpy as np
from bgpoison import datasets
from bgpoison.experiments.experiment import Settings, load_data, make_model
from bgpoison.implicit import train_to_optimum
out = {}
for line in open("results/kkt/results.jsonl"):
    r = json.loads(line)
    if r["fraction"] == 0: continue
    s = Settings(**{**r["settings"], "classes": tuple(r["settings"]["classes"]), "class_map": ()})
    data = load_data(s)
    (X_tr, y_tr), _, (X_te, y_te) = datasets.split(data.X, data.y, (s.n_train, s.n_val, s.n_test),
                                                     rng=np.random.default_rng(r["seed"]))
    model = make_model(s.model, X_tr.shape[1], data.n_classes, s)
    X = np.vstack([X_tr, r["X_c"]]); y = np.concatenate([y_tr, r["y_c"]])
    w = train_to_optimum(model, np.zeros(model.n_params), X, model.targets(y))
    out.setdefault(s.gradient, []).append(float(np.mean(model.predict(w, X_te) != y_te)))
for g, e in out.items():
    print(f"{g:14s} test error, victim at the optimum: {np.mean(e):.3f} ± {np.std(e):.3f}  {np.round(e, 4).tolist()}")
