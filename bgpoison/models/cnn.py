"""A small convolutional network: valid convolutions, a smooth activation f, average pooling,
then a dense softmax layer. Images are the rows of X (n, h*w), row-major pixels, one channel.

Blocks l = 1..B (one per entry of ``channels``), S_0 = X as (n, h, w, 1), channels last:

    P_l = im2col(S_{l-1})       (n*oh*ow, C_{l-1} k k)    every k x k window, one row each
    Z_l = P_l W_l + b_l         (n*oh*ow, C_l)            oh = h_{l-1} - k + 1 (valid)
    A_l = f(Z_l), D_l = f'(Z_l) (n, oh, ow, C_l)
    S_l = pool(A_l)             (n, oh/p, ow/p, C_l)      mean of each p x p block
    Z = F W_L + b_L, F = S_B as (n, m)     P = softmax(Z)     (L = B + 1, the dense layer)

``im2col`` takes its windows by stride tricks (``sliding_window_view``); its adjoint ``col2im``
adds each window's gradient back onto the pixels it came from (k^2 shifted sums); the adjoint of
the average pool spreads each gradient evenly over its p x p block (rows and columns cut off by
the pool get zero). Backward, from dZ = (P - Y)/n:

    gW_L = F^T dZ + l2 W_L          dS_B = dZ W_L^T
    dZ_l = pool^T(dS_l) * D_l       gW_l = P_l^T dZ_l + l2 W_l      gb_l = sum dZ_l
    dS_{l-1} = col2im(dZ_l W_l^T)   (l = 1: grad_X L)

R-pass along v = (V_l, c_l): R{.} of every line, with RS_0 = 0 and DD_l = f''(Z_l):

    RZ_l = im2col(RS_{l-1}) W_l + P_l V_l + c_l      RA_l = D_l * RZ_l     RS_l = pool(RA_l)
    RZ = RF W_L + F V_L + c_L       RdZ = P * (RZ - <P, RZ>)/n
    RgW_L = RF^T dZ + F^T RdZ + l2 V_L               RdS_B = RdZ W_L^T + dZ V_L^T
    RdZ_l = pool^T(RdS_l) * D_l + pool^T(dS_l) * DD_l * RZ_l
    RgW_l = im2col(RS_{l-1})^T dZ_l + P_l^T RdZ_l + l2 V_l          Rgb_l = sum RdZ_l
    RdS_{l-1} = col2im(RdZ_l W_l^T + dZ_l V_l^T)     (l = 1: the rows of H_xw v)

Weight layout (``unpack``): W_l has shape (C_{l-1}, k, k, C_l): filter j is W_l[:, :, :, j], and
W_l[c, a, b, j] multiplies channel c of the input pixel a rows down and b columns right of the
window's top-left corner (a cross-correlation, as in most libraries). b_l is (C_l,). The dense
W_L is (m, K) with m = (oh/p) (ow/p) C_B, F's columns in (row, column, channel) order.
"""
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .base import Model
from .functions import col_sum, softmax, softmax_jvp, t_matmul
from .mlp import ACTIVATIONS, check_activation
from .softmax import cross_entropy, one_hot


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


def pool(A, p):
    """Mean over non-overlapping p x p blocks: (n, oh, ow, C) -> (n, oh//p, ow//p, C).

    Summed as p^2 strided slices (the (a, b)-th pixel of every block at once): measured 4x
    faster than ``reshape(n, ph, p, pw, p, C).sum(axis=(2, 4))``, a reduction over two
    non-adjacent short axes.
    """
    n, oh, ow, C = A.shape
    ph, pw = oh // p, ow // p
    out = A[:, 0:ph * p:p, 0:pw * p:p].copy()                 # pixel (0, 0) of every block
    for a in range(p):
        for b in range(p):
            if a or b:
                out += A[:, a:ph * p:p, b:pw * p:p]            # pixel (a, b) of every block
    out /= p * p
    return out


