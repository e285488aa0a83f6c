"""A small convolutional network: valid convolutions, a smooth activation f, average pooling,
then a dense softmax layer. Images are the rows of X (n, h*w), row-major pixels, one channel.

Blocks l = 1..J (one per entry of ``channels``), S_0 = X as (n, h, w, 1), channels last; the
dense layer is l = J + 1:

    M_l = im2col(S_{l-1})       (n*oh*ow, C_{l-1} k k)    every k x k window, one row each
    Z_l = M_l W_l + b_l         (n*oh*ow, C_l)            oh = h_{l-1} - k + 1 (valid)
    F_l = f(Z_l), D_l = f'(Z_l) (n, oh, ow, C_l)
    S_l = pool(F_l)             (n, oh/p, ow/p, C_l)      mean of each p x p block (p divides oh)
    Z = S W_{J+1} + b_{J+1}, S = S_J as (n, s)     P = softmax(Z)

``im2col``, ``pool`` and their adjoints ``col2im``, ``pool_T`` are in ``conv``. Backward, from
dZ = (P - Y)/n:

    gW_{J+1} = S^T dZ + l2 W_{J+1}      dS_J = dZ W_{J+1}^T
    dZ_l = pool^T(dS_l) * D_l       gW_l = M_l^T dZ_l + l2 W_l      gb_l = sum dZ_l
    dS_{l-1} = col2im(dZ_l W_l^T)   (l = 1: grad_X L)

R-pass along u = (U_l, c_l): R{.} of every line, with RS_0 = 0 and D2_l = f''(Z_l):

    RZ_l = im2col(RS_{l-1}) W_l + M_l U_l + c_l      RF_l = D_l * RZ_l     RS_l = pool(RF_l)
    RZ = RS W_{J+1} + S U_{J+1} + c_{J+1}            RdZ = P * (RZ - <P, RZ>)/n
    RgW_{J+1} = RS^T dZ + S^T RdZ + l2 U_{J+1}       RdS_J = RdZ W_{J+1}^T + dZ U_{J+1}^T
    RdZ_l = pool^T(RdS_l) * D_l + pool^T(dS_l) * D2_l * RZ_l
    RgW_l = im2col(RS_{l-1})^T dZ_l + M_l^T RdZ_l + l2 U_l          Rgb_l = sum RdZ_l
    RdS_{l-1} = col2im(RdZ_l W_l^T + dZ_l U_l^T)     (l = 1: the rows of H_xw u)

``forward`` keeps F_l and S_l of every block and log P; like the MLP, the backward passes
recompute D_l and D2_l from F_l, and M_l = im2col(S_{l-1}) from S_{l-1}.

Weight layout (``unpack``): W_l has shape (C_{l-1}, k, k, C_l): filter j is W_l[:, :, :, j], and
W_l[c, a, b, j] multiplies channel c of the input pixel a rows down and b columns right of the
window's top-left corner (a cross-correlation, as in most libraries). b_l is (C_l,). The dense
W_{J+1} is (s, K) with s = (oh/p) (ow/p) C_J, S's columns in (row, column, channel) order.
"""
from dataclasses import dataclass

import numpy as np

from .. import checks
from .base import Model
from .conv import col2im, im2col, pool, pool_T
from .linear import cross_entropy, log_softmax, one_hot, softmax_jvp
from .mlp import ACTIVATIONS, check_activation


