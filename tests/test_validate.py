import inspect
from typing import Any

import pytest

from rnnxbench.registry import ARCHITECTURES, EXPLAINERS, METRICS, TASKS, UnknownNameError
from rnnxbench.validate import (
    ANY,
    Interval,
    InvalidParameterError,
    Options,
    SequenceOf,
    UnknownParameterError,
    declared_parameters,
    make_constraint,
    option_constraints,
    signature_parameters,
    validate_options,
    validate_params,
)


def test_interval_bounds_types_and_descriptions():
    at_least_one = Interval(int, 1, None)
    assert at_least_one.is_satisfied_by(1) and at_least_one.is_satisfied_by(10**9)
    assert not at_least_one.is_satisfied_by(0)
    assert not at_least_one.is_satisfied_by(True)  # ints are not bools
    assert not at_least_one.is_satisfied_by(2.0)  # an int constraint takes no floats
    assert str(at_least_one) == "an int in [1, inf)"
    positive = Interval(float, 0, None, closed="neither")
    assert positive.is_satisfied_by(1) and positive.is_satisfied_by(1e-9)  # floats take ints
    assert not positive.is_satisfied_by(0) and not positive.is_satisfied_by(float("nan"))
    assert not positive.is_satisfied_by(float("inf")) and not positive.is_satisfied_by(False)
    assert str(positive) == "a float in (0, inf)"
    unit = Interval(float, 0, 1, closed="both")
    assert unit.is_satisfied_by(0) and unit.is_satisfied_by(1.0) and str(unit) == \
        "a float in [0, 1]"
    right = Interval(float, 0, 1, closed="right")
    assert not right.is_satisfied_by(0.0) and right.is_satisfied_by(1.0)
    assert str(Interval(int, None, 5, closed="right")) == "an int in (-inf, 5]"
    with pytest.raises(TypeError):
        Interval(str, 0, 1)
    with pytest.raises(ValueError):
        Interval(int, 2, 1)
    with pytest.raises(ValueError):
        Interval(int, 0, 1, closed="open")


def test_options_plain_types_none_and_sequences():
    granularity = Options(str, ("step", "block"))
    assert granularity.is_satisfied_by("block") and not granularity.is_satisfied_by("blok")
    assert str(granularity) == "one of 'step', 'block'"
    assert granularity.choices("blok")[0] == "'block'"
    assert not Options(int, (1, 2)).is_satisfied_by(True)
    assert str(Options(int, (-1,))) == "-1"
    assert make_constraint(bool).is_satisfied_by(False)
    assert not make_constraint(int).is_satisfied_by(False)
    assert make_constraint(float).is_satisfied_by(3) and not make_constraint(str).is_satisfied_by(3)
    assert make_constraint(dict).is_satisfied_by({}) and str(make_constraint(dict)) == \
        "a table (dict)"
    for kind, good in ((list, [1]), (tuple, (1,)), (type, int)):
        assert make_constraint(kind).is_satisfied_by(good)
    assert make_constraint(None).is_satisfied_by(None) and not make_constraint(None)\
        .is_satisfied_by(0)
    assert ANY.is_satisfied_by(object())
    with pytest.raises(TypeError):
        make_constraint("int")
    pair = SequenceOf(Interval(int, 1, None), length=2)
    assert pair.is_satisfied_by([24, 32]) and pair.is_satisfied_by((24, 32))
    assert not pair.is_satisfied_by([24]) and not pair.is_satisfied_by([0, 1])
    assert not pair.is_satisfied_by("ab")
    assert str(pair) == "a list of 2 items (each an int in [1, inf))"
    levels = SequenceOf(Interval(float, 0, 1, closed="right"), length=(1, None), unique=True)
    assert levels.is_satisfied_by([0.1, 0.5]) and not levels.is_satisfied_by([])
    assert not levels.is_satisfied_by([0.5, 0.5])
    window = SequenceOf(Interval(int, 1, None), Options(int, (-1,)), None)
    assert window.is_satisfied_by([1, -1]) and window.is_satisfied_by([None, 3])
    assert str(window) == "a list of items (each an int in [1, inf), -1 or None)"


CONSTRAINTS = {"n_steps": [Interval(int, 1, None)], "method": [Options(str, ("gauss", "riemann"))],
               "batch": [Interval(int, 1, None), None], "anything": []}


def test_validate_params_names_the_problem_and_the_choices_closest_first():
    validate_params({"n_steps": 8, "batch": None, "anything": object()}, CONSTRAINTS, where="w")
    with pytest.raises(UnknownParameterError) as info:
        validate_params({"n_stepz": 8}, CONSTRAINTS, where="suite.toml: explainers[0]")
    err = info.value
    assert isinstance(err, InvalidParameterError) and isinstance(err, UnknownNameError)
    assert isinstance(err, ValueError) and err.choices[0] == "n_steps" and err.name == "n_stepz"
    assert str(err).startswith("suite.toml: explainers[0]: unknown option 'n_stepz'; valid "
                               "choices (closest first): n_steps, ")
    with pytest.raises(UnknownParameterError, match="unknown key 'x'; there are none"):
        validate_params({"x": 1}, {}, where="w", noun="key")
    with pytest.raises(InvalidParameterError) as info:
        validate_params({"n_steps": "8"}, CONSTRAINTS, where="w")
    assert info.value.problem == "type"
    assert str(info.value) == ("w: n_steps = '8' has the wrong type (str); valid: an int in "
                               "[1, inf)")
    with pytest.raises(InvalidParameterError, match=r"w: batch = 0 is out of range; valid: an "
                                                    r"int in \[1, inf\) or None") as info:
        validate_params({"batch": 0}, CONSTRAINTS, where="w")
    assert info.value.problem == "range"
    with pytest.raises(InvalidParameterError) as info:
        validate_params({"method": "riemman"}, CONSTRAINTS, where="w")
    assert info.value.problem == "choice" and info.value.choices == ["'riemann'", "'gauss'"]
    assert "valid choices (closest first): 'riemann', 'gauss'" in str(info.value)


