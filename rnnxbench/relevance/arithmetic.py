"""Rules for the arithmetic a model's forward does between its modules.

Relevance flows through the modules' rules; between them it would flow as a gradient, which
is wrong for arithmetic: through ``a + b`` both terms would get the whole relevance (twice
the output's), through ``c * x`` c times it. In relevance mode a torch function mode
(:class:`BetweenModules`) watches every torch call made outside the modules that have a
rule, on tensors that carry relevance (that require grad), and

- sums split relevance in proportion to their terms, as the gated sums and pooling do:
  ``a + b``, ``a - b``, ``torch.add/sub`` (with ``alpha``), ``x.sum(dim)`` and
  ``x.mean(dim)`` give term i ``z_i / (z + eps sign z) * R`` (eps 1e-9; a term that
  carries no relevance, e.g. a constant, absorbs its share as a bias does);
- multiplication or division by a constant (a number or a tensor that carries no
  relevance) and negation pass relevance on unchanged, element by element;
- element-wise activations called as functions (``torch.tanh``, ``F.relu``, ...) pass it
  on, as the activation modules do;
- indexing, slicing, concatenation, stacking, reshaping and copies route it (they move
  values, they do not combine them);
- anything else (a product of two such tensors, ``matmul``, ``softmax``, ``expand``, an
  in-place update) raises :class:`UnsupportedModel` naming the operation and the module
  whose forward called it, instead of returning relevance that is silently wrong.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from rnnxbench.relevance.base import UnsupportedModel
from rnnxbench.relevance.rules import stabilize

Tensor = torch.Tensor
EPS = 1e-9

#: operations that move values without combining them (relevance is routed like the values)
ROUTING = frozenset({
    "__getitem__", "cat", "concat", "concatenate", "stack", "hstack", "vstack", "dstack",
    "view", "view_as", "reshape", "reshape_as", "flatten", "unflatten", "permute",
    "transpose", "t", "swapaxes", "swapdims", "movedim", "moveaxis", "squeeze",
    "unsqueeze", "contiguous", "select", "narrow", "split", "split_with_sizes", "chunk",
    "unbind", "tensor_split", "clone", "to", "float", "double", "half", "bfloat16", "type",
    "type_as", "cpu", "cuda", "flip", "fliplr", "flipud", "roll", "index_select", "gather",
    "take_along_dim", "masked_select", "__get__", "detach", "dropout", "alpha_dropout",
    "feature_alpha_dropout", "dropout1d", "dropout2d", "dropout3d", "pack_padded_sequence",
    "_pack_padded_sequence", "pad_packed_sequence", "_pad_packed_sequence", "pack_sequence",
    "requires_grad_"})

#: element-wise activations: relevance passes on unchanged
ELEMENTWISE = frozenset({
    "tanh", "sigmoid", "relu", "relu_", "leaky_relu", "elu", "gelu", "softplus", "silu",
    "hardtanh", "relu6", "logsigmoid", "selu", "celu", "mish", "hardswish", "hardsigmoid"})

ADD = frozenset({"add", "__add__", "__radd__"})
SUB = frozenset({"sub", "subtract", "__sub__"})
RSUB = frozenset({"rsub", "__rsub__"})
MUL = frozenset({"mul", "multiply", "__mul__", "__rmul__"})
DIV = frozenset({"div", "divide", "true_divide", "__truediv__"})
NEG = frozenset({"neg", "negative", "__neg__"})
REDUCE = frozenset({"sum", "mean"})


def carries(value: Any) -> bool:
    """Whether ``value`` is a tensor that carries relevance (requires grad)."""
    return isinstance(value, Tensor) and value.requires_grad


class _Split(torch.autograd.Function):
    """``z`` = the sum of ``terms`` (broadcast); backward: each input's term's share."""

    @staticmethod
    def forward(ctx: Any, z: Tensor, terms: tuple[Tensor | None, ...], *inputs: Tensor
                ) -> Tensor:
        ctx.terms, ctx.shapes = terms, [x.shape for x in inputs]
        ctx.save_for_backward(z)
        return z.clone()

    @staticmethod
    def backward(ctx: Any, R: Tensor) -> tuple[Any, ...]:
        (z,) = ctx.saved_tensors
        s = R / stabilize(z, EPS)
        out = [None if term is None else (term * s).sum_to_size(shape)
               for term, shape in zip(ctx.terms, ctx.shapes, strict=True)]
        return (None, None, *out)


class _Reduce(torch.autograd.Function):
    """``z`` = ``x.sum(dims, keepdim)`` (or a mean of it); backward: ``x_i / sum * R``."""

    @staticmethod
    def forward(ctx: Any, z: Tensor, total: Tensor, dims: tuple[int, ...], keepdim: bool,
                x: Tensor) -> Tensor:
        ctx.dims, ctx.keepdim = dims, keepdim
        ctx.save_for_backward(total, x)
        return z.clone()

    @staticmethod
    def backward(ctx: Any, R: Tensor) -> tuple[Any, ...]:
        total, x = ctx.saved_tensors
        s = R / stabilize(total, EPS)
        if not ctx.keepdim:
            for d in sorted(ctx.dims):
                s = s.unsqueeze(d)
        return None, None, None, None, x * s


class _Pass(torch.autograd.Function):
    """An element-wise map that keeps relevance: backward hands it on unchanged."""

    @staticmethod
    def forward(ctx: Any, z: Tensor, x: Tensor) -> Tensor:
        ctx.shape = x.shape
        return z.clone()

    @staticmethod
    def backward(ctx: Any, R: Tensor) -> tuple[Any, ...]:
        return None, R.sum_to_size(ctx.shape)


def derived(out: Any, sources: list[Tensor], limit: int = 64) -> bool:
    """Whether ``out``'s graph reaches one of ``sources`` (searched breadth first over at
    most ``limit`` nodes; True when the search is cut off)."""
    if not carries(out) or out.grad_fn is None:
        return False
    ids = {id(t) for t in sources}
    nodes = {id(t.grad_fn) for t in sources if t.grad_fn is not None}
    queue, seen = [out.grad_fn], 0
    while queue:
        node = queue.pop(0)
        seen += 1
        if id(node) in nodes or id(getattr(node, "variable", None)) in ids:
            return True
        if seen > limit:
            return True
        queue.extend(n for n, _ in node.next_functions if n is not None)
    return False


def original(func: Callable) -> Callable:
    """torch's own function where ``func`` replaced one of its names (a Python function
    monkeypatched onto ``torch.Tensor`` or ``torch``, e.g. by a test that tracks the zero
    states): torch dispatches the replacement, which must not run twice."""
    if not isinstance(func, types.FunctionType) or func.__module__.startswith("torch"):
        return func
    for holder, base in ((torch.Tensor, torch._C.TensorBase),
                         (torch, torch._C._VariableFunctions)):
        for name, value in vars(holder).items():
            if value is func and hasattr(base, name):
                return getattr(base, name)
    return func


def _name(func: Callable) -> str:
    return getattr(func, "__name__", type(func).__name__)


def _reduce_dims(x: Tensor, args: tuple, kwargs: dict) -> tuple[tuple[int, ...], bool]:
    dim = kwargs.get("dim", args[0] if args and not isinstance(args[0], torch.dtype) else None)
    keepdim = bool(kwargs.get("keepdim", args[1] if len(args) > 1 and
                              isinstance(args[1], bool) else False))
    if dim is None:
        return tuple(range(x.dim())), keepdim
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    return tuple(d % x.dim() for d in dims), keepdim


class BetweenModules(TorchFunctionMode):
    """The torch function mode of :func:`arithmetic_rules` (see the module docstring)."""

    def __init__(self, model: nn.Module, handled: set[nn.Module]):
        super().__init__()
        self.handled = handled
        self.names = {m: n for n, m in model.named_modules()}
        self.inside = 0  # depth of calls of modules that have a rule
        self.stack: list[nn.Module] = []

    def where(self) -> str:
        if not self.stack:
            return "the model's forward"
        m = self.stack[-1]
        return f"the forward of {self.names.get(m) or '<model>'!r} ({type(m).__name__})"

    def __torch_function__(self, func: Callable, types: Any, args: tuple = (),
                           kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        func = original(func)
        if self.inside or not self.stack or not torch.is_grad_enabled():
            return func(*args, **kwargs)  # inside a rule, outside the model, or no graph
        flat = [*args, *kwargs.values()]
        sources = [t for a in flat for t in (a if isinstance(a, list | tuple) else (a,))
                   if carries(t)]
        out = func(*args, **kwargs)
        if not sources or not any(derived(o, sources) for o in
                                  (out if isinstance(out, tuple) else (out,))):
            return out  # no relevance flows from the arguments into the result
        name = _name(func)
        if name in ROUTING or (name == "as_strided" and isinstance(args[0], Tensor)
                               and out.shape == args[0].shape):  # a re-striding (layout)
            return out
        return self.rule(name, out, args, kwargs)

    def rule(self, name: str, out: Any, args: tuple, kwargs: dict) -> Any:
        """The relevance rule of an arithmetic operation (or UnsupportedModel)."""
        if isinstance(out, Tensor) and len(args) >= 1:
            a = args[0]
            b = args[1] if len(args) > 1 else kwargs.get("other")
            if name in ELEMENTWISE or name in NEG:
                return _Pass.apply(out.detach(), a)
            if name in ADD | SUB | RSUB and b is not None:
                alpha = kwargs.get("alpha", 1)
                if name in RSUB:  # b - alpha a
                    return self.split(out, (b, -alpha * a), (b, a))
                return self.split(out, (a, (alpha if name in ADD else -alpha) * b), (a, b))
            if name in MUL | DIV and b is not None:
                variable = [x for x in (a, b) if carries(x)]
                # scaling by a constant (a divisor must be the constant)
                if len(variable) == 1 and (name in MUL or carries(a)):
                    return _Pass.apply(out.detach(), variable[0])
            if name in REDUCE and carries(a):
                dims, keepdim = _reduce_dims(a, args[1:], kwargs)
                total = a.detach().sum(dim=dims, keepdim=keepdim)
                return _Reduce.apply(out.detach(), total, dims, keepdim, a)
        raise UnsupportedModel(
            f"{self.where()} applies {name!r} to tensors that carry relevance, outside any "
            "module with a relevance rule; relevance propagation has rules for sums, means, "
            "scaling by a constant, element-wise activations and indexing/concatenation "
            "there, not for this: compute it in a module (e.g. nn.Linear, or one with "
            "relevance_op() / relevance_forward())")

    @staticmethod
    def split(out: Tensor, terms: tuple[Any, Any], inputs: tuple[Any, Any]) -> Tensor:
        """Relevance of ``out = terms[0] + terms[1]`` to the inputs that carry it."""
        shares = tuple(t.detach() if isinstance(t, Tensor) else None for t in terms)
        keep = [(s, x) for s, x in zip(shares, inputs, strict=True) if carries(x)]
        return _Split.apply(out.detach(), tuple(s for s, _ in keep), *(x for _, x in keep))

    # module boundaries
    def enter(self, module: nn.Module, args: Any) -> None:
        self.stack.append(module)
        self.inside += module in self.handled

    def leave(self, module: nn.Module, args: Any, out: Any) -> None:
        self.stack.pop()
        self.inside -= module in self.handled


@contextmanager
def arithmetic_rules(model: nn.Module, handled: set[nn.Module]) -> Iterator[BetweenModules]:
    """Within the block, torch calls outside the ``handled`` modules (those with a rule)
    get the rules above. Enter it after the rules' own hooks are registered."""
    mode = BetweenModules(model, handled)
    with ExitStack() as stack:
        for module in model.modules():
            pre = module.register_forward_pre_hook(mode.enter)
            post = module.register_forward_hook(mode.leave, always_call=True)
            stack.callback(pre.remove)
            stack.callback(post.remove)
        stack.enter_context(mode)
        yield mode


__all__ = ["BetweenModules", "arithmetic_rules"]
