"""Arras et al.'s LRP for a bidirectional LSTM classifier, in NumPy, one sentence at a time.

After ``LSTM_bidi.lrp`` of https://github.com/ArrasL/LRP_for_LSTM (Arras, Montavon, Müller
and Samek 2017): the epsilon rule on every linear map (``lrp_linear``), the gates' signals
taking all the relevance of the products (``c_t = f * c_{t-1} + i * g``: relevance goes
to ``f * c_{t-1}`` and ``i * g``, then from ``i * g`` to ``g`` alone) and a bias-free
output layer over ``[h_T (left-to-right) | h_1 (right-to-left)]``. Gate order is torch's
(i, f, g, o; Arras' code orders i, g, f, o). Independent of rnnxbench: the benchmark of
``rnnxbench.explain`` against it (``test_reference_speed.py``) checks the two agree.
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

    def lrp(self, R_last, eps, bias_factor):
        T, d, e = self.x.shape[0], self.d, self.x.shape[1]
        Rx = np.zeros(self.x.shape)
        Rh = np.zeros((T + 1, d))
        Rc = np.zeros((T + 1, d))
        Rg = np.zeros((T, d))
        Rh[T - 1] = R_last
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
            Rh[t - 1] = lrp_linear(self.h[t - 1], self.Whh[self.idx_g].T, b_g,
                                   self.gates_pre[t, self.idx_g], Rg[t], d + e, eps,
                                   bias_factor)
        return Rx


class LSTMBidi:
    """The classifier: ``s = W_out [h_T^left | h_1^right]`` (no bias)."""

    def __init__(self, left, right, Why):
        self.left, self.right, self.Why = Direction(*left), Direction(*right), Why

    def lrp(self, x, target, eps=0.001, bias_factor=0.0):
        """Input relevance ``(T, e)`` of one sentence for class ``target``."""
        h_left = self.left.forward(x)
        h_right = self.right.forward(x[::-1].copy())
        h = np.concatenate([h_left, h_right])
        s = np.dot(self.Why, h)
        mask = np.zeros(len(s))
        mask[target] = 1.0
        R_h = lrp_linear(h, self.Why.T, np.zeros(len(s)), s, s * mask, len(h), eps,
                         bias_factor)
        d = self.left.d
        return self.left.lrp(R_h[:d], eps, bias_factor) + \
            self.right.lrp(R_h[d:], eps, bias_factor)[::-1]
