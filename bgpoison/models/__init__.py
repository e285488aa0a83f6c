"""The models, each a pure function of a flat parameter vector (see ``base``).

    base     what every model is: layout, checks, the public API; ``smoothness``
    linear   ADALINE, logistic and softmax regression, a linear SVM: one forward, backward
             and R-pass, four losses
    mlp      a perceptron with any number of hidden layers and a softmax output
    conv     im2col and average pooling, with their adjoints (for the CNN)
    cnn      a small convolutional network: valid convolutions, average pooling, softmax
"""
from .base import Model, smoothness
from .cnn import CNN
from .linear import Adaline, LinearModel, LinearSVM, LogisticRegression, SoftmaxRegression
from .mlp import MLP

__all__ = ["Adaline", "LogisticRegression", "SoftmaxRegression", "LinearSVM", "MLP", "CNN",
           "Model", "LinearModel", "smoothness"]
