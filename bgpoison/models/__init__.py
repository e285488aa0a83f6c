"""The models, each a pure function of a flat parameter vector (see ``base``)."""
from .adaline import Adaline
from .base import Model
from .cnn import CNN
from .logistic import LogisticRegression
from .mlp import MLP
from .softmax import SoftmaxRegression
from .svm import LinearSVM

__all__ = ["Adaline", "LogisticRegression", "SoftmaxRegression", "LinearSVM", "MLP", "CNN", "Model"]