class Base:
    """Stands for rnnxbench's base classes: declares no options."""

    parameter_constraints: dict[str, list] = {}

    def __init__(self, model, **options):
        self.options = options


class Declared(Base):
    parameter_constraints = {"alpha": [float], "beta": [float]}

    def __init__(self, model, *, alpha=1.5, beta=0.5, **options):
        super().__init__(model, **options)

    @classmethod
    def check_parameters(cls, options: dict[str, Any]) -> None:
        if options.get("alpha", 1.5) - options.get("beta", 0.5) != 1:
            raise ValueError("alpha - beta must be 1")


class Fixed(Declared):
    parameter_constraints = {"beta": None, "gamma": [int]}  # beta removed, gamma added

    def __init__(self, model, *, alpha=1.5, gamma=0, **options):
        super().__init__(model, alpha=alpha, beta=alpha - 1, **options)


class Plugin(Base):  # a plugin with its own signature and no declaration
    def __init__(self, model, n_samples=700, n_steps=20, **options):
        super().__init__(model, **options)


class PluginBelowDeclared(Declared):
    def __init__(self, model, extra=0, **options):
        super().__init__(model, **options)


class NoInit(Base):
    pass


class ForeignKwargs:  # e.g. a captum class registered directly
    def __init__(self, forward_func, **kwargs):
        pass


class Foreign:
    def __init__(self, forward_func, multiply_by_inputs=True):
        pass


def test_declared_parameters_merge_along_the_mro():
    assert declared_parameters(Base) == {}
    assert set(declared_parameters(Declared)) == {"alpha", "beta"}
    assert set(declared_parameters(Fixed)) == {"alpha", "gamma"}
    assert declared_parameters(Foreign) is None
    assert signature_parameters(Plugin.__init__, skip=2) == (["n_samples", "n_steps"], True)


def test_option_constraints_for_components_plugins_and_foreign_classes():
    assert option_constraints(NoInit, 1) == {}  # the base's **options take nothing real
    assert set(option_constraints(Declared, 1)) == {"alpha", "beta"}
    assert set(option_constraints(Plugin, 1)) == {"n_samples", "n_steps"}
    assert set(option_constraints(PluginBelowDeclared, 1)) == {"alpha", "beta", "extra"}
    assert option_constraints(ForeignKwargs, 1) is None
    assert set(option_constraints(Foreign, 1)) == {"multiply_by_inputs"}
    def factory(model, *, scale=1.0):
        return Foreign(model)

    assert set(option_constraints(factory, 1)) == {"scale"}
    validate_options(Plugin, {"n_samples": "anything"}, where="w", positional=1)  # unchecked
    with pytest.raises(UnknownParameterError) as info:
        validate_options(Plugin, {"n_step": 3}, where="w", positional=1)
    assert info.value.choices[0] == "n_steps"
    with pytest.raises(UnknownParameterError, match="it takes no options"):
        validate_options(NoInit, {"x": 1}, where="w", positional=1)
    validate_options(ForeignKwargs, {"whatever": 1}, where="w", positional=1)
    with pytest.raises(InvalidParameterError, match="wrong type"):
        validate_options(Declared, {"alpha": "2"}, where="w", positional=1)
    with pytest.raises(InvalidParameterError, match=r"^entry: alpha - beta must be 1$"):
        validate_options(Declared, {"alpha": 2.0}, where="entry", positional=1)
    with pytest.raises(UnknownParameterError):
        validate_options(Fixed, {"beta": 1.0}, where="w", positional=1)


BUILT_INS = [(registry, name, cls, positional)
             for registry, positional in ((EXPLAINERS, 1), (METRICS, 0), (ARCHITECTURES, 1),
                                          (TASKS, 0))
             for name, cls in registry.items() if registry.origin(name) == "built-in"]


@pytest.mark.parametrize(("registry", "name", "cls", "positional"), BUILT_INS,
                         ids=[f"{r.kind}-{n}" for r, n, _, _ in BUILT_INS])
def test_every_built_in_declares_each_constructor_option(registry, name, cls, positional):
    """Each named parameter of the class's ``__init__`` (after ``self`` and ``model`` /
    ``spec``) has a declared constraint its default satisfies; without ``**kwargs`` nothing
    else is declared. A class with its own ``__init__`` declares its own constraints."""
    owner = next(k for k in cls.__mro__ if "__init__" in vars(k))
    assert "parameter_constraints" in vars(owner)
    constraints = option_constraints(cls, positional)
    assert constraints is not None
    named, var_kw = signature_parameters(owner.__init__, skip=1 + positional)
    assert set(named) <= set(constraints), f"{name}: undeclared {set(named) - set(constraints)}"
    if not var_kw:
        assert set(constraints) == set(named)
    defaults = inspect.signature(owner.__init__).parameters
    for option in named:
        default = defaults[option].default
        if default is not inspect.Parameter.empty:
            assert any(make_constraint(c).is_satisfied_by(default) for c in constraints[option]), \
                f"{name}.{option}: default {default!r} violates {constraints[option]}"
        for c in constraints[option]:
            make_constraint(c)  # a valid declaration
