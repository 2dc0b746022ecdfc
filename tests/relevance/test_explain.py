"""``rnnxbench.explain()`` on a researcher's own torch model; LSTM relevance checked by hand
and against an independent NumPy implementation of the reference algorithm (Arras et al.,
ArrasL/LRP_for_LSTM)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

import rnnxbench
from rnnxbench.registry import UnknownNameError
from rnnxbench.relevance import UnsupportedModel

F64 = torch.float64


# ------------------------------------------------------------------ hand-computed example
def test_two_step_lstm_by_hand_signal_take_all():
    """LSTM (input 2, hidden 1, T=2) + linear output, every number set by hand; relevance
    computed with scalar arithmetic following recurrent-lrp.md (eps=1e-3, bias absorbed)."""
    lstm = nn.LSTM(2, 1, batch_first=True).double()
    # torch's row order: i, f, g, o
    wx = {"i": (0.6, -0.4), "f": (0.3, 0.8), "g": (1.1, -0.7), "o": (-0.5, 0.9)}
    wh = {"i": 0.2, "f": -0.3, "g": 0.9, "o": 0.4}
    bx = {"i": 0.1, "f": 0.5, "g": -0.2, "o": 0.05}
    bh = {"i": -0.05, "f": 0.2, "g": 0.1, "o": 0.0}
    order = ("i", "f", "g", "o")
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(torch.tensor([wx[k] for k in order], dtype=F64))
        lstm.weight_hh_l0.copy_(torch.tensor([[wh[k]] for k in order], dtype=F64))
        lstm.bias_ih_l0.copy_(torch.tensor([bx[k] for k in order], dtype=F64))
        lstm.bias_hh_l0.copy_(torch.tensor([bh[k] for k in order], dtype=F64))
    w_out = (1.5, -0.7)  # two classes; explain class 0

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = lstm
            self.out = nn.Linear(1, 2, bias=False).double()
            with torch.no_grad():
                self.out.weight.copy_(torch.tensor([[w_out[0]], [w_out[1]]], dtype=F64))

        def forward(self, x):
            return self.out(self.lstm(x)[0][:, -1])

    xs = [(0.5, -1.0), (1.2, 0.3)]

    def sig(v):
        return 1.0 / (1.0 + math.exp(-v))

    def pre(k, x, h):
        return wx[k][0] * x[0] + wx[k][1] * x[1] + wh[k] * h + bx[k] + bh[k]

    # forward
    h, c, steps = 0.0, 0.0, []
    for x in xs:
        i, f, o = sig(pre("i", x, h)), sig(pre("f", x, h)), sig(pre("o", x, h))
        z_g = pre("g", x, h)
        g = math.tanh(z_g)
        c_new = f * c + i * g
        steps.append({"x": x, "h_prev": h, "c_prev": c, "i": i, "f": f, "g": g, "z_g": z_g,
                      "c": c_new})
        h, c = o * math.tanh(c_new), c_new
    y0 = w_out[0] * h
    eps = 1e-3

    def st(z):  # z + eps sign(z), sign(0) = +1
        return z + eps * (1.0 if z >= 0 else -1.0)

    # backward: output layer, epsilon rule, R = y_0
    R_h2 = w_out[0] * h / st(y0) * y0
    s1, s2 = steps
    # step 2: all of R(h_2) to c_2; c_2 = f_2 c_1 + i_2 g_2 split with z = c_2
    R_c2 = R_h2
    R_c1 = s2["f"] * s2["c_prev"] / st(s2["c"]) * R_c2
    R_g2 = s2["i"] * s2["g"] / st(s2["c"]) * R_c2
    # g_2 through tanh unchanged, epsilon rule over [x_2 | h_1] with z = z_g2 (bias in z)
    R_x2 = [wx["g"][k] * s2["x"][k] / st(s2["z_g"]) * R_g2 for k in range(2)]
    R_h1 = wh["g"] * s2["h_prev"] / st(s2["z_g"]) * R_g2
    # step 1: R(c_1) += R(h_1); c_0 = 0 gets f_1 * 0 = nothing, h_0 = 0 nothing
    R_c1 += R_h1
    R_g1 = s1["i"] * s1["g"] / st(s1["c"]) * R_c1
    R_x1 = [wx["g"][k] * s1["x"][k] / st(s1["z_g"]) * R_g1 for k in range(2)]
    expected = torch.tensor([[R_x1, R_x2]], dtype=F64)

    model = Model().eval()
    x = torch.tensor([xs], dtype=F64)
    assert model(x)[0, 0].item() == pytest.approx(y0, abs=1e-14)
    R = rnnxbench.explain(model, x, 0, method="lrp_eps", start="logit")
    torch.testing.assert_close(R, expected, rtol=0, atol=1e-10)
    # sanity of the example itself: nothing vanishes, the bias share is really absorbed
    assert min(abs(v) for v in R_x1 + R_x2) > 1e-3
    assert abs(sum(R_x1 + R_x2) - y0) > 1e-3


# ------------------------------------------------------------------ NumPy reference
def _lrp_linear(hin, w, b, hout, Rout, bias_nb_units, eps, bias_factor):
    """The reference's lrp_linear: hin (D,), w (D, M), b (M,), hout (M,), Rout (M,)."""
    sign_out = np.where(hout[None, :] >= 0, 1.0, -1.0)
    numer = w * hin[:, None] + bias_factor * (b[None, :] + eps * sign_out) / bias_nb_units
    denom = hout[None, :] + eps * sign_out
    return (numer / denom * Rout[None, :]).sum(axis=1)


