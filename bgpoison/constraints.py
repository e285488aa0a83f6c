"""Regions an attack's points must stay in, and the projection onto the box ∩ region.

Every region here is, row by row, a ball of some gauge g (a seminorm) around a centre c_i
that lies inside the feasible box:

    C_i = {x : g_i(x - c_i) <= r_i}
    ClassBall   (Sphere's region)   c_i = mu_{y_i},  r_i = r_{y_i},  g(D) = ||D||_2
    ClassSlab   (Slab's region)     c_i = mu_{y_i},  r_i = s_{y_i},  g(D) = |<D, u_{y_i}>|
    Distance(eps, norm)             c_i = x_0,i (the row's starting clone),  r_i = eps,
                                    g = ||.||_2 or ||.||_inf

A region gives ``project(X, y, X0)``, the nearest point of C (exact for all three), and
``contains(X, y, X0)``, a (m,) bool mask. ``project_box`` projects onto the box ∩ C:

    repeat ROUNDS times:  X <- clip(P_C(X), lb, ub)          alternating projections
    X <- c + t (X - c),   t = min(1, r / g(X - c))           pull toward the centre

The last line lands in both sets: X and c lie in the box, so the segment between them does
(the box is convex), and g(t D) = t g(D) <= r. The result is a feasible point near the
nearest one, not always the nearest (alternating projections approach the intersection; the
pull finishes the way). For ``Distance`` with the inf norm the intersection is itself a box
and one round is exact: clip to [max(lb, x_0 - eps), min(ub, x_0 + eps)].
"""
import numpy as np

ROUNDS = 10
TOL = 1e-10     # contains(): the pull lands on the boundary g = r; recomputing g from
#                 c + t D - c rounds at a few ulps per coordinate, far below 1e-10 (d <= 1e4)


class Region:
    """Base: C_i = {x : g(x - c_i) <= r_i}; subclasses give centre, radius, gauge, project."""

    n_features = None            # None: any number of features (Distance)
    n_classes = None

    def contains(self, X, y, X0):
        """(m,) bool: g(x_i - c_i) <= r_i, up to TOL (1 + r_i)."""
        r = self.radius(y)
        return self.gauge(X - self.centre(y, X0), y) <= r + TOL * (1.0 + r)

    def pull(self, X, y, X0):
        """c + t (X - c) with t = min(1, r / g(X - c)): the largest t <= 1 that lands in C."""
        c = self.centre(y, X0)
        D, r = X - c, self.radius(y)                                   # (m, d), (m,)
        g = self.gauge(D, y)                                           # (m,)
        t = np.divide(r, g, out=np.ones_like(g), where=g > r)          # (m,)
        return c + t[:, None] * D


class ClassBall(Region):
    """One L2 ball per class: ||x - mu_y||_2 <= r_y. ``centres`` (K, d), ``radii`` (K,)."""

    def __init__(self, centres, radii):
        self.centres, self.radii = centres, radii
        self.n_classes, self.n_features = centres.shape

    def centre(self, y, X0):
        return self.centres[y]                                         # (m, d)

    def radius(self, y):
        return self.radii[y]                                           # (m,)

    def gauge(self, D, y):
        return np.linalg.norm(D, axis=1)

    def project(self, X, y, X0):
        """Nearest point of the ball: the radial pull, mu + (x - mu) min(1, r / ||x - mu||)."""
        return self.pull(X, y, X0)


class ClassSlab(Region):
    """One slab per class: |<x - mu_y, u_y>| <= s_y, with unit ``directions`` u (K, d)."""

    def __init__(self, centres, directions, widths):
        self.centres, self.directions, self.widths = centres, directions, widths
        self.n_classes, self.n_features = centres.shape

    def centre(self, y, X0):
        return self.centres[y]

    def radius(self, y):
        return self.widths[y]

    def gauge(self, D, y):
        return np.abs(np.sum(D * self.directions[y], axis=1))         # |<D, u_y>|, (m,)

    def project(self, X, y, X0):
        """Nearest point: move along u_y only, x - u_y (p - clip(p, -s, s)), p = <x - mu_y, u_y>."""
        u, s = self.directions[y], self.widths[y]                      # (m, d), (m,)
        p = np.sum((X - self.centres[y]) * u, axis=1)                  # (m,)
        return X - (p - np.clip(p, -s, s))[:, None] * u


class Distance(Region):
    """Each point within ``eps`` of its starting clone x_0: ||x - x_0|| <= eps, norm 2 or inf."""

    def __init__(self, eps, norm=2):
        if not (isinstance(eps, (int, float, np.number)) and not isinstance(eps, bool)
                and 0 < eps < np.inf):
            raise ValueError(f"eps must be a finite number > 0 (a distance); got {eps!r}")
        if norm not in (2, np.inf):
            raise ValueError(f"norm must be 2 or numpy.inf; got {norm!r}")
        self.eps, self.norm = float(eps), norm

    def centre(self, y, X0):
        return X0

    def radius(self, y):
        return np.full(len(y), self.eps)

    def gauge(self, D, y):
        return np.linalg.norm(D, ord=self.norm, axis=1)

    def project(self, X, y, X0):
        """Nearest point: radial for norm 2, coordinate-wise clip to x_0 -+ eps for inf."""
        if self.norm == 2:
            return self.pull(X, y, X0)
        return np.clip(X, X0 - self.eps, X0 + self.eps)


def project_box(region, X, y, X0, lb, ub):
    """A point of [lb, ub] ∩ C for each row of X (see the module docstring); (m, d)."""
    for _ in range(ROUNDS if not isinstance(region, Distance) or region.norm == 2 else 1):
        X = np.clip(region.project(X, y, X0), lb, ub)
    return np.clip(region.pull(X, y, X0), lb, ub)   # the clip only removes round-off


def check(region, model, lb, ub, grid):
    """``region`` checked against the attack's model and box (None passes): ValueError if it
    was fitted for another number of features or classes, or its centres leave the box."""
    if region is None:
        return None
    if not all(hasattr(region, name) for name in ("project", "contains", "pull", "centre")):
        raise ValueError(f"constraint must be a region from bgpoison.constraints (with project "
                         f"and contains), e.g. Distance(0.5); got {type(region).__name__}")
    for name, want in (("features", model.n_features), ("classes", model.n_classes)):
        have = getattr(region, f"n_{name}")
        if have is not None and have != want:
            raise ValueError(f"constraint is for {have} {name} but the model has {want}; fit "
                             f"the defence's constraint on data with {want} {name}")
    centres = getattr(region, "centres", None)
    if centres is not None and (np.any(centres < lb - TOL) or np.any(centres > ub + TOL)):
        raise ValueError("constraint centres must lie inside the box [lb, ub]: fit the "
                         "defence's constraint on data inside the box")
    if grid is not None:
        raise ValueError("a constraint and a grid together are not supported: rounding to the "
                         "grid would leave the constraint; give one of them")
    return region
