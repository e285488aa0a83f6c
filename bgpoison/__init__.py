"""bgpoison: data poisoning by back-gradient optimisation, in readable pure NumPy.

Muñoz-González et al., "Towards Poisoning of Deep Learning Algorithms with Back-gradient
Optimization", AISec 2017. The modules follow the paper's algorithms one to one:

    models/          ADALINE, logistic, softmax, linear SVM (``linear``), MLP of any depth
                     (``mlp``), CNN (``cnn``, ``conv``): loss, gradient and two Hessian products;
                     ``smoothness``
    training         Algorithm "train": gradient descent, full or mini-batch, optionally momentum
    reversal         how the reverse pass recovers w_t: stored, checkpoint, paper, fixed-point
    exact            exactly reversible momentum training (Maclaurin et al.), reversal="exact"
    back_gradient    Algorithm "back-gradient": dA/dX_c through the whole training run
    objectives       the attacker's A(w): error-generic and error-specific
    attack           Algorithm "attack": projected ascent on the poisoning points
    implicit         the KKT (implicit-function) hypergradient, the baseline
    evaluation       retrain a victim (behind a defence, if given) and measure its test error
    defences         sanitisers: Sphere, Slab, LossFilter, KNNLabels (fit, keep, sanitise)
    constraints      regions an attack stays in (a defence's, a distance limit) and box ∩ region
    gradcheck        central finite differences to check every derivative
    threads          ``blas_threads(1)``: NumPy's products on one thread (fast on a busy machine)
    checks           the errors, input checks and guards against silent garbage (lowest module)
    datasets, files  synthetic blobs, scikit-learn's digits, the MNIST sample, CSV/IDX files
    experiments/     the machinery: the ``bgpoison`` command, presets, results, plots, Dask,
                     the benchmark (nothing above imports it)

Symbols follow the paper: eta (``lr``), T (``n_steps``), w_t, X_c (poisoning points), A (the
attacker's objective). Naming rule: in a reverse pass ``d<name>`` is the derivative of the current
scalar (A) with respect to ``<name>``, with the same shape as ``<name>``: ``dw`` is dA/dw_t,
``dX_c`` is dA/dX_c. Inside a model's backward pass the current scalar is the training loss L
(``dZ`` is dL/dZ). ``R<name>`` is Pearlmutter's R-derivative of ``<name>`` along a direction u
in weight space; v is the momentum velocity.
"""
from . import constraints, defences, gradcheck
from .attack import AttackResult, PoisoningAttack, flip_labels
from .back_gradient import BackGradient, BackGradientResult, back_gradient
from .evaluation import Evaluation, evaluate
from .implicit import KKTGradient, implicit_gradient
from .checks import ConvergenceError, DivergenceError
from .models import (CNN, MLP, Adaline, LinearSVM, LogisticRegression, Model, SoftmaxRegression,
                     smoothness)
from .objectives import ErrorGeneric, ErrorSpecific
from .threads import blas_threads
from .training import GradientDescent

__version__ = "0.1.0"

__all__ = [
    "Adaline", "LogisticRegression", "SoftmaxRegression", "LinearSVM", "MLP", "CNN", "Model",
    "GradientDescent", "DivergenceError",
    "back_gradient", "BackGradientResult", "ConvergenceError", "BackGradient",
    "ErrorGeneric", "ErrorSpecific", "gradcheck", "defences", "constraints",
    "PoisoningAttack", "AttackResult", "flip_labels", "KKTGradient", "implicit_gradient",
    "evaluate", "Evaluation", "smoothness", "blas_threads",
]
