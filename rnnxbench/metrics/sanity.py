"""Model-randomisation sanity check (Adebayo et al. 2018, cascading randomisation).

An explanation that still looks the same after the model's weights were re-drawn does not
explain the model. The model's parameters are grouped into three stages and re-initialised
cumulatively from the head towards the input (``head``, then ``recurrent``, then ``input``);
after a stage the same explainer is re-run on the randomised copy (the metric context's
``explain``) and compared with the trained model's relevance by rank correlation.

Stages (:func:`parameter_stages`): the units are the modules that hold parameters directly,
in registration order (``named_modules``). A unit is *recurrent* when it is an
``nn.RNNBase`` / ``nn.RNNCellBase`` or a component of its dotted name starts with ``rec`` or
``cell`` (``rec_layer``, ``cell_layer``, ``cell.gates``, ``recurrent``). Other units before
the first recurrent one are *input*, after the last one *head*, in between *recurrent*.
A model without recurrent units has its last unit as head and the rest as input. (For the
torch-RNN architectures the input stage is empty: ``nn.RNN`` holds its input weights.)
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from scipy.stats import rankdata
from torch import nn

from rnnxbench.metrics.aggregate import value_relevance
from rnnxbench.metrics.base import Metric, undefined_where
from rnnxbench.registry import METRICS
from rnnxbench.tasks.base import TaskData
from rnnxbench.validate import Interval, Options

#: the cascade order: randomised first to last
STAGES = ("head", "recurrent", "input")

_RECURRENT_NAME = re.compile(r"(?:^|[._])(?:rec|cell)")


def _is_recurrent(name: str, module: nn.Module) -> bool:
    return isinstance(module, nn.RNNBase | nn.RNNCellBase) or bool(_RECURRENT_NAME.search(name))


def parameter_stages(model: nn.Module) -> dict[str, list[str]]:
    """The names of the modules holding parameters, grouped into :data:`STAGES`."""
    units = [(name, module) for name, module in model.named_modules()
             if next(module.parameters(recurse=False), None) is not None]
    stages: dict[str, list[str]] = {stage: [] for stage in STAGES}
    rec = [i for i, (name, module) in enumerate(units) if _is_recurrent(name, module)]
    for i, (name, _) in enumerate(units):
        if rec:
            stage = "input" if i < rec[0] else "head" if i > rec[-1] else "recurrent"
        else:
            stage = "head" if i == len(units) - 1 else "input"
        stages[stage].append(name)
    return stages


def _unit_seed(seed: int, name: str) -> int:
    key = [int(seed)] + list(name.encode())
    return int(np.random.SeedSequence(key).generate_state(1)[0])


def reinitialise_(module: nn.Module, seed: int) -> None:
    """Re-draw ``module``'s own parameters in place, seeded.

    ``module.reset_parameters()`` when it has one (torch's own initialisation), else each
    parameter from ``N(0, s^2)`` with ``s`` its current standard deviation (its RMS when
    that is 0, e.g. a constant bias).
    """
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed)
        if callable(getattr(module, "reset_parameters", None)):
            module.reset_parameters()
            return
        for p in module.parameters(recurse=False):
            data = p.detach().double()
            std = data.std(unbiased=False) if p.numel() > 1 else data.new_zeros(())
            if not torch.isfinite(std) or std == 0:
                std = data.pow(2).mean().sqrt()
            p.copy_(torch.randn(p.shape, dtype=torch.float64) * std)


def cascading_randomisation(model: nn.Module, seed: int = 0,
                            initial: nn.Module | None = None
                            ) -> Iterator[tuple[str, nn.Module, list[str]]]:
    """Yield ``(stage, randomised, modules)`` for each of :data:`STAGES` in order.

    ``randomised`` is one deep copy of ``model`` (``model`` itself is untouched), re-drawn on
    the CPU, cumulatively: after ``"recurrent"`` both head and recurrent modules are random.
    ``modules`` are the ones re-drawn at this stage. With ``initial`` (a freshly initialised
    model of the same architecture) each module takes that model's parameters, i.e. the
    architecture's own initialisation; otherwise :func:`reinitialise_` re-draws it, seeded
    by ``seed`` and its name, so it does not depend on which stages are looked at.
    """
    randomised = copy.deepcopy(model).cpu()
    named = dict(randomised.named_modules())
    fresh = dict(initial.named_modules()) if initial is not None else {}
    for stage, names in parameter_stages(randomised).items():
        randomised.cpu()  # the consumer may have moved it (explain runs on its device)
        for name in names:
            if name in fresh:
                _copy_own_parameters(named[name], fresh[name])
            else:
                reinitialise_(named[name], _unit_seed(seed, name))
        yield stage, randomised, names


def _copy_own_parameters(target: nn.Module, source: nn.Module) -> None:
    with torch.no_grad():
        mine = dict(target.named_parameters(recurse=False))
        for key, value in source.named_parameters(recurse=False):
            if key in mine and mine[key].shape == value.shape:
                mine[key].copy_(value.detach().to(mine[key].device, mine[key].dtype))


def rank_similarity(a: np.ndarray, b: np.ndarray, absolute: bool = True) -> np.ndarray:
    """``(N,)`` Spearman rank correlation of each sample's flattened ``a`` and ``b``.

    Ranks with ties averaged (as ``scipy.stats.spearmanr``). ``absolute`` compares ``|a|``
    with ``|b|`` (Adebayo et al.). NaN where either sample is constant (every value tied,
    e.g. all zero, as LRP/DTD of a freshly initialised thesis model whose true-class logit is
    negative): a constant map has no ranking, so the correlation is undefined (0/0), as
    scipy's is.
    """
    a = np.asarray(a, dtype=np.float64).reshape(len(a), -1)
    b = np.asarray(b, dtype=np.float64).reshape(len(b), -1)
    if a.shape != b.shape:
        raise ValueError(f"relevance shapes differ: {a.shape} vs {b.shape}")
    if absolute:
        a, b = np.abs(a), np.abs(b)
    ra, rb = rankdata(a, axis=1), rankdata(b, axis=1)
    ra -= ra.mean(axis=1, keepdims=True)
    rb -= rb.mean(axis=1, keepdims=True)
    va, vb = (ra**2).sum(axis=1), (rb**2).sum(axis=1)
    constant = (va == 0) | (vb == 0)
    den = np.sqrt(np.where(constant, 1.0, va * vb))
    rho = np.clip((ra * rb).sum(axis=1) / den, -1.0, 1.0)
    return np.where(constant, np.nan, rho)


def randomisation_similarities(model: nn.Module, explain: Callable[[nn.Module], np.ndarray],
                               relevance: np.ndarray, stages: Sequence[str] = STAGES,
                               seed: int = 0, absolute: bool = True,
                               initial: nn.Module | None = None) -> dict[str, np.ndarray]:
    """``{stage: (N,) rank similarity}`` of ``relevance`` and the explanation of the model
    randomised up to each requested stage (the cascade stops after the last one).

    A stage that re-draws no module reuses the previous stage's explanation.
    """
    unknown = set(stages) - set(STAGES)
    if unknown:
        raise ValueError(f"unknown stages {sorted(unknown)}; choose from {STAGES}")
    last = max(STAGES.index(s) for s in stages)
    result: dict[str, np.ndarray] = {}
    previous: np.ndarray | None = None
    cascade = cascading_randomisation(model, seed, initial)
    for i, (stage, randomised, names) in enumerate(cascade):
        if stage in stages:
            if names or previous is None:
                previous = rank_similarity(relevance, explain(randomised), absolute)
            result[stage] = previous
        elif names:
            previous = None
        if i == last:
            break
    return result


@METRICS.register("randomization")
class Randomization(Metric):
    """Cascading model-randomisation check: similarity to the randomised model's explanation.

    Per sample: the Spearman rank correlation (of absolute values; option ``absolute``)
    between the trained model's relevance and the same explainer's relevance for a copy of
    the model whose parameters were re-drawn from the head down to option ``stage``
    (``"input"``, default: every parameter; ``"recurrent"``; ``"head"``), seeded (``seed``).
    Lower is better: a high similarity means the explanation barely depends on the learned
    weights (the check fails). A sample whose relevance is constant (e.g. all zero) for
    either model has no rank correlation: NaN (see :func:`rank_similarity`); when that holds
    for every sample, :class:`~rnnxbench.metrics.base.DegenerateExplanation` is raised rather
    than scoring an empty map as "changed". Needs the context ``model`` and ``explain``;
    with the context's ``initial_model(seed)`` (the harness provides it) the re-drawn
    parameters come from a freshly initialised model of the same architecture, so the
    randomised model is one the architecture could start training from (a generic re-draw
    can leave e.g. the thesis models' ``-softplus(b)``-biased ReLUs all dead).
    """

    description = "rank correlation with the explanation of a cascade-randomised model"
    higher_is_better = False
    requires_ground_truth = False
    granularity = "input"

    parameter_constraints = {"stage": [Options(str, STAGES)], "seed": [Interval(int, 0, None)],
                             "absolute": [bool]}

    def __init__(self, stage: str = "input", seed: int = 0, absolute: bool = True,
                 **options: Any):
        super().__init__(stage=stage, seed=seed, absolute=absolute, **options)
        if stage not in STAGES:
            raise ValueError(f"stage must be one of {STAGES}, got {stage!r}")
        self.stage, self.seed, self.absolute = stage, int(seed), bool(absolute)

    def __call__(self, relevance: np.ndarray, data: TaskData, **context: Any) -> np.ndarray:
        model, explain = context.get("model"), context.get("explain")
        if model is None or explain is None:
            raise ValueError("randomization needs the context 'model' and 'explain' "
                             "(see rnnxbench.harness.scoring.MetricContext)")
        relevance = value_relevance(relevance)
        if relevance.shape[:2] != data.X.shape[:2]:
            raise ValueError(f"relevance has shape {relevance.shape}, data.X {data.X.shape}")
        make = context.get("initial_model")
        initial = make(self.seed) if callable(make) else None
        sims = randomisation_similarities(model, explain, relevance, (self.stage,),
                                          self.seed, self.absolute, initial)[self.stage]
        return undefined_where(sims, np.isnan(sims),
                               "the trained or the randomised model's relevance is constant "
                               "(e.g. all zero): no rank correlation")
