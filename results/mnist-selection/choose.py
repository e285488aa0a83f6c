"""Choose bgpoison's strongest attack settings on validation data only.

For each candidate, run the attack of one case (split ``seed``) and retrain the case's victim on
the poisoned training set; score it on the *validation* rows (the attacker's own data), never on
the test rows. Prints one line per candidate: validation error, hypergradients, seconds.

    OMP_NUM_THREADS=1 python results/mnist-selection/choose.py binary-logistic 0
"""
import sys
import time
from dataclasses import replace


import bgpoison as bg
from bgpoison.experiments import experiment, presets


def validation_error(s, fraction, seed):
    data, ((X_tr, y_tr), (X_val, y_val), _), rng = experiment.split_case(s, seed)
    d, K = X_tr.shape[1], data.n_classes
    model, victim = (experiment.make_model(name, d, K, s) for name in (s.model, s.victim or s.model))
    retarget = experiment._retarget(s, K)
    objective = bg.ErrorGeneric(X_val, y_val) if s.objective == "generic" else \
        bg.ErrorSpecific(X_val, retarget(y_val), y_true=y_val)
    m = experiment.n_points(fraction, s.n_train)
    start = time.perf_counter()
    attack = bg.PoisoningAttack(model, bg.GradientDescent(s.lr, s.steps), objective, m, 0.0, 1.0,
                                update=s.update, gradient=bg.BackGradient(s.reversal),
                                step=s.step, max_passes=s.passes, warm_start=s.warm_start,
                                adapt_step=False, rel_tol=0.0)    # the fixed step it chose
    r = attack.run(X_tr, y_tr, rng=rng)
    seconds = time.perf_counter() - start
    victim_gd = bg.GradientDescent(s.victim_lr or s.lr, s.victim_steps or s.steps)
    y_aim = None if s.objective == "generic" else retarget(y_val)
    ev = bg.evaluate(victim, victim_gd, X_tr, y_tr, X_val, y_val, r.X_c, r.y_c, rng=seed,
                     y_target=y_aim)
    return ev, r, seconds


CANDIDATES = {
    "binary-logistic": (lambda: presets.binary()[0][1], 0.1667, {
        "paper (T=100, lr=0.1)": {},
        "warm start": {"warm_start": True},
        "attacker trains as the victim (T=1500, lr=0.5)": {"steps": 1500, "lr": 0.5},
        "attacker T=300, lr=0.5": {"steps": 300, "lr": 0.5},
        "attacker T=300, lr=0.5, warm start": {"steps": 300, "lr": 0.5, "warm_start": True},
    }),
    "binary-adaline": (lambda: presets.binary()[0][0], 0.1667, {
        "paper (T=60, lr=0.02)": {},
        "attacker trains as the victim (T=1500, lr=0.02)": {"steps": 1500},
    }),
    "binary-adaline-more": (lambda: presets.binary()[0][0], 0.1667, {
        "as the victim, first step 0.25": {"steps": 1500, "step": 0.25},
        "as the victim, 60 hypergradients": {"steps": 1500, "passes": 60},
    }),
    "binary-mlp": (lambda: presets.binary()[0][2], 0.1667, {
        "paper (T=200, lr=0.1)": {},
        "attacker trains as the victim (T=1500, lr=0.1)": {"steps": 1500},
    }),
    "multiclass": (lambda: presets.multiclass()[0][0], 0.06, {
        "paper (30 hypergradients)": {},
        "first step 4 (30 hypergradients)": {"step": 4.0},
        "warm start (30 hypergradients)": {"warm_start": True},
        "100 hypergradients": {"passes": 100},
    }),
    "multiclass-more": (lambda: presets.multiclass()[0][0], 0.06, {
        "first step 4, 60 hypergradients": {"step": 4.0, "passes": 60},
    }),
    "specific": (lambda: presets.specific()[0][0], 0.04, {
        "paper (30 hypergradients)": {},
        "first step 4 (30 hypergradients)": {"step": 4.0},
    }),
}

if __name__ == "__main__":
    name, seed = sys.argv[1], int(sys.argv[2])
    base, fraction, candidates = CANDIDATES[name]
    base = base()
    for label, change in candidates.items():
        ev, r, seconds = validation_error(replace(base, **change), fraction, seed)
        extra = "" if ev.target_rate is None else f"  target rate {ev.target_rate:.3f}"
        print(f"{name} seed {seed} {label:50s} validation error {ev.test_error:.3f}{extra}  "
              f"hypergradients {r.n_hypergradients:3d}  {seconds:6.1f} s", flush=True)