@dataclass(frozen=True)
class CNN(Model):
    """Convolutional blocks of ``channels`` filters each (a tuple, e.g. (4,) or (4, 8)) of size
    ``kernel`` x ``kernel``, ``activation`` (tanh, sigmoid, softplus), ``pool`` x ``pool``
    average pooling (``pool`` must divide each convolution's output), then a dense softmax
    layer over ``n_classes``. ``image_shape`` = (h, w) with h * w = ``n_features``; ``l2`` on
    every W_l (not on biases). See the module docstring for the formulas and the layout.
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
        h, w, k, p = shape + (self.kernel, self.pool)
        for l in range(1, len(channels) + 1):                  # the geometry, block by block
            if k > min(h, w):
                raise ValueError(f"kernel={k} is larger than the "
                                 f"{'image' if l == 1 else f'input of block {l}'} ({h} x {w})")
            h, w = h - k + 1, w - k + 1
            if p > min(h, w):
                raise ValueError(f"pool={p} is larger than the convolution output "
                                 f"of block {l} ({h} x {w})")
            if h % p or w % p:
                raise ValueError(f"pool={p} does not divide the {h} x {w} convolution output "
                                 f"of block {l} (kernel={k}): it would drop rows or columns; "
                                 f"choose a pool or kernel so that it divides")
            h, w = h // p, w // p

    # ---- layout ------------------------------------------------------------------------------
    @property
    def blocks(self):
        """Per convolutional block: (C_in, h_in, w_in, C_out, oh, ow), sizes in and out of the
        convolution (the pooled size is (oh / pool, ow / pool))."""
        out, (h, w), c_in, k = [], self.image_shape, 1, self.kernel
        for c_out in self.channels:
            oh, ow = h - k + 1, w - k + 1
            out.append((c_in, h, w, c_out, oh, ow))
            h, w, c_in = oh // self.pool, ow // self.pool, c_out
        return out

    @property
    def n_layers(self):
        """J + 1: convolutional blocks plus the dense output layer."""
        return len(self.channels) + 1

    @property
    def shapes(self):
        out, k = {}, self.kernel
        for l, (c_in, _, _, c_out, oh, ow) in enumerate(self.blocks, 1):
            out[f"W{l}"], out[f"b{l}"] = (c_in, k, k, c_out), (c_out,)
        s = (oh // self.pool) * (ow // self.pool) * c_out
        out[f"W{self.n_layers}"], out[f"b{self.n_layers}"] = (s, self.n_classes), (self.n_classes,)
        return out

    @property
    def penalised(self):
        return tuple(f"W{l}" for l in range(1, self.n_layers + 1))

    def init_params(self, rng):
        """Gaussian weights with variance 1/fan_in, zero biases, drawn from ``rng`` (a
        Generator or an int seed)."""
        rng = checks.generator(rng)
        w = np.zeros(self.n_params)
        p = self.unpack(w)
        for name in self.penalised:
            fan_in = int(np.prod(p[name].shape[:-1]))          # C k k, or s for the dense layer
            p[name][...] = rng.normal(0.0, 1.0 / np.sqrt(fan_in), p[name].shape)
        return w

    def _matrices(self, w):
        """unpack(w) with every W_l as a (fan_in, fan_out) matrix view."""
        return {name: a.reshape(-1, a.shape[-1]) if name.startswith("W") else a
                for name, a in self.unpack(w).items()}

    def targets(self, y):
        return one_hot(y, self.n_classes)                      # (n, K)

    def raw_scores(self, w, X):
        return self.forward(w, X)["logP"]                      # logits, shifted per row

    def sample_losses(self, acts, Y):
        return cross_entropy(acts["logP"], Y)                  # (n,)

    # ---- the building blocks -----------------------------------------------------------------
    def _inputs(self, X, acts):
        """[S_0, ..., S_J]: the images (n, h, w, 1), then each block's pooled output."""
        return [X.reshape((X.shape[0],) + self.image_shape + (1,))] + \
            [acts[f"S{l}"] for l in range(1, self.n_layers)]

    def forward(self, w, X):
        """acts: F_l (n, oh, ow, C_l) and S_l (pooled) of each block l, then log P (n, K)."""
        p, k, out, n = self._matrices(w), self.kernel, self.n_layers, X.shape[0]
        f = ACTIVATIONS[self.activation][0]
        acts, S = {}, X.reshape((n,) + self.image_shape + (1,))   # S_0
        for l, (_, _, _, c, oh, ow) in enumerate(self.blocks, 1):
            Z = im2col(S, k) @ p[f"W{l}"] + p[f"b{l}"]          # Z_l = M_l W_l + b_l
            F = acts[f"F{l}"] = f(Z.reshape(n, oh, ow, c))     # F_l
            S = acts[f"S{l}"] = pool(F, self.pool)             # S_l, (n, oh/p, ow/p, C_l)
        Z = S.reshape(n, -1) @ p[f"W{out}"] + p[f"b{out}"]     # (n, K)
        return {**acts, "logP": log_softmax(Z)}

    def backward(self, w, X, Y, acts):
        p, out, n, k = self._matrices(w), self.n_layers, X.shape[0], self.kernel
        df = ACTIVATIONS[self.activation][1]
        S, g = self._inputs(X, acts), {}
        dZ = (np.exp(acts["logP"]) - Y) / n                    # (P - Y)/n, (n, K)
        g[f"W{out}"] = S[-1].reshape(n, -1).T @ dZ + self.l2 * p[f"W{out}"]   # S^T dZ, (s, K)
        g[f"b{out}"] = dZ.sum(0)
        dS = (dZ @ p[f"W{out}"].T).reshape(S[-1].shape)        # dS_J
        for l in range(out - 1, 0, -1):
            c = self.channels[l - 1]
            D = df(acts[f"F{l}"])                              # D_l = f'(Z_l) from F_l
            dZl = (pool_T(dS, self.pool) * D).reshape(-1, c)   # (n*oh*ow, C_l)
            g[f"W{l}"] = im2col(S[l - 1], k).T @ dZl + self.l2 * p[f"W{l}"]   # M_l^T dZ_l
            g[f"b{l}"] = dZl.sum(0)
            if l > 1:
                dS = col2im(dZl @ p[f"W{l}"].T, S[l - 1].shape, k)   # dS_{l-1}
        return self.pack(g)

    def r_backward(self, w, X, Y, acts, u, rows):
        p, q = self._matrices(w), self._matrices(u)
        out, n, k, pl = self.n_layers, X.shape[0], self.kernel, self.pool
        _, df, d2f = ACTIVATIONS[self.activation]
        S = self._inputs(X, acts)                              # S_0 .. S_J
        M = [None] + [im2col(S[l - 1], k) for l in range(1, out)]   # M_l
        D = [None] + [df(acts[f"F{l}"]) for l in range(1, out)]     # D_l from F_l
        # forward lines again, along u (RS_0 = 0)
        RZ, RS, RM = [None], [None], [None, None]              # RM_l = im2col(RS_{l-1})
        for l, (_, _, _, c, oh, ow) in enumerate(self.blocks, 1):
            R = M[l] @ q[f"W{l}"] + q[f"b{l}"]                 # M_l U_l + c_l
            if l > 1:
                RM.append(im2col(RS[l - 1], k))
                R += RM[l] @ p[f"W{l}"]                        # + RM_l W_l
            RZ.append(R.reshape(n, oh, ow, c))
            RS.append(pool(D[l] * RZ[l], pl))                  # RS_l = pool(RF_l)
        Sf, RSf = S[-1].reshape(n, -1), RS[-1].reshape(n, -1)  # (n, s)
        RZo = RSf @ p[f"W{out}"] + Sf @ q[f"W{out}"] + q[f"b{out}"]   # (n, K)
        # backward lines, and their R-derivatives
        Hu = {}
        P = np.exp(acts["logP"])                               # (n, K)
        dZ = (P - Y) / n
        RdZ = softmax_jvp(P, RZo) / n
        Hu[f"W{out}"] = RSf.T @ dZ + Sf.T @ RdZ + self.l2 * q[f"W{out}"]
        Hu[f"b{out}"] = RdZ.sum(0)
        dS = (dZ @ p[f"W{out}"].T).reshape(S[-1].shape)        # dS_J
        RdS = (RdZ @ p[f"W{out}"].T + dZ @ q[f"W{out}"].T).reshape(S[-1].shape)
        for l in range(out - 1, 0, -1):
            c = self.channels[l - 1]
            dF = pool_T(dS, pl)                                # (n, oh, ow, C_l)
            dZl = dF * D[l]
            RdZl = pool_T(RdS, pl) * D[l] + dF * d2f(acts[f"F{l}"], D[l]) * RZ[l]
            dZm, RdZm = dZl.reshape(-1, c), RdZl.reshape(-1, c)   # (n*oh*ow, C_l)
            RgW = M[l].T @ RdZm + self.l2 * q[f"W{l}"]         # M_l^T RdZ_l + l2 U_l
            if l > 1:
                RgW += RM[l].T @ dZm                           # + RM_l^T dZ_l
            Hu[f"W{l}"], Hu[f"b{l}"] = RgW, RdZm.sum(0)
            if l > 1:
                dS = col2im(dZm @ p[f"W{l}"].T, S[l - 1].shape, k)                       # dS_{l-1}
                RdS = col2im(RdZm @ p[f"W{l}"].T + dZm @ q[f"W{l}"].T, S[l - 1].shape, k)
        # l = 1: the rows of R{grad_X L} = col2im(RdZ_1 W_1^T + dZ_1 U_1^T)
        r = dZl[rows].shape[0]
        RdM = RdZl[rows].reshape(-1, c) @ p["W1"].T + dZl[rows].reshape(-1, c) @ q["W1"].T
        dX_r = col2im(RdM, (r,) + self.image_shape + (1,), k).reshape(r, self.n_features)
        return self.pack(Hu), dX_r


def _is_positive_int(x):
    return not isinstance(x, bool) and isinstance(x, (int, np.integer)) and x >= 1