def _sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


class _NumpyLSTM:
    """One LSTM direction; row -1 of h and c (index T) is the zero initial state."""

    def __init__(self, w_ih, w_hh, b_ih, b_hh):
        self.w_ih, self.w_hh, self.b_ih, self.b_hh = w_ih, w_hh, b_ih, b_hh
        d = w_hh.shape[1]
        self.d = d
        self.i, self.f, self.g, self.o = (np.arange(k * d, (k + 1) * d) for k in range(4))

    def forward(self, x):
        T, d = len(x), self.d
        self.x = x
        self.h, self.c = np.zeros((T + 1, d)), np.zeros((T + 1, d))
        self.pre, self.gates = np.zeros((T, 4 * d)), np.zeros((T, 4 * d))
        for t in range(T):
            self.pre[t] = (self.w_ih @ x[t] + self.b_ih) + (self.w_hh @ self.h[t - 1]
                                                             + self.b_hh)
            self.gates[t] = _sigmoid(self.pre[t])
            self.gates[t, self.g] = np.tanh(self.pre[t, self.g])
            self.c[t] = (self.gates[t, self.f] * self.c[t - 1]
                         + self.gates[t, self.i] * self.gates[t, self.g])
            self.h[t] = self.gates[t, self.o] * np.tanh(self.c[t])
        return self.h[T - 1]

    def lrp(self, R_last, eps, bias_factor):
        """Input relevance and the initial states' relevance (the reference's loop)."""
        T, d, e = len(self.x), self.d, self.x.shape[1]
        Rx = np.zeros(self.x.shape)
        Rh, Rc = np.zeros((T + 1, d)), np.zeros((T + 1, d))
        Rh[T - 1] = R_last
        b_g = self.b_ih[self.g] + self.b_hh[self.g]
        eye, zeros = np.identity(d), np.zeros(d)
        for t in reversed(range(T)):
            Rc[t] += Rh[t]
            Rc[t - 1] = _lrp_linear(self.gates[t, self.f] * self.c[t - 1], eye, zeros,
                                    self.c[t], Rc[t], 2 * d, eps, bias_factor)
            Rg = _lrp_linear(self.gates[t, self.i] * self.gates[t, self.g], eye, zeros,
                             self.c[t], Rc[t], 2 * d, eps, bias_factor)
            Rx[t] = _lrp_linear(self.x[t], self.w_ih[self.g].T, b_g, self.pre[t, self.g], Rg,
                                d + e, eps, bias_factor)
            Rh[t - 1] = _lrp_linear(self.h[t - 1], self.w_hh[self.g].T, b_g,
                                    self.pre[t, self.g], Rg, d + e, eps, bias_factor)
        return Rx, Rh[-1].sum() + Rc[-1].sum()


def _np(p):
    return p.detach().numpy().astype(np.float64)