def pool_T(G, p, oh, ow):
    """Adjoint of ``pool``: (n, ph, pw, C) -> (n, oh, ow, C), G/p^2 on each pixel of its block;
    rows and columns that the pool cut off get zero."""
    n, ph, pw, C = G.shape
    covered = (ph * p, pw * p) == (oh, ow)
    out = np.empty((n, oh, ow, C)) if covered else np.zeros((n, oh, ow, C))
    share = G / (p * p)                                        # (n, ph, pw, C)
    for a in range(p):
        for b in range(p):
            out[:, a:ph * p:p, b:pw * p:p] = share             # pixel (a, b) of every block
    return out


@dataclass(frozen=True)
class CNN(Model):
    """Convolutional blocks of ``channels`` filters each (a tuple, e.g. (4,) or (4, 8)) of size
    ``kernel`` x ``kernel``, ``activation`` (tanh, sigmoid, softplus), ``pool`` x ``pool``
    average pooling, then a dense softmax layer over ``n_classes``. ``image_shape`` = (h, w)
    with h * w = ``n_features``; ``l2`` on every W_l (not on biases). See the module docstring
    for the formulas and the weight layout.
    """

    n_features: int
    image_shape: tuple
    n_classes: int
    channels: tuple = (4,)
    kernel: int = 5
    pool: int = 2
    activation: str = "tanh"
    l2: float = 0.0

    def __post_init__(self):
        super().__post_init__()
        check_activation(self.activation)
        shape = tuple(self.image_shape) if isinstance(self.image_shape, (list, tuple)) else ()
        if len(shape) != 2 or any(not _is_positive_int(s) for s in shape):
            raise ValueError(f"image_shape must be (height, width), positive integers; "
                             f"got {self.image_shape!r}")
        if shape[0] * shape[1] != self.n_features:
            raise ValueError(f"image_shape {shape} has {shape[0] * shape[1]} pixels but "
                             f"n_features = {self.n_features}")
        channels = tuple(self.channels) if isinstance(self.channels, (list, tuple)) \
            else (self.channels,)
        if not channels or any(not _is_positive_int(c) for c in channels):
            raise ValueError(f"channels must be a non-empty tuple of integers >= 1; "
                             f"got {self.channels!r}")
        for name in ("kernel", "pool"):
            if not _is_positive_int(getattr(self, name)):
                raise ValueError(f"{name} must be an integer >= 1; got {getattr(self, name)!r}")
        object.__setattr__(self, "image_shape", shape)
        object.__setattr__(self, "channels", channels)
        h, w = shape
        for l in range(1, len(channels) + 1):                  # the geometry, block by block
            if self.kernel > min(h, w):
                raise ValueError(f"kernel={self.kernel} is larger than the "
                                 f"{'image' if l == 1 else f'input of block {l}'} ({h} x {w})")
            h, w = h - self.kernel + 1, w - self.kernel + 1
            if self.pool > min(h, w):
                raise ValueError(f"pool={self.pool} is larger than the convolution output "
                                 f"of block {l} ({h} x {w})")
            h, w = h // self.pool, w // self.pool

    # ---- layout ------------------------------------------------------------------------------
    @property
    def blocks(self):
        """Per convolutional block: (C_in, h_in, w_in, C_out, oh, ow), sizes in and out of the
        convolution (the pooled size is (oh // pool, ow // pool))."""
        out, (h, w), c_in, k = [], self.image_shape, 1, self.kernel
        for c_out in self.channels:
            oh, ow = h - k + 1, w - k + 1
            out.append((c_in, h, w, c_out, oh, ow))
            h, w, c_in = oh // self.pool, ow // self.pool, c_out
        return out

    @property
    def n_layers(self):
        """L: convolutional blocks plus the dense output layer."""
        return len(self.channels) + 1

    @property
    def shapes(self):
        out, k = {}, self.kernel
        for l, (c_in, _, _, c_out, oh, ow) in enumerate(self.blocks, 1):
            out[f"W{l}"], out[f"b{l}"] = (c_in, k, k, c_out), (c_out,)
        m = (oh // self.pool) * (ow // self.pool) * c_out
        out[f"W{self.n_layers}"], out[f"b{self.n_layers}"] = (m, self.n_classes), (self.n_classes,)
        return out

    @property
    def penalised(self):
        return tuple(f"W{l}" for l in range(1, self.n_layers + 1))

    @property
    def reverse_needs(self):
        """What ``r_backward`` reads: A_l, D_l, S_l of every block and P (not Z, nor the
        im2col matrices: a reverse pass that keeps T forward passes recomputes them)."""
        return tuple(f"{a}{l}" for l in range(1, self.n_layers) for a in "ADS") + ("P",)

    def init_params(self, rng):
        """Gaussian weights with variance 1/fan_in, zero biases, drawn from ``rng``."""
        w = np.zeros(self.n_params)
        p = self.unpack(w)
        for name in self.penalised:
            fan_in = int(np.prod(p[name].shape[:-1]))          # C k k, or m for the dense layer
            p[name][...] = rng.normal(0.0, 1.0 / np.sqrt(fan_in), p[name].shape)
        return w

    def _matrices(self, w):
        """unpack(w) with every W_l as a (fan_in, fan_out) matrix view."""
        return {name: a.reshape(-1, a.shape[-1]) if name.startswith("W") else a
                for name, a in self.unpack(w).items()}

    def targets(self, y):
        return one_hot(y, self.n_classes)                      # (n, K)

    def raw_scores(self, w, X):
        return self.forward(w, X)["Z"]                         # (n, K)

    def sample_losses(self, acts, Y):
        return cross_entropy(acts["Z"], Y)                     # (n,)

    # ---- the four building blocks ----------------------------------------------------------
    def _image(self, X):
        return X.reshape((X.shape[0],) + self.image_shape + (1,))   # S_0, (n, h, w, 1)

    def _input(self, X, acts, l):
        """S_{l-1}: the images for l = 1, else the pooled output of block l - 1."""
        return self._image(X) if l == 1 else acts[f"S{l - 1}"]

    def forward(self, w, X):
        """acts: A_l, D_l (n, oh, ow, C_l), S_l (pooled) and the im2col matrix P_l ("patches_l",
        for the training step's ``backward``; a reverse pass does not keep it) for each block;
        Z and P (n, K)."""
        p, k = self._matrices(w), self.kernel
        f, df, _ = ACTIVATIONS[self.activation]
        acts, S = {}, self._image(X)
        for l, (_, _, _, c, oh, ow) in enumerate(self.blocks, 1):
            acts[f"patches{l}"] = im2col(S, k)                 # P_l, (n*oh*ow, C_{l-1} k k)
            Z = acts[f"patches{l}"] @ p[f"W{l}"] + p[f"b{l}"]  # Z_l, (n*oh*ow, C_l)
            Z = Z.reshape(X.shape[0], oh, ow, c)
            A = f(Z)                                           # A_l
            S = pool(A, self.pool)                             # S_l, (n, oh/p, ow/p, C_l)
            acts[f"A{l}"], acts[f"D{l}"], acts[f"S{l}"] = A, df(A), S
        L = self.n_layers
        Z = S.reshape(X.shape[0], -1) @ p[f"W{L}"] + p[f"b{L}"]   # (n, K)
        acts["Z"], acts["P"] = Z, softmax(Z)
        return acts

    def backward(self, w, X, Y, acts):
        p, L, n, k = self._matrices(w), self.n_layers, X.shape[0], self.kernel
        g = {}
        dZ = (acts["P"] - Y) / n                               # (n, K)
        S = acts[f"S{L - 1}"]
        g[f"W{L}"] = S.reshape(n, -1).T @ dZ + self.l2 * p[f"W{L}"]   # F^T dZ, (m, K)
        g[f"b{L}"] = col_sum(dZ)
        dS = (dZ @ p[f"W{L}"].T).reshape(S.shape)              # dS_B
        for l in range(L - 1, 0, -1):
            _, _, _, c, oh, ow = self.blocks[l - 1]
            dZl = (pool_T(dS, self.pool, oh, ow) * acts[f"D{l}"]).reshape(-1, c)  # (n*oh*ow, C_l)
            S_in = self._input(X, acts, l)                     # S_{l-1}
            g[f"W{l}"] = t_matmul(acts[f"patches{l}"], dZl) + self.l2 * p[f"W{l}"]   # P_l^T dZ_l
            g[f"b{l}"] = col_sum(dZl)
            if l > 1:
                dS = col2im(dZl @ p[f"W{l}"].T, S_in.shape, k)  # dS_{l-1}
        return self.pack({name: g[name] for name in self.shapes})

    def r_backward(self, w, X, Y, acts, v, rows):
        p, q = self._matrices(w), self._matrices(v)
        L, n, k, f2 = self.n_layers, X.shape[0], self.kernel, ACTIVATIONS[self.activation][2]
        blocks = self.blocks
        # forward lines again, and their R-derivatives (RS_0 = 0)
        RZ, RS, P, RP = {}, {0: None}, {}, {}                  # P_l, RP_l kept for RgW_l
        for l, (_, _, _, c, oh, ow) in enumerate(blocks, 1):
            # P_l: from the forward pass if the caller kept it, else (a reverse pass) again
            P[l] = acts.get(f"patches{l}")
            P[l] = im2col(self._input(X, acts, l), k) if P[l] is None else P[l]
            R = P[l] @ q[f"W{l}"] + q[f"b{l}"]                 # P_l V_l + c_l
            if l > 1:
                RP[l] = im2col(RS[l - 1], k)                   # R{P_l} = im2col(RS_{l-1})
                R += RP[l] @ p[f"W{l}"]                        # + RP_l W_l
            RZ[l] = R.reshape(n, oh, ow, c)
            RS[l] = pool(acts[f"D{l}"] * RZ[l], self.pool)     # pool(RA_l)
        S = acts[f"S{L - 1}"]
        F, RF = S.reshape(n, -1), RS[L - 1].reshape(n, -1)     # (n, m)
        RZo = RF @ p[f"W{L}"] + F @ q[f"W{L}"] + q[f"b{L}"]    # (n, K)
        # backward lines, and their R-derivatives
        Hv = {}
        dZ = (acts["P"] - Y) / n
        RdZ = softmax_jvp(acts["P"], RZo) / n
        Hv[f"W{L}"] = RF.T @ dZ + F.T @ RdZ + self.l2 * q[f"W{L}"]
        Hv[f"b{L}"] = col_sum(RdZ)
        dS = (dZ @ p[f"W{L}"].T).reshape(S.shape)              # dS_B
        RdS = (RdZ @ p[f"W{L}"].T + dZ @ q[f"W{L}"].T).reshape(S.shape)
        for l in range(L - 1, 0, -1):
            _, _, _, c, oh, ow = blocks[l - 1]
            D = acts[f"D{l}"]
            dA = pool_T(dS, self.pool, oh, ow)                 # (n, oh, ow, C_l)
            dZl = dA * D
            RdZl = pool_T(RdS, self.pool, oh, ow) * D + dA * f2(acts[f"A{l}"], D) * RZ[l]
            S_in = self._input(X, acts, l)                     # S_{l-1}
            RgW = t_matmul(P[l], RdZl.reshape(-1, c)) + self.l2 * q[f"W{l}"]   # P_l^T RdZ_l
            if l > 1:
                RgW += t_matmul(RP[l], dZl.reshape(-1, c))     # + RP_l^T dZ_l
            Hv[f"W{l}"], Hv[f"b{l}"] = RgW, col_sum(RdZl.reshape(-1, c))
            if l > 1:
                RdP = RdZl.reshape(-1, c) @ p[f"W{l}"].T + dZl.reshape(-1, c) @ q[f"W{l}"].T
                dS = col2im(dZl.reshape(-1, c) @ p[f"W{l}"].T, S_in.shape, k)   # dS_{l-1}
                RdS = col2im(RdP, S_in.shape, k)               # RdS_{l-1}
        # l = 1: the rows of R{grad_X L} = col2im(RdZ_1 W_1^T + dZ_1 V_1^T)
        dZr, RdZr = dZl[rows].reshape(-1, c), RdZl[rows].reshape(-1, c)
        RdP = RdZr @ p["W1"].T + dZr @ q["W1"].T               # (r*oh*ow, k*k)
        r = dZl[rows].shape[0]
        dX_r = col2im(RdP, (r,) + self.image_shape + (1,), k).reshape(r, self.n_features)
        return self.pack({name: Hv[name] for name in self.shapes}), dX_r


def _is_positive_int(x):
    return not isinstance(x, bool) and isinstance(x, (int, np.integer)) and x >= 1
