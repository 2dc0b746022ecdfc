"""Explorations (:class:`~rnnxbench.report.exploration.Exploration`) of a fold's models:
computed from the cached model (never retrained) by :func:`explore_job` and cached as one
``.npz`` beside the model's scores."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sklearn.metrics import confusion_matrix

from rnnxbench.config import RunConfig, stable_hash
from rnnxbench.engine.cache import JobCache, open_cache
from rnnxbench.engine.code import code_version
from rnnxbench.engine.device import denormals_flushed
from rnnxbench.engine.train import predict
from rnnxbench.explainers.base import unsupported_reason
from rnnxbench.harness.explained import explained_index, explained_key
from rnnxbench.harness.keys import explainer_key, init_options, seed_of
from rnnxbench.harness.plan import ModelJob, build_model
from rnnxbench.harness.scoring import relevance_of
from rnnxbench.models.states import expected_predictions, hidden_states
from rnnxbench.registry import EXPLAINERS
from rnnxbench.relevance import UnsupportedModel, cudnn_disabled
from rnnxbench.report.exploration import Exploration
from rnnxbench.tasks.base import TaskData

#: bump when an exploration is computed differently
EXPLORE_VERSION = 1
#: the fold every run explores (``rnnxbench explore --fold`` chooses another)
EXPLORED_FOLD = 0


def explored_models(models: list[ModelJob], fold: int) -> list[ModelJob]:
    """The models explored for ``fold``: each task x architecture's first training seed."""
    seen: set[tuple[str, str]] = set()
    out = []
    for job in models:
        key = (job.task.id, job.architecture.id)
        if job.fold == fold and key not in seen:
            seen.add(key)
            out.append(job)
    return out


def exploration_key(cfg: RunConfig, data: TaskData) -> str:
    """What decides an exploration besides the model: the explained sequences, every
    explainer (options and code), the states code and this module."""
    samples = explained_key(cfg, data)
    return "explore-" + stable_hash(
        ["explore", EXPLORE_VERSION, samples, [explainer_key(e, cfg, samples)
                                               for e in cfg.explainers],
         code_version("rnnxbench.models.states", "rnnxbench.harness.exploration",
                      "rnnxbench.report.exploration")])


def explore_job(data: dict[str, TaskData], job: ModelJob, cfg: RunConfig, cache_root: JobCache,
                model_meta: dict[str, Any]) -> Exploration | str:
    """The model's exploration (from the cache, else computed and cached), or why there is
    none (no trained model)."""
    d = data[job.task.id]
    cache, key = open_cache(cache_root), exploration_key(cfg, d)
    hit = cache.load_arrays(job.model_hash, key)
    if hit is not None:
        try:
            return Exploration.from_arrays(hit)
        except (KeyError, ValueError, TypeError):
            pass  # recomputed and overwritten below
    stored = cache.load_model(job.model_hash) if model_meta.get("status") == "ok" else None
    if stored is None:
        return model_meta.get("error", "no trained model")
    model = build_model(d, job.architecture)
    model.load_state_dict(stored[0])
    model.to(job.device).eval()
    torch.manual_seed(seed_of(job.model_hash, "explore"))
    with denormals_flushed():
        found = explore(model, d, job, cfg)
    cache.save_arrays(job.model_hash, key, found.to_arrays())
    return found


def explore(model: torch.nn.Module, data: TaskData, job: ModelJob, cfg: RunConfig
            ) -> Exploration:
    """Compute the exploration of ``model`` (eval mode, on ``job.device``)."""
    index = explained_index(job, data, cfg)
    test = data.subset(index)
    device, batch = job.device, cfg.profile.explain_batch
    x = torch.as_tensor(test.X, dtype=torch.float32, device=device)
    with torch.no_grad():
        proba = torch.softmax(model(x), dim=1).cpu().numpy()
        states = hidden_states(model, x).cpu().numpy()
        expected = expected_predictions(model, x).cpu().numpy()
        held_out = np.asarray(job.test_index)
        predicted = predict(model, data.X[held_out], batch, device)
    confusion = confusion_matrix(data.y[held_out], predicted, labels=range(proba.shape[1]))
    relevance, missing = {}, {}
    for exp in cfg.explainers:
        cls = EXPLAINERS.get(exp.name)
        reason = unsupported_reason(cls, model)
        if reason:
            missing[exp.id] = f"unsupported: {reason}"
            continue
        try:
            with cudnn_disabled():
                rel = relevance_of(cls(model, **init_options(exp)), test, batch, device,
                                   exp.options.get("attribute", {}))
            relevance[exp.id] = rel.astype(np.float32)
        except UnsupportedModel as exc:
            missing[exp.id] = f"unsupported: {exc}"
        except Exception as exc:  # noqa: BLE001 - a failing explainer is recorded
            missing[exp.id] = f"failed: {type(exc).__name__}: {exc}"
        finally:
            model.eval()
            model.zero_grad(set_to_none=True)
    n, t = len(test), data.spec.n_steps
    blocks = (np.full(t, -1, dtype=np.int64) if data.step_block is None
              else np.asarray(data.step_block, dtype=np.int64))
    truth = (np.zeros((n, 0), dtype=bool) if test.ground_truth is None
             else np.asarray(test.ground_truth, dtype=bool))
    return Exploration(
        job.task.id, job.architecture.id, job.fold, job.train_seed, job.model_hash,
        tuple(data.spec.step_shape), tuple(float(b) for b in data.spec.bounds),
        sample=np.asarray(index, dtype=np.int64), label=np.asarray(test.y, dtype=np.int64),
        predicted=proba.argmax(1).astype(np.int64), proba=proba.astype(np.float32),
        x=np.asarray(test.X, dtype=np.float32), states=states.astype(np.float32),
        expected=expected.astype(np.float32), confusion=confusion, step_block=blocks,
        ground_truth=truth, relevance=relevance, missing=missing,
        explainers=[e.id for e in cfg.explainers])
