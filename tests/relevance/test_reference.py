"""Relevance against independent references (float64).

a. T = 1 (feed-forward): rnnxbench's rules agree with zennit's rules on torch models
   (dense and conv nets) and on the thesis' Shallow/Deep, with identical stabilisers
   (zennit's float stabiliser is ``z + eps * sign(z)``, ``sign(0) = +1``, as ours) and
   biases zeroed in zennit's z+ / alpha-beta / z-beta / w^2 rules (``zero_params``), since
   zennit keeps a clamped bias in some of their branches and ours ignore biases.
b. T >= 2: the thesis' relevance recursion (spec §2 'Through time'), written out step by step
   on the activations of a plain ``forward_steps`` pass with explicit per-step contribution
   tensors ``c_ij`` (no autograd, no hooks), equals ``dtd`` / ``lrp`` / ``lrp_eps``.
c. zennit keeps one hook state per module: when a layer is applied at every step, each call
   overwrites what its rule stored, so for T >= 2 zennit's relevance is wrong, while it
   matches the reference at T = 1.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rnnxbench.models import Deep, Shallow
from rnnxbench.models.layers import ThesisConv2d, ThesisLinear
from rnnxbench.registry import EXPLAINERS
from rnnxbench.relevance import (
    AlphaBeta,
    Composite,
    Epsilon,
    WSquare,
    ZBox,
    ZPlus,
    propagate,
)
from rnnxbench.tasks.base import InputSpec

DT = torch.float64
N = 5
D = 12  # step size of the small thesis models
SMALL = {"shallow": {"hidden": 16},
         "deep": {"in_units": 16, "cell_units": 8, "rec_units": 16, "head_units": 4}}
ARCHS = {"shallow": Shallow, "deep": Deep}


@pytest.fixture(scope="module")
def zn():
    """zennit (installed in CI; a test dependency)."""
    pytest.importorskip("zennit")
    import zennit.attribution
    import zennit.composites
    import zennit.core
    import zennit.rules

    return zennit


def _one_hot_logit(out: torch.Tensor, target: torch.Tensor, positive: bool = False
                   ) -> torch.Tensor:
    score = out.detach().gather(1, target[:, None])
    if positive:
        score = score.clamp(min=0)
    return torch.zeros_like(out).scatter(1, target[:, None], score)


def _zennit_relevance(zn, model, composite, x, target, positive=False) -> torch.Tensor:
    with zn.attribution.Gradient(model=model, composite=composite) as attributor:
        _, R = attributor(x.clone(), lambda out: _one_hot_logit(out, target, positive))
    return R.detach()


def _rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


# ================================================================ a. zennit at T = 1
LINEAR = (nn.Linear, nn.Conv2d, ThesisLinear, ThesisConv2d)


def _mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(20, 16), nn.ReLU(), nn.Linear(16, 12), nn.ReLU(),
                         nn.Linear(12, 10))


def _convnet() -> nn.Module:
    torch.manual_seed(1)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
                         nn.Conv2d(4, 6, 3, padding=1), nn.ReLU(), nn.Flatten(),
                         nn.Linear(6 * 4 * 3, 10))


def _thesis_convnet() -> nn.Module:
    """The thesis' layers: TF-SAME convs (asymmetric pad for even kernels), no bias."""
    torch.manual_seed(2)
    return nn.Sequential(ThesisConv2d(1, 4, (3, 2), "none"), nn.ReLU(), nn.AvgPool2d(2),
                         ThesisConv2d(4, 6, 3, "none"), nn.ReLU(), nn.Flatten(),
                         ThesisLinear(6 * 4 * 3, 10, "none"))


NETS = {"mlp": (_mlp, (20,)), "conv": (_convnet, (1, 8, 6)),
        "thesis_conv": (_thesis_convnet, (1, 8, 6))}


def _cases(zn):
    """(ours, zennit first-layer rule or None, zennit hidden rule), identical settings."""
    r, nb = zn.rules, ["bias"]
    return {
        "epsilon": (Composite(Epsilon(1e-3)), None, r.Epsilon(1e-3)),  # biases kept by both
        "epsilon_big": (Composite(Epsilon(0.25)), None, r.Epsilon(0.25)),
        "zplus": (Composite(ZPlus()), None, r.ZPlus(1e-9, zero_params=nb)),  # signed 1st input
        "dtd": (Composite(ZPlus(), ZBox(-1.0, 1.0)), r.ZBox(-1.0, 1.0, 1e-9, zero_params=nb),
                r.ZPlus(1e-9, zero_params=nb)),
        "ab1.5": (Composite(AlphaBeta(1.5, 0.5), ZBox(-1.0, 1.0)),
                  r.ZBox(-1.0, 1.0, 1e-9, zero_params=nb),
                  r.AlphaBeta(1.5, 0.5, 1e-9, zero_params=nb)),
        "ab2": (Composite(AlphaBeta(2.0, 1.0)), None, r.AlphaBeta(2.0, 1.0, 1e-9, zero_params=nb)),
        "wsquare": (Composite(Epsilon(0.1), WSquare()), r.WSquare(1e-9, zero_params=nb),
                    r.Epsilon(0.1)),
    }


