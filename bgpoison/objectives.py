"""The attacker's objectives A(w), functions of the trained weights on the attacker's data.

Both are maximised by the attacker and carry no l2 penalty:

    ErrorGeneric:   A(w) =  (1/|V|) sum_{(x, y) in V} loss(x, y, w)          (true labels)
    ErrorSpecific:  A(w) = -(1/|V|) sum_{(x, y') in V} loss(x, y', w)        (attacker's labels)

``value_and_grad(model, w)`` returns (A, grad_w A); the gradient is the model's own ``backward``
with l2 set to 0, times the sign.
"""
import dataclasses

from . import checks


class _MeanLoss:
    sign = 1.0
    labels_name = "y_val"

    def __init__(self, X_val, labels):
        self.X_val = checks.as_matrix(X_val, "X_val")
        self.labels = checks.as_labels(labels, self.labels_name, None, self.X_val.shape[0])

    def check(self, model):
        """Validate against ``model``: feature count and label range."""
        X = checks.as_matrix(self.X_val, "X_val", model.n_features)
        y = checks.as_labels(self.labels, self.labels_name, model.n_classes, X.shape[0])
        return X, model.targets(y)

    def value(self, model, w):
        """A(w) for ``model`` (float)."""
        X, Y = self.check(model)
        bare = dataclasses.replace(model, l2=0.0)
        return self.sign * bare.data_loss(bare.forward(w, X), Y)

    def value_and_grad(self, model, w):
        """(A(w), grad_w A(w)) for ``model``; shapes: float, (n_params,)."""
        X, Y = self.check(model)
        bare = dataclasses.replace(model, l2=0.0)               # A has no penalty term
        acts = bare.forward(w, X)
        value = bare.data_loss(acts, Y)
        return self.sign * value, self.sign * bare.backward(w, X, Y, acts)


class ErrorGeneric(_MeanLoss):
    """Error-generic (indiscriminate) attack: A = mean validation loss with the true labels."""

    def __init__(self, X_val, y_val):
        super().__init__(X_val, y_val)


class ErrorSpecific(_MeanLoss):
    """Error-specific attack: A = minus the mean loss with attacker-chosen labels ``y_target``,
    so that maximising A makes the model predict ``y_target`` on ``X_val``.

    ``y_true`` (optional) are the validation rows' real labels; the attack uses them to pick the
    classes involved when it initialises poisoning points (e.g. 8 -> 3 and 3 -> 8).
    """

    sign = -1.0
    labels_name = "y_target"

    def __init__(self, X_val, y_target, y_true=None):
        super().__init__(X_val, y_target)
        self.y_true = None if y_true is None else checks.as_labels(
            y_true, "y_true", None, self.X_val.shape[0])

    def label_map(self):
        """{true class: target class} for the rows whose target differs, and the reverse
        (so 8 -> 3 also relabels training 3s as 8s, as in the paper); None without y_true."""
        if self.y_true is None:
            return None
        pairs = {}
        for a, b in zip(self.y_true.tolist(), self.labels.tolist()):
            if a != b:
                pairs.setdefault(a, b)
                pairs.setdefault(b, a)
        return pairs
