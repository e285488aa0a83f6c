"""Check hand-written derivatives against central finite differences.

For a function f (scalar- or array-valued) and a direction u with ||u|| = 1,

    D f(x)[u]  ~=  ( f(x + eps u) - f(x - eps u) ) / (2 eps)

with truncation error O(eps^2 |f'''|) and round-off error O(machine_eps |f| / eps). In float64
the two balance near eps = 1e-5, where a central difference of a smooth O(1) function is good to
about 1e-11 relative (tutorial 01 measures it for a Hessian-vector product; over 20 random
problems the best eps lay between 2e-6 and 3e-5). The default EPS = 1e-6 sits a decade to the
round-off side of that valley, with errors of about 1e-10 to 1e-9: far below RTOL, and less
exposed to large third derivatives. A claimed derivative passes along u when

    max |claimed - fd|  <=  atol + rtol * max(max |claimed|, max |fd|).

Directions are random unit vectors drawn from an explicit ``rng``; for inputs with at most
``max_coordinates`` entries every coordinate direction is checked too. A failure raises
``AssertionError`` naming the function, the argument, the direction and both numbers.

Point it at your own code, e.g. for a model::

    from bgpoison import gradcheck
    gradcheck.check_model(model, w, X, y, rng=np.random.default_rng(0))
"""
import numpy as np

EPS = 1e-6
RTOL = 1e-6    # far above the ~1e-10 relative error of float64 central differences at EPS
ATOL = 1e-8    # room for round-off when the derivative itself is near zero


def _directions(shape, rng, n_directions, max_coordinates):
    size = int(np.prod(shape))
    for k in range(n_directions):
        u = rng.standard_normal(size)
        yield f"random direction {k}", (u / np.linalg.norm(u)).reshape(shape)
    if size <= max_coordinates:
        for i in range(size):
            e = np.zeros(size)
            e[i] = 1.0
            yield f"coordinate {tuple(int(j) for j in np.unravel_index(i, shape))}", e.reshape(shape)


def check_directional(f, derivative, x, *, rng, name="f", arg="x", n_directions=5,
                      max_coordinates=12, eps=EPS, rtol=RTOL, atol=ATOL):
    """Check that ``derivative(u)`` equals the directional derivative of ``f`` at ``x`` along u.

    ``f`` maps an array shaped like ``x`` to a scalar or array; ``derivative(u)`` returns the
    claimed D f(x)[u] with the shape of f(x). Returns the largest error relative to tolerance
    (below 1 when everything passed); raises ``AssertionError`` on the first failure.
    """
    x = np.asarray(x, dtype=np.float64)
    for key, value, least in (("eps", eps, 0.0), ("rtol", rtol, 0.0), ("atol", atol, 0.0)):
        if not (isinstance(value, (int, float, np.floating)) and np.isfinite(value)
                and (value > least if key == "eps" else value >= least)):
            raise ValueError(f"{key} must be a finite number {'>' if key == 'eps' else '>='} "
                             f"0; got {value!r}")
    if isinstance(n_directions, bool) or not isinstance(n_directions, (int, np.integer)) \
            or n_directions < 0:
        raise ValueError(f"n_directions must be an integer >= 0; got {n_directions!r}")
    worst = 0.0
    for label, u in _directions(x.shape, rng, n_directions, max_coordinates):
        fd = (np.asarray(f(x + eps * u)) - np.asarray(f(x - eps * u))) / (2.0 * eps)
        claimed = np.asarray(derivative(u), dtype=np.float64)
        if claimed.shape != fd.shape:
            raise AssertionError(f"{name}: derivative with respect to {arg} has shape "
                                 f"{claimed.shape}, expected {fd.shape}")
        err = float(np.max(np.abs(claimed - fd), initial=0.0))
        tol = atol + rtol * max(float(np.max(np.abs(claimed), initial=0.0)),
                                float(np.max(np.abs(fd), initial=0.0)))
        if not err <= tol:
            raise AssertionError(
                f"{name}: derivative with respect to {arg} disagrees with central differences "
                f"along {label}: claimed {_show(claimed)}, finite difference {_show(fd)} "
                f"(max |difference| {err:.3e} > tolerance {tol:.3e})")
        worst = max(worst, err / tol)
    return worst


def check_gradient(f, grad, x, **kwargs):
    """Check ``grad(x)`` (shape of x) against central differences of the scalar ``f``."""
    g = np.asarray(grad(x), dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    if g.shape != x.shape:
        raise AssertionError(f"{kwargs.get('name', 'f')}: gradient with respect to "
                             f"{kwargs.get('arg', 'x')} has shape {g.shape}, expected {x.shape}")
    return check_directional(f, lambda u: np.sum(g * u), x, **kwargs)


def check_model(model, w, X, y, *, rng, **kwargs):
    """Check a model's ``grad_w``, ``hvp_ww`` and ``hvp_xw`` at (w, X, y) with one random v.

    - grad_w: against differences of ``loss`` in w;
    - hvp_ww: H v against differences of ``grad_w`` in w along each direction u
      (checking D grad_w[u] = H u, the Hessian's action);
    - hvp_xw: against differences of the scalar X -> <grad_w(w, X, y), v> in X.
    """
    cls = type(model).__name__
    v = rng.standard_normal(model.n_params)
    worst = check_gradient(lambda w_: model.loss(w_, X, y), lambda w_: model.grad_w(w_, X, y),
                           w, rng=rng, name=f"{cls}.grad_w", arg="w", **kwargs)
    worst = max(worst, check_directional(
        lambda w_: model.grad_w(w_, X, y), lambda u: model.hvp_ww(w, X, y, u), w, rng=rng,
        name=f"{cls}.hvp_ww", arg="w", **kwargs))
    worst = max(worst, check_gradient(
        lambda X_: model.grad_w(w, X_, y) @ v, lambda X_: model.hvp_xw(w, X_, y, v), X,
        rng=rng, name=f"{cls}.hvp_xw", arg="X", **kwargs))
    return worst


def _show(a):
    return f"{float(a):.10g}" if np.ndim(a) == 0 else np.array2string(
        np.ravel(a)[:6], precision=8) + (" ..." if np.size(a) > 6 else "")