def _reference_lrp(lstm, w_out, x, target, eps, bias_factor, bidirectional):
    """Per sample: the reference's (bidirectional) LSTM + linear output LRP, in NumPy."""
    out = np.zeros(x.shape)
    rest = np.zeros(x.shape[0])
    w_out = _np(w_out)
    for n, xn in enumerate(x.numpy()):
        left = _NumpyLSTM(*(_np(getattr(lstm, f"{k}_l0")) for k in
                            ("weight_ih", "weight_hh", "bias_ih", "bias_hh")))
        hs = [left.forward(xn)]
        dirs = [left]
        if bidirectional:
            right = _NumpyLSTM(*(_np(getattr(lstm, f"{k}_l0_reverse")) for k in
                                 ("weight_ih", "weight_hh", "bias_ih", "bias_hh")))
            hs.append(right.forward(xn[::-1].copy()))
            dirs.append(right)
        h_cat = np.concatenate(hs)
        s = w_out @ h_cat
        mask = np.zeros(len(s))
        mask[target[n]] = 1.0
        D = len(h_cat)
        R_cat = _lrp_linear(h_cat, w_out.T, np.zeros(len(s)), s, s * mask, D, eps, bias_factor)
        d = lstm.hidden_size
        Rx_left, rest_left = left.lrp(R_cat[:d], eps, bias_factor)
        out[n] += Rx_left
        rest[n] += rest_left
        if bidirectional:
            Rx_right, rest_right = right.lrp(R_cat[d:], eps, bias_factor)
            out[n] += Rx_right[::-1]
            rest[n] += rest_right
    return out, rest


class LastStateClassifier(nn.Module):
    """Linear (no bias) over [last step's forward state | first step's backward state]."""

    def __init__(self, n_in, hidden, n_classes, bidirectional):
        super().__init__()
        self.hidden = hidden
        self.lstm = nn.LSTM(n_in, hidden, batch_first=True, bidirectional=bidirectional)
        self.out = nn.Linear(hidden * (2 if bidirectional else 1), n_classes, bias=False)

    def forward(self, x):
        out, _ = self.lstm(x)
        if not self.lstm.bidirectional:
            return self.out(out[:, -1])
        H = self.hidden
        return self.out(torch.cat([out[:, -1, :H], out[:, 0, H:]], dim=1))


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("bias_factor", [0.0, 1.0])
def test_matches_numpy_reference_implementation(bidirectional, bias_factor):
    torch.manual_seed(6)
    model = LastStateClassifier(3, 4, 5, bidirectional).double().eval()
    with torch.no_grad():  # larger biases make the bias handling matter
        for name, p in model.lstm.named_parameters():
            if name.startswith("bias"):
                p.uniform_(-1, 1)
    x = torch.randn(4, 5, 3, dtype=F64)
    target = torch.tensor([0, 3, 1, 4])
    R = rnnxbench.explain(model, x, target, method="lrp_eps", epsilon=0.001,
                          bias_factor=bias_factor, start="logit")
    ref, rest = _reference_lrp(model.lstm, model.out.weight, x, target.numpy(), 0.001,
                               bias_factor, bidirectional)
    np.testing.assert_allclose(R.numpy(), ref, rtol=0, atol=1e-8)
    assert np.abs(ref).max() > 1e-2
    if bias_factor == 1.0:  # the reference's own sanity check: input + initial-state share
        score = model(x).gather(1, target[:, None])[:, 0].detach().numpy()
        np.testing.assert_allclose(ref.sum(axis=(1, 2)) + rest, score, rtol=1e-10)


# ------------------------------------------------------------------ researchers' models
class BiLSTMStack(nn.Module):
    """Stacked bidirectional LSTM; head over [h_n fwd | h_n bwd] of the top layer, or over
    ``out[:, -1]``."""

    def __init__(self, use_h_n=True):
        super().__init__()
        self.use_h_n = use_h_n
        self.lstm = nn.LSTM(4, 6, num_layers=2, batch_first=True, bidirectional=True)
        self.head = nn.Linear(12, 3)

    def forward(self, x):
        out, (h_n, _) = self.lstm(x)
        feats = torch.cat([h_n[-2], h_n[-1]], dim=1) if self.use_h_n else out[:, -1]
        return self.head(feats)


class GRUModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(4, 6, batch_first=True)
        self.head = nn.Linear(6, 3)

    def forward(self, x):
        return self.head(self.gru(x)[0][:, -1])


