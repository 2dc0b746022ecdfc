"""Declared parameter constraints and their validation, after scikit-learn's
``_parameter_constraints``.

A component class declares ``parameter_constraints = {"n_steps": [Interval(int, 1, None)],
"method": [Options(str, {...})], "internal_batch_size": [Interval(int, 1, None), None]}``
(merged along its MRO; a name mapped to ``None`` instead of a list is removed).  A value is
valid when it satisfies one constraint of its list: an :class:`Interval`, an
:class:`Options`, a :class:`SequenceOf`, :data:`ANY`, a plain type (``int`` excludes bools,
``float`` accepts ints) or ``None`` (the value may be None).  :func:`validate_params` checks a
mapping against constraints; :func:`validate_options` checks a component's options for its
class (and runs the class's ``check_parameters(options)`` hook for cross-field rules).
Errors are :class:`InvalidParameterError` (a ValueError) naming the location, the
parameter, the problem and the valid choices, closest first.
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from rnnxbench.registry import UnknownNameError, ordered_by_similarity

_TYPE_NAMES = {bool: "a bool", int: "an int", float: "a float", str: "a str", list: "a list",
               tuple: "a tuple", dict: "a table (dict)", type: "a class"}


class InvalidParameterError(ValueError):
    """An invalid parameter; ``where``, ``name``, ``problem`` and ``choices`` (closest
    first) say what and where."""

    def __init__(self, message: str, *, where: str = "", name: str | None = None,
                 problem: str = "", choices: Sequence[str] = ()):
        ValueError.__init__(self, message)
        self.where, self.name, self.problem = where, name, problem
        self.choices = list(choices)


class UnknownParameterError(InvalidParameterError, UnknownNameError):
    """An unknown name (option, key or component) at a location; also an UnknownNameError."""

    def __init__(self, kind: str, name: str, choices: Sequence[str], *, where: str = ""):
        ordered = ordered_by_similarity(name, list(choices)) if choices else []
        prefix = f"{where}: " if where else ""
        valid = (f"valid choices (closest first): {', '.join(ordered)}" if ordered
                 else "there are none (it takes no options)" if kind == "option"
                 else "there are none")
        InvalidParameterError.__init__(self, f"{prefix}unknown {kind} {name!r}; {valid}",
                                       where=where, name=name, problem="unknown",
                                       choices=ordered)
        self.kind = kind


def is_type(value: Any, kind: type) -> bool:
    """``isinstance`` with bools apart from numbers and ints counted as floats."""
    if kind is bool:
        return isinstance(value, bool)
    if kind in (int, float) and isinstance(value, bool):
        return False
    if kind is int:
        return isinstance(value, numbers.Integral)
    if kind is float:
        return isinstance(value, numbers.Real)
    return isinstance(value, kind)


class Constraint:
    """Base class: :meth:`is_satisfied_by` and a description for messages."""

    #: the values' type, when the constraint has one (a wrong type vs. a wrong value)
    kind: type | None = None

    def is_satisfied_by(self, value: Any) -> bool:
        raise NotImplementedError

    def __str__(self) -> str:
        raise NotImplementedError


class Interval(Constraint):
    """A number of ``kind`` (int or float) between ``left`` and ``right`` (None: unbounded);
    ``closed`` is ``"left"``, ``"right"``, ``"both"`` or ``"neither"``."""

    def __init__(self, kind: type, left: float | None, right: float | None, *,
                 closed: str = "left"):
        if kind not in (int, float):
            raise TypeError(f"Interval type must be int or float, got {kind!r}")
        if closed not in ("left", "right", "both", "neither"):
            raise ValueError(f"closed must be left, right, both or neither, got {closed!r}")
        if left is not None and right is not None and left > right:
            raise ValueError(f"empty interval: left {left} > right {right}")
        self.kind, self.left, self.right, self.closed = kind, left, right, closed

    def is_satisfied_by(self, value: Any) -> bool:
        if not is_type(value, self.kind):
            return False
        lo = -math.inf if self.left is None else self.left
        hi = math.inf if self.right is None else self.right
        low_ok = value >= lo if self.closed in ("left", "both") else value > lo
        high_ok = value <= hi if self.closed in ("right", "both") else value < hi
        return bool(low_ok and high_ok)

    def __str__(self) -> str:
        lo = "-inf" if self.left is None else repr(self.left)
        hi = "inf" if self.right is None else repr(self.right)
        left = "[" if self.closed in ("left", "both") and self.left is not None else "("
        right = "]" if self.closed in ("right", "both") and self.right is not None else ")"
        return f"{_TYPE_NAMES[self.kind]} in {left}{lo}, {hi}{right}"


class Options(Constraint):
    """One of ``values`` (of type ``kind``)."""

    def __init__(self, kind: type, values: Sequence[Any]):
        self.kind, self.values = kind, tuple(values)

    def is_satisfied_by(self, value: Any) -> bool:
        return is_type(value, self.kind) and value in self.values

    def choices(self, value: Any) -> list[str]:
        """The values as written in messages (strings: closest to ``value`` first)."""
        written = [repr(v) for v in self.values]
        return ordered_by_similarity(repr(value), written) if self.kind is str else written

    def __str__(self) -> str:
        if len(self.values) == 1:
            return repr(self.values[0])
        return "one of " + ", ".join(repr(v) for v in self.values)


class SequenceOf(Constraint):
    """A list or tuple whose items each satisfy one of ``items``; optionally of ``length``
    items (an int, or ``(min, max)`` with None for no bound) and ``unique``."""

    kind = list

    def __init__(self, *items: Any, length: int | tuple[int | None, int | None] | None = None,
                 unique: bool = False):
        self.items = [make_constraint(c) for c in items]
        self.length, self.unique = length, unique

    def is_satisfied_by(self, value: Any) -> bool:
        if not isinstance(value, (list, tuple)):
            return False
        if isinstance(self.length, int) and len(value) != self.length:
            return False
        if isinstance(self.length, tuple):
            lo, hi = self.length
            if (lo is not None and len(value) < lo) or (hi is not None and len(value) > hi):
                return False
        if self.unique and len({repr(v) for v in value}) != len(value):
            return False
        return all(any(c.is_satisfied_by(v) for c in self.items) for v in value)

    def __str__(self) -> str:
        if isinstance(self.length, int):
            size = f"{self.length} "
        elif isinstance(self.length, tuple):
            lo, hi = self.length
            size = (f"{lo} or more " if hi is None else f"{lo or 0} to {hi} ")
        else:
            size = ""
        unique = "unique " if self.unique else ""
        return f"a list of {size}{unique}items (each {either(self.items)})"

    def accepts_kind(self, value: Any) -> bool:
        return isinstance(value, (list, tuple))


class _InstanceOf(Constraint):
    def __init__(self, kind: type):
        self.kind = kind

    def is_satisfied_by(self, value: Any) -> bool:
        return is_type(value, self.kind)

    def __str__(self) -> str:
        return _TYPE_NAMES.get(self.kind, f"an instance of {self.kind.__name__}")


class _NoneConstraint(Constraint):
    def is_satisfied_by(self, value: Any) -> bool:
        return value is None

    def __str__(self) -> str:
        return "None"


class _Anything(Constraint):
    def is_satisfied_by(self, value: Any) -> bool:
        return True

    def __str__(self) -> str:
        return "any value"


#: any value is valid (e.g. a plugin's options known only by name)
ANY = _Anything()


def either(constraints: Sequence[Constraint]) -> str:
    """The descriptions of ``constraints`` as alternatives: ``a, b or c``."""
    texts = [str(c) for c in constraints]
    return texts[0] if len(texts) == 1 else ", ".join(texts[:-1]) + " or " + texts[-1]


def make_constraint(constraint: Any) -> Constraint:
    """A :class:`Constraint` for a declared constraint (a Constraint, a type or None)."""
    if isinstance(constraint, Constraint):
        return constraint
    if constraint is None:
        return _NoneConstraint()
    if isinstance(constraint, type):
        return _InstanceOf(constraint)
    raise TypeError(f"not a constraint: {constraint!r}")


def _kind_matches(constraint: Constraint, value: Any) -> bool:
    accepts = getattr(constraint, "accepts_kind", None)
    if callable(accepts):
        return bool(accepts(value))
    return constraint.kind is not None and is_type(value, constraint.kind)


def _invalid(name: str, value: Any, constraints: list[Constraint], where: str
             ) -> InvalidParameterError:
    valid = either(constraints)
    prefix = f"{where}: " if where else ""
    options = [c for c in constraints if isinstance(c, Options) and _kind_matches(c, value)]
    if options:
        choices = [ch for c in options for ch in c.choices(value)]
        label = " (closest first)" if all(c.kind is str for c in options) else ""
        return InvalidParameterError(
            f"{prefix}{name} = {value!r} is not a valid choice; valid choices{label}: "
            f"{', '.join(choices)}", where=where, name=name, problem="choice", choices=choices)
    matching = [c for c in constraints if _kind_matches(c, value)]
    if matching:
        problem = "range" if any(isinstance(c, Interval) for c in matching) else "value"
        text = "is out of range" if problem == "range" else "is not valid"
    else:
        problem, text = "type", f"has the wrong type ({type(value).__name__})"
    return InvalidParameterError(f"{prefix}{name} = {value!r} {text}; valid: {valid}",
                                 where=where, name=name, problem=problem)


def validate_params(params: Mapping[str, Any], constraints: Mapping[str, list], *,
                    where: str, noun: str = "option") -> None:
    """Check ``params`` against ``constraints`` (name -> list of constraints, any one of
    which must hold): unknown names, wrong types and out-of-range values raise
    :class:`InvalidParameterError`, prefixed by ``where``."""
    for name in params:
        if name not in constraints:
            raise UnknownParameterError(noun, str(name), list(constraints), where=where)
    for name, value in params.items():
        declared = [make_constraint(c) for c in constraints[name]]
        if declared and not any(c.is_satisfied_by(value) for c in declared):
            raise _invalid(str(name), value, declared, where)


def declared_parameters(cls: type) -> dict[str, list] | None:
    """The ``parameter_constraints`` of ``cls`` merged along its MRO (subclasses override;
    a name mapped to None is removed), or None when no class declares any."""
    found = [vars(k)["parameter_constraints"] for k in reversed(cls.__mro__)
             if "parameter_constraints" in vars(k)]
    if not found:
        return None
    merged: dict[str, list] = {}
    for table in found:
        merged.update(table)
    return {name: c for name, c in merged.items() if c is not None}


def signature_parameters(func: Callable[..., Any], skip: int = 0
                         ) -> tuple[list[str], bool] | None:
    """``(named parameters, takes **kwargs)`` of ``func`` after its first ``skip``
    positional parameters; None when the signature cannot be read."""
    try:
        params = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):
        return None
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    while skip and params and params[0].kind in positional:
        params, skip = params[1:], skip - 1
    named = [p.name for p in params if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                                   inspect.Parameter.KEYWORD_ONLY)]
    return named, any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def option_constraints(cls: type, positional: int = 0) -> dict[str, list] | None:
    """The constraints on the options of component class ``cls``, constructed as
    ``cls(*positional_args, **options)`` with ``positional`` arguments; None: any option.

    A declaration at or below the class that defines ``__init__`` is authoritative. A
    subclass with its own ``__init__`` below the declaration (a plugin) accepts that
    ``__init__``'s named parameters (unchecked), plus the declared ones when it takes
    ``**kwargs``. A class that declares nothing (e.g. captum's) accepts its ``__init__``'s
    named parameters, or anything when it takes ``**kwargs``; so does a factory function.
    """
    if not isinstance(cls, type):  # a registered factory
        declared, signature = None, signature_parameters(cls, skip=positional)
    else:
        init_owner = next((k for k in cls.__mro__ if "__init__" in vars(k)), object)
        owner = next((k for k in cls.__mro__ if "parameter_constraints" in vars(k)), None)
        declared = declared_parameters(cls)
        if declared is not None and owner is not None and issubclass(owner, init_owner):
            return declared
        if init_owner is object:
            return {}
        signature = signature_parameters(init_owner.__init__, skip=1 + positional)
    if signature is None:
        return None
    named, var_kw = signature
    if declared is None and var_kw:
        return None
    own = {name: [ANY] for name in named}
    return {**declared, **own} if declared is not None and var_kw else own


def validate_options(cls: type, options: Mapping[str, Any], *, where: str,
                     positional: int = 0) -> None:
    """Check a component's ``options`` for its class (see :func:`option_constraints`), then
    the class's ``check_parameters(options)`` hook; its ValueErrors get ``where``."""
    constraints = option_constraints(cls, positional)
    if constraints is not None:
        validate_params(options, constraints, where=where)
    hook = getattr(cls, "check_parameters", None)
    if callable(hook):
        try:
            hook(dict(options))
        except ValueError as exc:
            raise InvalidParameterError(f"{where}: {exc}", where=where,
                                        choices=getattr(exc, "choices", ())) from exc