CASES = ["epsilon", "epsilon_big", "zplus", "dtd", "ab1.5", "ab2", "wsquare"]


def _zennit_composite(zn, first, hidden):
    layer_map = [(LINEAR, hidden), (nn.AvgPool2d, zn.rules.Norm(1e-9))]
    if first is None:
        return zn.composites.LayerMapComposite(layer_map)
    return zn.composites.SpecialFirstLayerMapComposite(layer_map, [(LINEAR, first)])


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("net", list(NETS))
def test_feed_forward_agrees_with_zennit(zn, net, case):
    make, shape = NETS[net]
    model = make().to(DT).eval()
    g = torch.Generator().manual_seed(3)
    x = torch.rand(N, *shape, generator=g, dtype=DT) * 2 - 1
    target = torch.randint(0, 10, (N,), generator=g)
    ours_composite, first, hidden = _cases(zn)[case]
    want = _zennit_relevance(zn, model, _zennit_composite(zn, first, hidden), x, target)
    got = propagate(model, x, target, ours_composite, start="logit", bounded_input=True)
    assert want.abs().max() > 1e-6  # not vacuous
    assert _rel_err(got, want) < 1e-6


def _thesis(name: str, n_steps: int, bias: str = "none") -> nn.Module:
    """A small thesis model whose recurrence carries relevance far back: with the thesis'
    init and these sizes relevance shrinks ~10x per step, so the recurrent weights (the
    recurrent layer and the state columns of the concatenation layer) are doubled."""
    spec = InputSpec(n_steps=n_steps, step_dim=D, step_shape=(D,), n_classes=10)
    torch.manual_seed(2)
    model = ARCHS[name](spec, bias=bias, dropout=0.2, **SMALL[name]).to(DT).eval()
    concat, n_data = ((model.in_layer, D) if name == "shallow"
                      else (model.cell_layer, model.in_units))
    with torch.no_grad():
        model.rec_layer.weight.mul_(2.0)
        concat.weight[:, n_data:] *= 2.0
    return model


