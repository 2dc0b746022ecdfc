"""Arras et al.'s LRP for bidirectional recurrent classifiers, in NumPy, one sentence at a
time: the project's independent reference for ``rnnxbench.explain`` on torch's LSTM / GRU.

After ``LSTM_bidi.lrp`` of https://github.com/ArrasL/LRP_for_LSTM (Arras, Montavon, Müller
and Samek 2017): the epsilon rule on every linear map (``lrp_linear``), the gates' signals
taking all the relevance of the products (``c_t = f * c_{t-1} + i * g``: relevance goes
to ``f * c_{t-1}`` and ``i * g``, then from ``i * g`` to ``g`` alone) and a bias-free
output layer over ``[h_T (left-to-right) | h_1 (right-to-left)]``. Gate order is torch's
(i, f, g, o; Arras' code orders i, g, f, o). Beyond Arras' code: stacked layers (relevance
arrives at every output of a lower layer) and a GRU direction with rnnxbench's GRU rule in
the same style. Independent of rnnxbench: the benchmark of ``rnnxbench.explain`` against it
(``test_reference_speed.py``) checks the two agree.
"""

from __future__ import annotations

import numpy as np


def lrp_linear(hin, w, b, hout, Rout, bias_nb_units, eps, bias_factor=0.0):
    """Arras' lrp_linear: ``hin`` (D,), ``w`` (D, M), ``b`` (M,), ``hout`` (M,), ``Rout``
    (M,) -> ``Rin`` (D,)."""
    sign_out = np.where(hout[np.newaxis, :] >= 0, 1.0, -1.0)
    numer = (w * hin[:, np.newaxis]) + (bias_factor * (b[np.newaxis, :] * 1.0
                                                       + eps * sign_out) / bias_nb_units)
    denom = hout[np.newaxis, :] + (eps * sign_out * 1.0)
    message = (numer / denom) * Rout[np.newaxis, :]
    return message.sum(axis=1)


def sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


class Direction:
    """One direction's weights (torch's ``weight_ih``, ``weight_hh``, ``bias_ih``,
    ``bias_hh``) and its forward pass over one sentence."""

    def __init__(self, Wxh, Whh, bxh, bhh):
        self.Wxh, self.Whh, self.bxh, self.bhh = Wxh, Whh, bxh, bhh
        d = Whh.shape[1]
        self.d = d
        self.idx_i, self.idx_f, self.idx_g, self.idx_o = (np.arange(k * d, (k + 1) * d)
                                                          for k in range(4))

    def forward(self, x):
        T, d = x.shape[0], self.d
        self.x = x
        self.gates_pre = np.zeros((T, 4 * d))
        self.gates = np.zeros((T, 4 * d))
        self.h = np.zeros((T + 1, d))  # row -1 (= T) holds the zero initial state
        self.c = np.zeros((T + 1, d))
        for t in range(T):
            self.gates_pre[t] = (np.dot(self.Wxh, x[t]) + self.bxh
                                 + np.dot(self.Whh, self.h[t - 1]) + self.bhh)
            g = self.gates_pre[t]
            self.gates[t] = 1.0 / (1.0 + np.exp(-g))
            self.gates[t, self.idx_g] = np.tanh(g[self.idx_g])
            self.c[t] = (self.gates[t, self.idx_f] * self.c[t - 1]
                         + self.gates[t, self.idx_i] * self.gates[t, self.idx_g])
            self.h[t] = self.gates[t, self.idx_o] * np.tanh(self.c[t])
        return self.h[T - 1]

    def lrp(self, R_out, eps, bias_factor):
        """Input relevance ``(T, e)`` from the relevance ``R_out`` ``(T, d)`` of every
        output h_t (Arras' classifier: only the last is nonzero)."""
        T, d, e = self.x.shape[0], self.d, self.x.shape[1]
        Rx = np.zeros(self.x.shape)
        Rh = np.zeros((T + 1, d))
        Rc = np.zeros((T + 1, d))
        Rg = np.zeros((T, d))
        Rh[:T] = R_out
        b_g = self.bxh[self.idx_g] + self.bhh[self.idx_g]
        identity, zeros = np.identity(d), np.zeros(d)
        for t in reversed(range(T)):
            Rc[t] += Rh[t]
            Rc[t - 1] = lrp_linear(self.gates[t, self.idx_f] * self.c[t - 1], identity, zeros,
                                   self.c[t], Rc[t], 2 * d, eps, bias_factor)
            Rg[t] = lrp_linear(self.gates[t, self.idx_i] * self.gates[t, self.idx_g],
                               identity, zeros, self.c[t], Rc[t], 2 * d, eps, bias_factor)
            Rx[t] = lrp_linear(self.x[t], self.Wxh[self.idx_g].T, b_g,
                               self.gates_pre[t, self.idx_g], Rg[t], d + e, eps, bias_factor)
            Rh[t - 1] += lrp_linear(self.h[t - 1], self.Whh[self.idx_g].T, b_g,
                                    self.gates_pre[t, self.idx_g], Rg[t], d + e, eps,
                                    bias_factor)
        return Rx


