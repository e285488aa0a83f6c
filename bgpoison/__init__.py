"""bgpoison: data poisoning by back-gradient optimisation, in readable pure NumPy.

Muñoz-González et al., "Towards Poisoning of Deep Learning Algorithms with Back-gradient
Optimization", AISec 2017. The modules follow the paper's algorithms one to one:

    models/          ADALINE, logistic, softmax, MLP (any depth), CNN: loss, gradient and two
                     Hessian products
    training         Algorithm "train": gradient descent, full or mini-batch (optionally momentum)
    reversal         how the reverse pass recovers w_t: stored, checkpoint, paper, fixed-point
    back_gradient    Algorithm "back-gradient": dA/dX_c through the whole training run
    objectives       the attacker's A(w): error-generic and error-specific
    attack           Algorithm "attack": projected ascent on the poisoning points
    implicit         the KKT (implicit-function) hypergradient, the baseline
    evaluation       retrain a victim and measure its test error
    gradcheck        central finite differences to check every derivative
    threads          ``blas_threads(1)``: NumPy's products on one thread (fast on a busy machine)

Symbols follow the paper: eta (``lr``), T (``n_steps``), w_t, X_c (poisoning points), A (the
attacker's objective). Naming rule: in a reverse pass ``d<name>`` is the derivative of the current
scalar (A) with respect to ``<name>``, with the same shape as ``<name>``: ``dw`` is dA/dw_t,
``dX_c`` is dA/dX_c. ``R<name>`` is Pearlmutter's R-derivative of ``<name>`` along a direction v.
"""
from . import gradcheck
from .attack import AttackResult, PoisoningAttack, flip_labels
from .back_gradient import BackGradient, BackGradientResult, back_gradient
from .evaluation import Evaluation, evaluate
from .implicit import KKTGradient, implicit_gradient
from .models import CNN, MLP, Adaline, LogisticRegression, Model, SoftmaxRegression
from .objectives import ErrorGeneric, ErrorSpecific
from .reversal import ConvergenceError
from .threads import blas_threads
from .training import DivergenceError, GradientDescent

__version__ = "0.1.0"

__all__ = [
    "Adaline", "LogisticRegression", "SoftmaxRegression", "MLP", "CNN", "Model",
    "GradientDescent", "DivergenceError",
    "back_gradient", "BackGradientResult", "ConvergenceError", "BackGradient",
    "ErrorGeneric", "ErrorSpecific", "gradcheck",
    "PoisoningAttack", "AttackResult", "flip_labels", "KKTGradient", "implicit_gradient",
    "evaluate", "Evaluation", "blas_threads",
]
