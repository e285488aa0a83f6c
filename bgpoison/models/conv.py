"""The convolution's building blocks, each with its adjoint (what the backward passes use).

    im2col(S, k)   every k x k window of S as one row: a convolution is then im2col(S) @ W
    col2im(G, ..)  its adjoint: each window's gradient added back onto the pixels it came from
    pool(F, p)     the mean of each p x p block (p divides the map)
    pool_T(G, p)   its adjoint: G / p^2 on each pixel of its block

Adjoint means <im2col(S), G> = <S, col2im(G)> and <pool(F), G> = <F, pool_T(G)> for all S, G
(tested): the input gradient of a linear map is its adjoint applied to the output gradient.
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def im2col(S, k):
    """(n, h, w, C) -> (n*oh*ow, C*k*k): row (i, r, s) is the window at (r, s), as (C, k, k)."""
    n, h, w, C = S.shape
    windows = sliding_window_view(S, (k, k), axis=(1, 2))      # (n, oh, ow, C, k, k), a view
    return windows.reshape(n * (h - k + 1) * (w - k + 1), C * k * k)   # the one copy


def col2im(G, shape, k):
    """Adjoint of ``im2col``: (n*oh*ow, C*k*k) -> ``shape`` (n, h, w, C), summing overlaps."""
    n, h, w, C = shape
    oh, ow = h - k + 1, w - k + 1
    G = G.reshape(n, oh, ow, C, k, k)
    out = np.zeros(shape)
    for a in range(k):
        for b in range(k):                                     # window offset (a, b)
            out[:, a:a + oh, b:b + ow, :] += G[..., a, b]
    return out


def pool(F, p):
    """Mean over non-overlapping p x p blocks: (n, oh, ow, C) -> (n, oh/p, ow/p, C)."""
    n, oh, ow, C = F.shape
    return F.reshape(n, oh // p, p, ow // p, p, C).mean(axis=(2, 4))


def pool_T(G, p):
    """Adjoint of ``pool``: (n, ph, pw, C) -> (n, ph p, pw p, C), G/p^2 on each pixel of its
    block."""
    return np.repeat(np.repeat(G, p, axis=1), p, axis=2) / (p * p)