class RNNModel(nn.Module):
    def __init__(self, nonlinearity="tanh"):
        super().__init__()
        self.rnn = nn.RNN(4, 6, num_layers=2, nonlinearity=nonlinearity)  # time-major
        self.act = nn.ReLU()
        self.head = nn.Linear(6, 3)

    def forward(self, x):
        out, _ = self.rnn(x.transpose(0, 1))
        return self.head(self.act(out[-1]))


class ConvLSTM(nn.Module):
    """Conv1d over time + ReLU + AvgPool1d, then an LSTM and a head on its last output."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(4, 5, kernel_size=3, padding=1)
        self.relu = nn.ReLU()
        self.pool = nn.AvgPool1d(2)
        self.lstm = nn.LSTM(5, 6, batch_first=True)
        self.head = nn.Linear(6, 3)

    def forward(self, x):  # (N, T, 4)
        z = self.pool(self.relu(self.conv(x.transpose(1, 2)))).transpose(1, 2)
        out, _ = self.lstm(z)
        return self.head(out[:, -1])


class ConvPoolReluLSTM(ConvLSTM):
    """ConvLSTM with average pooling before the ReLU."""

    def forward(self, x):
        z = self.relu(self.pool(self.conv(x.transpose(1, 2)))).transpose(1, 2)
        return self.head(self.lstm(z)[0][:, -1])


class FramesLSTM(nn.Module):
    """A Conv2d feature extractor applied to every frame of (N, T, 1, 8, 8), then an LSTM."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(),
                                      nn.MaxPool2d(2), nn.Conv2d(3, 4, 3), nn.Tanh(),
                                      nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.lstm = nn.LSTM(4, 5, batch_first=True, bidirectional=True)
        self.head = nn.Linear(10, 3)

    def forward(self, x):
        N, T = x.shape[:2]
        f = self.features(x.reshape(N * T, *x.shape[2:])).reshape(N, T, -1)
        return self.head(self.lstm(f)[0][:, -1])


MODELS = {"bilstm_h_n": (lambda: BiLSTMStack(True), (3, 7, 4)),
          "bilstm_last": (lambda: BiLSTMStack(False), (3, 7, 4)),
          "gru": (GRUModel, (3, 7, 4)),
          "rnn": (RNNModel, (3, 7, 4)),
          "conv1d_lstm": (ConvLSTM, (3, 8, 4)),
          "conv1d_pool_relu_lstm": (ConvPoolReluLSTM, (3, 8, 4)),
          "frames_lstm": (FramesLSTM, (2, 4, 1, 8, 8))}


@pytest.mark.parametrize("name", list(MODELS))
def test_explain_researcher_models(name, monkeypatch):
    torch.manual_seed(7)
    make, shape = MODELS[name]
    model = make().eval()
    x = torch.randn(shape)
    target = model(x).argmax(dim=1)

    # the fused torch RNN kernels are never used, cuDNN is off, nothing runs in train mode
    def no_fused(self, *args, **kwargs):
        raise AssertionError("torch's fused RNN forward ran")

    for cls in (nn.LSTM, nn.GRU, nn.RNN):
        monkeypatch.setattr(cls, "forward", no_fused)
    seen = []

    def record(module, args):
        seen.append((module.training, torch.backends.cudnn.enabled))

    handles = [m.register_forward_pre_hook(record) for m in model.modules()]
    with torch.backends.cudnn.flags(enabled=True):
        R = rnnxbench.explain(model, x, target, start="logit")
    for handle in handles:
        handle.remove()
    assert seen and all(not training and not cudnn for training, cudnn in seen)
    assert R.shape == x.shape and R.dtype == x.dtype
    assert torch.isfinite(R).all() and R.abs().sum() > 0
    assert not model.training
    assert all(p.grad is None and p.requires_grad for p in model.parameters())
    # each sample's relevance is its own: explaining it alone gives the same
    R0 = rnnxbench.explain(model, x[:1], target[:1], start="logit")
    torch.testing.assert_close(R0, R[:1], rtol=1e-4, atol=1e-6)