def _thesis_data(n_steps: int, model: nn.Module | None = None, seed: int = 5
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs in [-1, 1]; targets: the predicted class for the first 3 samples (positive
    logits), random for the others."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(N, n_steps, D, generator=g, dtype=DT) * 2 - 1
    target = torch.randint(0, 10, (N,), generator=g)
    if model is not None:
        with torch.no_grad():
            target[:3] = model(x)[:3].argmax(1)
    return x, target


def _zennit_mixed(zn, n_bounded: int, alpha: float, beta: float, low: float, high: float,
                  eps: float):
    """The thesis' mixed rule built from zennit's BasicHook (zennit has none): pixels
    (first ``n_bounded`` features) get the z-beta terms, states ``alpha p w+ - beta p w-``,
    all over one stabilised denominator."""
    core, rules = zn.core, zn.rules

    def px(t):  # 1 on pixel features, shaped like t
        return (torch.arange(t.shape[-1], device=t.device) < n_bounded).to(t).expand_as(t)

    stab = core.Stabilizer.ensure(eps)
    return core.BasicHook(
        input_modifiers=[lambda x: x * px(x), lambda x: low * px(x), lambda x: high * px(x),
                         lambda x: x * (1 - px(x)), lambda x: x * (1 - px(x))],
        param_modifiers=[rules.NoMod(), rules.ClampMod(min=0.0), rules.ClampMod(max=0.0),
                         rules.ClampMod(min=0.0), rules.ClampMod(max=0.0)],
        output_modifiers=[lambda o: o] * 5,
        gradient_mapper=lambda g, o: [g / stab(o[0] - o[1] - o[2] + alpha * o[3]
                                               - beta * o[4])] * 5,
        reducer=lambda i, g: (i[0] * g[0] - i[1] * g[1] - i[2] * g[2]
                              + alpha * i[3] * g[3] - beta * i[4] * g[4]),
    )


def _thesis_zennit_composite(zn, arch: str, alpha: float, beta: float):
    """zennit rules by module name, following the model's relevance_roles()."""
    r = zn.rules
    hidden = (r.ZPlus(1e-9) if beta == 0 else r.AlphaBeta(alpha, beta, 1e-9))
    if arch == "deep":
        first = r.ZBox(-1.0, 1.0, 1e-9)
        names = ("cell_layer", "rec_layer", "head_layer", "out_layer")
    else:
        first = _zennit_mixed(zn, D, alpha, beta, -1.0, 1.0, 1e-9)
        names = ("rec_layer", "out_layer")
    return zn.composites.NameMapComposite([(("in_layer",), first), (names, hidden)])


@pytest.mark.parametrize(("method", "alpha", "beta"), [("dtd", 1.0, 0.0), ("lrp", 1.5, 0.5),
                                                       ("lrp", 2.0, 1.0)])
@pytest.mark.parametrize("arch", list(ARCHS))
def test_thesis_models_at_t1_agree_with_zennit(zn, arch, method, alpha, beta):
    model = _thesis(arch, 1)
    roles = model.relevance_roles()
    assert roles["in_layer"] == (("input", 0) if arch == "deep" else ("mixed", D))
    x, target = _thesis_data(1, model)
    options = {} if method == "dtd" else {"alpha": alpha, "beta": beta}
    got = EXPLAINERS.get(method)(model, **options).attribute(x, target)
    want = _zennit_relevance(zn, model, _thesis_zennit_composite(zn, arch, alpha, beta), x,
                             target, positive=True)
    assert want.abs().max() > 1e-6  # not vacuous
    assert _rel_err(got, want) < 1e-6


# ====================================================== b. step-by-step reference, T >= 2
def _stab(z: torch.Tensor, eps: float) -> torch.Tensor:
    return z + eps * torch.where(z >= 0, 1.0, -1.0).to(z)


def _contrib(W: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``c[n, j, i] = x[n, i] * W[j, i]``."""
    return x[:, None, :] * W[None]


def _redistribute(c: torch.Tensor, R: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """``R_i = sum_j c_ij / z_j R_j``."""
    return (c / z[..., None] * R[..., None]).sum(1)


def ref_alpha_beta(W, x, R, alpha, beta, eps=1e-9):
    c = _contrib(W, x)
    cp, cn = c.clamp(min=0), c.clamp(max=0)
    return (alpha * _redistribute(cp, R, _stab(cp.sum(-1), eps))
            - beta * _redistribute(cn, R, _stab(cn.sum(-1), eps)))


def _box(W, x, low, high):
    return _contrib(W, x) - low * W.clamp(min=0)[None] - high * W.clamp(max=0)[None]


def ref_zbox(W, x, R, low=-1.0, high=1.0, eps=1e-9):
    c = _box(W, x, low, high)
    return _redistribute(c, R, _stab(c.sum(-1), eps))


def ref_mixed(W, x, R, n_bounded, alpha, beta, low=-1.0, high=1.0, eps=1e-9):
    states = alpha * _contrib(W.clamp(min=0), x) - beta * _contrib(W.clamp(max=0), x)
    bounded = torch.arange(x.shape[-1]) < n_bounded
    c = torch.where(bounded, _box(W, x, low, high), states)
    return _redistribute(c, R, _stab(c.sum(-1), eps))


def ref_epsilon(W, b, x, R, eps, bias_factor):
    c = _contrib(W, x)
    wx = c.sum(-1)
    zs = _stab(wx + (0.0 if b is None else b), eps)
    share = (zs - wx)[..., None] / x.shape[-1]  # bias + stabiliser, spread over all inputs
    return _redistribute(c + bias_factor * share, R, zs)


def _rules(method: str, arch: str, alpha: float = 1.5, beta: float = 0.5,
           epsilon: float = 1e-3, bias_factor: float = 0.0):
    """``rule(layer_name, module, inputs, R) -> R_in`` as the thesis assigns them."""
    def rule(name, module, inputs, R):
        W = module.weight.detach()
        if method == "lrp_eps":
            b = module.effective_bias
            return ref_epsilon(W, None if b is None else b.detach(), inputs, R, epsilon,
                               bias_factor)
        a, bt = (1.0, 0.0) if method == "dtd" else (alpha, beta)
        if name == "in_layer" and arch == "deep":
            return ref_zbox(W, inputs, R)
        if name == "in_layer":
            return ref_mixed(W, inputs, R, D, a, bt)
        return ref_alpha_beta(W, inputs, R, a, bt)

    return rule


def reference(model, x, target, rule, positive=True):
    """The thesis' recursion: head -> ha_T -> split at [data | r_{t-1}]: the data part to
    x_t, the recurrent part through rec_layer to ha_{t-1}, ... Returns the input relevance
    and the relevance reaching the zero initial state r_0 (per sample)."""
    model.eval()
    with torch.no_grad():
        logits, tr = model.forward_steps(x)
    R = _one_hot_logit(logits, target, positive)
    T = x.shape[1]
    R_x = torch.zeros_like(x)
    if isinstance(model, Deep):
        A = model.in_units
        R = rule("out_layer", model.out_layer, tr["out_layer"][0], R)
        R_ha = rule("head_layer", model.head_layer, tr["head_layer"][0], R)  # relu: unchanged
        xr, hd = tr["cell_layer"][0], tr["rec_layer"][0]
        for t in reversed(range(T)):
            R_xr = rule("cell_layer", model.cell_layer, xr[:, t], R_ha)
            R_a, R_r = R_xr[:, :A], R_xr[:, A:]
            R_x[:, t] = rule("in_layer", model.in_layer, x[:, t], R_a)
            if t > 0:
                R_ha = rule("rec_layer", model.rec_layer, hd[:, t - 1], R_r)
    else:
        R_ha = rule("out_layer", model.out_layer, tr["out_layer"][0], R)
        xr, hd = tr["in_layer"][0], tr["rec_layer"][0]
        for t in reversed(range(T)):
            R_xr = rule("in_layer", model.in_layer, xr[:, t], R_ha)
            R_x[:, t], R_r = R_xr[:, :D], R_xr[:, D:]
            if t > 0:
                R_ha = rule("rec_layer", model.rec_layer, hd[:, t - 1], R_r)
    return R_x, R_r.sum(1), logits


METHODS = {  # name: (explainer, options, reference rules, start, bias mode)
    "dtd": ("dtd", {}, {}, "positive", "none"),
    "dtd_softplus": ("dtd", {}, {}, "positive", "softplus"),  # biases ignored by the rules
    "lrp": ("lrp", {}, {}, "positive", "none"),
    "lrp_a2b1": ("lrp", {"alpha": 2.0, "beta": 1.0}, {"alpha": 2.0, "beta": 1.0}, "positive",
                 "none"),
    "lrp_eps": ("lrp_eps", {"start": "logit"}, {}, "logit", "softplus"),
    "lrp_eps_bf1": ("lrp_eps", {"start": "logit", "bias_factor": 1.0}, {"bias_factor": 1.0},
                    "logit", "softplus"),
}


@pytest.mark.parametrize("n_steps", [3, 12])
@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("arch", list(ARCHS))
def test_through_time_equals_step_by_step_reference(arch, method, n_steps):
    explainer, options, ref_options, start, bias = METHODS[method]
    model = _thesis(arch, n_steps, bias)
    if bias == "softplus":  # make the biases' share visible (the thesis' are all -0.01)
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, ThesisLinear):
                    m.raw_bias.normal_(-3.5, 0.5)  # biases about -0.03
    x, target = _thesis_data(n_steps, model)
    want, R_init, logits = reference(model, x, target,
                                     _rules(explainer, arch, **ref_options), start == "positive")
    got = EXPLAINERS.get(explainer)(model, **options).attribute(x, target)
    per_step = want.abs().sum((0, 2))
    assert per_step[0] > 1e-3 * per_step.max()  # relevance reaches step 1
    err = _rel_err(got, want)
    assert err < 1e-8, err
    if method in ("dtd", "lrp_eps_bf1"):  # and the reference conserves (plus r_0's share)
        score = logits.gather(1, target[:, None])[:, 0]
        score = score.clamp(min=0) if start == "positive" else score
        total = want.sum((1, 2)) + R_init
        torch.testing.assert_close(total, score, rtol=1e-6, atol=1e-12)


# =================================================== c. zennit through time is wrong
@pytest.mark.parametrize("arch", list(ARCHS))
@pytest.mark.parametrize(("method", "alpha", "beta"), [("dtd", 1.0, 0.0), ("lrp", 1.5, 0.5)])
def test_zennit_is_wrong_through_time(zn, arch, method, alpha, beta):
    """zennit stores one input per hooked module: with the cell and recurrent layers called
    at every step, each step's backward uses the last call's input, so its relevance for
    T = 3 differs from the correct recursion; at T = 1 (one call per module) it agrees."""
    errors = {}
    for n_steps in (1, 3):
        model = _thesis(arch, n_steps)
        x, target = _thesis_data(n_steps, model)
        want, _, _ = reference(model, x, target, _rules(method, arch, alpha, beta))
        got = _zennit_relevance(zn, model, _thesis_zennit_composite(zn, arch, alpha, beta), x,
                                target, positive=True)
        ours = EXPLAINERS.get(method)(model, **({} if method == "dtd" else
                                                {"alpha": alpha, "beta": beta})).attribute(x,
                                                                                           target)
        assert _rel_err(ours, want) < 1e-8
        errors[n_steps] = _rel_err(got, want)
    assert errors[1] < 1e-6, errors
    assert errors[3] > 0.05, errors
