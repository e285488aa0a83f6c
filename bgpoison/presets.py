"""The paper's experiments at CPU scale, one named preset each: ``bgpoison run --preset NAME``.

Each preset is (list of Settings, fractions, number of seeds). ``fast=True`` shrinks it to a
smoke run of a few seconds (used by the tests); the full sizes are documented in RESULTS.md.
The data sets are scikit-learn's bundled 8x8 digits, not MNIST or Spambase: the sizes follow
the paper where the 1797 digits allow it.
"""
from dataclasses import replace

from .experiment import Settings

# binary models of the paper; learning rates chosen so that clean training converges in T steps.
# The MLP's is the authors' 0.1: at 0.3 its poisoned training is at the edge of stability and the
# attacker's objective turns chaotic (1e-6 noise on the points moved A from 1.96 to 0.17..1.81).
BINARY = {
    "adaline": dict(model="adaline", steps=80, lr=0.05),
    "logistic": dict(model="logistic", steps=100, lr=0.3),
    "mlp": dict(model="mlp", hidden=10, steps=200, lr=0.1),
}
ONE_VS_SEVEN = dict(dataset="digits", classes=(1, 7), n_train=100, n_val=130)
DIGITS = dict(dataset="digits", n_train=500, n_val=500, steps=60, lr=0.5, model="softmax")


def binary():
    """Paper Fig. 2-3: ADALINE, logistic, MLP on digits 1 vs 7, up to 15 % poisoning."""
    return ([Settings(**ONE_VS_SEVEN, **kw) for kw in BINARY.values()],
            [0.0, 0.05, 0.10, 0.15], 10)


def multiclass():
    """Paper Fig. 4 (left): softmax on all ten digits, error-generic, up to 6 %."""
    return [Settings(**DIGITS)], [0.0, 0.02, 0.04, 0.06], 10


def specific():
    """Paper Fig. 4 (right): error-specific, validation 8s relabelled 3, up to 4 %."""
    return ([Settings(**DIGITS, objective="specific", class_map=((8, 3),))],
            [0.0, 0.01, 0.02, 0.03, 0.04], 10)


def transfer():
    """Transferability: craft on each binary model, retrain every binary model (3 x 3)."""
    settings = []
    for kw in BINARY.values():
        for victim, victim_kw in BINARY.items():
            settings.append(Settings(**ONE_VS_SEVEN, **kw, victim=victim,
                                     victim_steps=victim_kw["steps"], victim_lr=victim_kw["lr"]))
    return settings, [0.0, 0.10], 5


def kkt():
    """Back-gradient vs the KKT (implicit) gradient, same attack loop and budget."""
    base = Settings(**ONE_VS_SEVEN, **BINARY["logistic"])
    return [base, replace(base, gradient="kkt")], [0.0, 0.10], 5


def reversal():
    """Does the paper's drifting reversal weaken the attack? Stored vs paper vs fixed-point.

    lr = 0.2 (T = 150): at the other presets' lr = 0.5, lr * L_smooth passes 1 once the points
    move to the corners of the box, and the fixed-point reversal cannot converge."""
    base = Settings(**{**DIGITS, "lr": 0.2, "steps": 150})
    return [replace(base, reversal=r) for r in ("stored", "paper", "fixed-point")], \
        [0.0, 0.04], 5


def spambase(path):
    """Paper Fig. 2 on UCI Spambase (a CSV you provide): 100 / 400 / rest, up to 15 %."""
    settings, fractions, seeds = binary()
    return ([replace(s, dataset="csv", data_path=path, classes=None, n_val=400)
             for s in settings], fractions, seeds)


PRESETS = {f.__name__: f for f in (binary, multiclass, specific, transfer, kkt, reversal)}


def get(name, fast=False, data_path=None):
    """The preset ``name`` as (settings, fractions, seeds); ``fast`` for a smoke run."""
    if name == "spambase":
        if not data_path:
            raise ValueError("preset 'spambase' needs --data-path pointing to spambase.data")
        settings, fractions, seeds = spambase(data_path)
    elif name in PRESETS:
        settings, fractions, seeds = PRESETS[name]()
    else:
        raise ValueError(f"preset must be one of {', '.join(list(PRESETS) + ['spambase'])}; "
                         f"got {name!r}")
    if fast:
        settings = [shrink(s) for s in settings]
        fractions, seeds = fractions[::max(1, len(fractions) - 1)], 1
    return settings, fractions, range(seeds)


def shrink(s):
    """A smoke-test version of settings ``s``: tiny splits, T <= 15, two passes."""
    return replace(s, n_train=min(s.n_train, 40), n_val=min(s.n_val, 60), n_test=100,
                   steps=min(s.steps, 15), passes=2,
                   victim_steps=s.victim_steps and min(s.victim_steps, 15))