def _relevance_with_initial_states(model, x, target, **options):
    """lrp_eps relevance of the inputs and of explicit zero initial states of every
    recurrent module (injected by a pre-hook), in one relevance-mode pass."""
    from rnnxbench.explainers.propagation import LRPEpsilon
    from rnnxbench.relevance import relevance_mode

    states = []

    def inject(module, args):
        input = args[0]
        n = input.shape[0] if module.batch_first else input.shape[1]
        D = 2 if module.bidirectional else 1
        zeros = [input.new_zeros(module.num_layers * D, n, module.hidden_size,
                                 requires_grad=True) for _ in range(2)]
        states.extend(zeros if isinstance(module, nn.LSTM) else zeros[:1])
        return (input, tuple(zeros) if isinstance(module, nn.LSTM) else zeros[0])

    composite = LRPEpsilon(model, **options).composite(None)
    rnns = [m for m in model.modules() if isinstance(m, nn.RNNBase)]
    handles = [m.register_forward_pre_hook(inject) for m in rnns]
    xx = x.clone().requires_grad_(True)
    try:
        with relevance_mode(model, composite):
            y = model(xx)
            score = y.detach().gather(1, target[:, None])
            R0 = torch.zeros_like(y).scatter(1, target[:, None], score)
            Rx, *R_states = torch.autograd.grad(y, [xx, *states], R0)
    finally:
        for handle in handles:
            handle.remove()
    dims = tuple(range(1, x.dim()))
    R_init = sum(r.sum(dim=(0, 2)) for r in R_states)
    return Rx, R_init, score[:, 0], dims


@pytest.mark.parametrize("name", MODELS)
def test_explain_conserves_with_bias_factor_one_up_to_initial_states(name):
    """float64, bias_factor=1, start="logit": sum(input relevance) + the zero initial
    states' share == explained score, through conv, pooling, ReLU/tanh, reshaping,
    indexing and concatenation (the initial states' share is not zero, see test_cells)."""
    torch.manual_seed(8)
    make, shape = MODELS[name]
    model = make().double().eval()
    x = torch.randn(shape, dtype=F64)
    target = model(x).argmax(dim=1)
    R = rnnxbench.explain(model, x, target, bias_factor=1.0, start="logit")
    Rx, R_init, score, dims = _relevance_with_initial_states(model, x, target,
                                                             bias_factor=1.0)
    torch.testing.assert_close(Rx, R, rtol=0, atol=1e-12)
    torch.testing.assert_close(R.sum(dim=dims) + R_init, score, rtol=1e-6, atol=0)


def test_other_methods_by_name():
    torch.manual_seed(9)
    lstm_model, x = BiLSTMStack().eval(), torch.randn(2, 5, 4)
    relu_model = RNNModel("relu").eval()
    for method in ("lrp_eps", "lrp", "sa"):
        R = rnnxbench.explain(lstm_model, x, 1, method=method)
        assert R.shape == x.shape and torch.isfinite(R).all()
    for method in ("dtd", "gb", "lrp", "sa", "lrp_eps"):
        R = rnnxbench.explain(relu_model, x, torch.tensor([0, 2]), method=method)
        assert R.shape == x.shape and torch.isfinite(R).all() and R.abs().sum() > 0
    R = rnnxbench.explain(lstm_model, x, 1, method="lrp_eps", epsilon=0.01)
    assert torch.isfinite(R).all()
    with pytest.raises(UnknownNameError, match="lrp_eps"):
        rnnxbench.explain(lstm_model, x, 1, method="lrp_epsilon")


def test_unknown_or_invalid_options_name_the_valid_ones():
    model, x = BiLSTMStack().eval(), torch.randn(2, 5, 4)
    with pytest.raises(ValueError, match=r"unknown option 'epsilonn'.*closest first\): epsilon"):
        rnnxbench.explain(model, x, 1, method="lrp_eps", epsilonn=0.1)
    with pytest.raises(ValueError, match=r"explain\(method='lrp_eps'\).*bias_factor"):
        rnnxbench.explain(model, x, 1, method="lrp_eps", bias_factor=2.0)


@pytest.mark.parametrize("method", ["dtd", "gb"])
def test_relu_only_methods_refuse_an_lstm(method):
    with pytest.raises(UnsupportedModel, match=r"ReLU network.*'lstm' \(LSTM\)"):
        rnnxbench.explain(BiLSTMStack().eval(), torch.randn(2, 5, 4), 0, method=method)


