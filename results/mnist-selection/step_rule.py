"""The attack's step rule, compared on validation data only: the MNIST multiclass protocol
(softmax, 1000 / 1000 / 3000, 60 points, joint updates), one split. Each line: the victim's
error on the *validation* rows (the attacker's own data, never the test rows), against the
clean error, with the hypergradients and training runs it cost.

    OMP_NUM_THREADS=1 python results/mnist-selection/step_rule.py all 0    # split 0; 1, 2 too
"""
import sys, time
from dataclasses import replace
import numpy as np
import bgpoison as bg
from bgpoison.experiments import experiment, presets

s = presets.multiclass()[0][0]
fraction, seed = 0.06, int(sys.argv[2]) if len(sys.argv) > 2 else 0
data, ((X_tr, y_tr), (X_val, y_val), _), rng = experiment.split_case(s, seed)
d, K = X_tr.shape[1], data.n_classes
model = experiment.make_model(s.model, d, K, s)
objective = bg.ErrorGeneric(X_val, y_val)
m = experiment.n_points(fraction, s.n_train)
victim_gd = bg.GradientDescent(s.victim_lr or s.lr, s.victim_steps or s.steps)
clean = bg.evaluate(model, victim_gd, X_tr, y_tr, X_val, y_val, rng=seed).test_error
configs = {
    "fixed step 1, 10 passes (the old defaults)": dict(adapt_step=False, max_passes=10,
                                                       rel_tol=0.0),
    "strongest (fixed step 4, 30 passes)": dict(adapt_step=False, step=4.0, rel_tol=0.0),
    "adaptive step, 30 passes": dict(rel_tol=0.0),
    "adaptive step, 30 passes, rel_tol 1e-3 (the defaults)": dict(),
    "adaptive step, up to 100 passes, rel_tol 3e-3": dict(max_passes=100, rel_tol=0.003),
}
which = sys.argv[1].split(",") if len(sys.argv) > 1 and sys.argv[1] != "all" else list(configs)
print(f"split {seed}: clean validation error {clean:.3f}")
for name in which:
    kw = configs[name] if name in configs else configs[list(configs)[int(name)]]
    t = time.process_time()
    attack = bg.PoisoningAttack(model, bg.GradientDescent(s.lr, s.steps), objective, m, 0.0, 1.0,
                                update="joint", **kw)
    r = attack.run(X_tr, y_tr, rng=np.random.default_rng(seed))
    ev = bg.evaluate(model, victim_gd, X_tr, y_tr, X_val, y_val, r.X_c, r.y_c, rng=seed).test_error
    print(f"{name if name in configs else list(configs)[int(name)]:54s} val error {ev:.3f} ({ev/clean:.2f}x clean)  "
          f"hypergradients {r.n_hypergradients:3d}  trainings {r.n_trainings:3d}  {time.process_time()-t:.0f} s CPU", flush=True)