class GRUDirection:
    """A GRU direction (torch's gate rows r, z, n) with rnnxbench's rule for it (see
    ``rnnxbench/relevance/cells.py``), written in the reference's style: ``h_t`` splits
    between ``(1 - z) * n`` and ``z * h_{t-1}``, ``n``'s relevance between
    ``W_in x + b_in`` and ``r * (W_hn h + b_hn)`` (r a gate), each through ``lrp_linear``."""

    def __init__(self, Wxh, Whh, bxh, bhh):
        self.Wxh, self.Whh, self.bxh, self.bhh = Wxh, Whh, bxh, bhh
        d = Whh.shape[1]
        self.d = d
        self.idx_r, self.idx_z, self.idx_n = (np.arange(k * d, (k + 1) * d) for k in range(3))

    def forward(self, x):
        T, d = x.shape[0], self.d
        self.x = x
        self.h = np.zeros((T + 1, d))
        self.a, self.b, self.rb, self.n_pre, self.keep_n, self.keep_h = (
            np.zeros((T, d)) for _ in range(6))
        for t in range(T):
            xg = np.dot(self.Wxh, x[t]) + self.bxh
            hg = np.dot(self.Whh, self.h[t - 1]) + self.bhh
            r = sigmoid(xg[self.idx_r] + hg[self.idx_r])
            z = sigmoid(xg[self.idx_z] + hg[self.idx_z])
            self.a[t], self.b[t] = xg[self.idx_n], hg[self.idx_n]
            self.rb[t] = r * self.b[t]
            self.n_pre[t] = self.a[t] + self.rb[t]
            n = np.tanh(self.n_pre[t])
            self.keep_n[t], self.keep_h[t] = (1 - z) * n, z * self.h[t - 1]
            self.h[t] = self.keep_n[t] + self.keep_h[t]
        return self.h[T - 1]

    def lrp(self, R_out, eps, bias_factor):
        T, d, e = self.x.shape[0], self.d, self.x.shape[1]
        Rx = np.zeros(self.x.shape)
        Rh = np.zeros((T + 1, d))
        Rh[:T] = R_out
        identity, zeros = np.identity(d), np.zeros(d)
        for t in reversed(range(T)):
            Rn = lrp_linear(self.keep_n[t], identity, zeros, self.h[t], Rh[t], 2 * d, eps,
                            bias_factor)
            Rh[t - 1] += lrp_linear(self.keep_h[t], identity, zeros, self.h[t], Rh[t], 2 * d,
                                    eps, bias_factor)
            Ra = lrp_linear(self.a[t], identity, zeros, self.n_pre[t], Rn, 2 * d, eps,
                            bias_factor)
            Rb = lrp_linear(self.rb[t], identity, zeros, self.n_pre[t], Rn, 2 * d, eps,
                            bias_factor)
            Rx[t] = lrp_linear(self.x[t], self.Wxh[self.idx_n].T, self.bxh[self.idx_n],
                               self.a[t], Ra, e, eps, bias_factor)
            Rh[t - 1] += lrp_linear(self.h[t - 1], self.Whh[self.idx_n].T,
                                    self.bhh[self.idx_n], self.b[t], Rb, d, eps, bias_factor)
        return Rx


class Bidi:
    """The classifier ``s = W_out [h_T^left | h_1^right]`` (no bias) over ``layers``
    bidirectional layers, each a ``(left, right)`` pair of directions (weights as torch's
    ``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``); a layer's input at step t is
    ``[h_t^left | h_t^right]`` of the layer below."""

    def __init__(self, layers, Why, cell=Direction):
        self.layers = [(cell(*left), cell(*right)) for left, right in layers]
        self.Why = Why

    def lrp(self, x, target, eps=0.001, bias_factor=0.0):
        """Input relevance ``(T, e)`` of one sentence for class ``target``."""
        inputs = [x]
        for left, right in self.layers:
            left.forward(inputs[-1])
            right.forward(inputs[-1][::-1].copy())
            T = x.shape[0]
            inputs.append(np.concatenate([left.h[:T], right.h[:T][::-1]], axis=1))
        left, right = self.layers[-1]
        d = left.d
        h = np.concatenate([left.h[x.shape[0] - 1], right.h[x.shape[0] - 1]])
        s = np.dot(self.Why, h)
        mask = np.zeros(len(s))
        mask[target] = 1.0
        R_h = lrp_linear(h, self.Why.T, np.zeros(len(s)), s, s * mask, len(h), eps,
                         bias_factor)
        T = x.shape[0]
        R_left, R_right = np.zeros((T, d)), np.zeros((T, d))
        R_left[T - 1], R_right[T - 1] = R_h[:d], R_h[d:]  # processing order
        for left, right in reversed(self.layers):
            R_in = left.lrp(R_left, eps, bias_factor) + \
                right.lrp(R_right, eps, bias_factor)[::-1]
            R_left, R_right = R_in[:, :d], R_in[:, d:][::-1]
        return R_in