@pytest.mark.parametrize("norm", [nn.LayerNorm(6), nn.BatchNorm1d(6)], ids=["ln", "bn"])
def test_module_without_rule_is_named(norm):
    class Normed(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(4, 6, batch_first=True)
            self.norm = norm
            self.head = nn.Linear(6, 3)

        def forward(self, x):
            return self.head(self.norm(self.lstm(x)[0][:, -1]))

    model = Normed().eval()
    with pytest.raises(UnsupportedModel, match=rf"'norm' \({type(norm).__name__}\)"):
        rnnxbench.explain(model, torch.randn(2, 5, 4), 0)
    assert rnnxbench.explain(model, torch.randn(2, 5, 4), 0, method="sa").shape == (2, 5, 4)


def test_packed_sequence_is_a_clear_error():
    class Packed(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(4, 6, batch_first=True)
            self.head = nn.Linear(6, 3)

        def forward(self, x):
            lengths = torch.full((x.shape[0],), x.shape[1])
            packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True)
            _, (h_n, _) = self.lstm(packed)
            return self.head(h_n[-1])

    with pytest.raises(UnsupportedModel, match="PackedSequence.*padded"):
        rnnxbench.explain(Packed().eval(), torch.randn(2, 5, 4), 0)


def test_training_flags_are_restored_and_inputs_checked():
    model = BiLSTMStack()
    model.train()
    model.head.eval()
    rnnxbench.explain(model, torch.randn(2, 5, 4), 0)
    assert model.training and model.lstm.training and not model.head.training
    with pytest.raises(TypeError, match="torch.Tensor"):
        rnnxbench.explain(model, np.zeros((2, 5, 4)), 0)


# ------------------------------------------------------------------ README snippet
README_SNIPPET = '''
import torch
from torch import nn
import rnnxbench

class BiLSTMClassifier(nn.Module):
    def __init__(self, n_features=8, hidden=16, n_classes=3):
        super().__init__()
        self.lstm = nn.LSTM(n_features, hidden, num_layers=2, batch_first=True, bidirectional=True)
        self.head = nn.Linear(2 * hidden, n_classes)

    def forward(self, x):  # x: (batch, time, features)
        return self.head(self.lstm(x)[0][:, -1])

torch.manual_seed(0)
model = BiLSTMClassifier().eval()
x = torch.randn(4, 20, 8)
R = rnnxbench.explain(model, x, target=model(x).argmax(1))  # LRP-epsilon, shaped like x
print(R.shape, R.sum(dim=(1, 2)))
'''


def test_readme_snippet_runs_as_is(capsys):
    namespace: dict = {}
    exec(compile(README_SNIPPET, "README-snippet", "exec"), namespace)
    R, x = namespace["R"], namespace["x"]
    assert R.shape == x.shape and torch.isfinite(R).all()
    assert "torch.Size([4, 20, 8])" in capsys.readouterr().out


def test_explain_function_and_its_module_are_both_reachable():
    """``rnnxbench.explain`` is the function; its module keeps a name of its own, so patching
    and importing it by name work."""
    import rnnxbench.explaining as explaining

    assert rnnxbench.explain is explaining.explain
    assert callable(rnnxbench.explain) and explaining.__name__ == "rnnxbench.explaining"


@pytest.mark.parametrize("method", ["lrp", "lrp_eps", "dtd"])
def test_an_in_place_activation_after_a_layer_leaves_its_relevance_as_it_was(method):
    """The rules that reuse a layer's output read the module's own output; the model gets
    a copy, so nn.ReLU(inplace=True) on it changes nothing (and raises nothing)."""
    def model(inplace):
        torch.manual_seed(3)
        return nn.Sequential(nn.Linear(5, 7), nn.ReLU(inplace=inplace), nn.Linear(7, 4),
                             nn.ReLU(inplace=inplace), nn.Linear(4, 2)).double().eval()

    x = torch.rand(6, 5, dtype=F64)
    target = torch.tensor([0, 1, 0, 1, 1, 0])
    kw = {"epsilon": 1e-3} if method == "lrp_eps" else {}
    got = rnnxbench.explain(model(True), x, target, method=method, **kw)
    want = rnnxbench.explain(model(False), x, target, method=method, **kw)
    assert got.abs().sum() > 0
    torch.testing.assert_close(got, want, rtol=0, atol=0)
