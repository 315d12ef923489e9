"""Fitted components: state a task learns after training and saves with the model.

A mixture sampler over training codes, an anomaly threshold, the code tables of the codec: each
is a class registered here under the key it is saved as. ``Model.fitted`` maps those keys to
component objects; :mod:`aekit.io` writes each one's :meth:`~FittedComponent.to_state` (JSON in
``config.json["fitted"][key]``, tensors in ``fitted.safetensors`` named ``key.<name>``) and reads
it back through :meth:`~FittedComponent.from_state` of the registered class, which checks what it
is given (required keys, types, shapes, finiteness) rather than trusting the file. Nothing else
reads the saved JSON of fitted state.

A new component is one class with ``key``, ``fit_hint``, ``to_state`` and ``from_state``,
decorated with :func:`register_fitted`, in a module :mod:`aekit.io` imports (it must sit below
``io`` in the layers, see ``.importlinter``)::

    @register_fitted
    class AttributeDirections(FittedComponent):
        key = "attributes"
        fit_hint = "aekit edit RUN --fit-attributes"
        ...

The helpers below (:func:`number`, :func:`integer`, :func:`choice`, :func:`tensor`) are the
checks ``from_state`` methods share; they raise :class:`~aekit.errors.AekitError` naming the
field, what was expected and what was found, and :mod:`aekit.io` adds the file and the key.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, TypeVar

import torch

from .errors import AekitError


class FittedComponent:
    """Base of the fitted components saved with a model.

    Attributes:
        key: name in ``config.json["fitted"]`` and prefix of its tensors in ``fitted.safetensors``.
        fit_hint: the command or call that fits it, for errors about a missing or broken one.
    """

    key: ClassVar[str]
    fit_hint: ClassVar[str]

    def to_state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        """(JSON-able settings, tensors by name); names carry no ``key.`` prefix (io adds it)."""
        raise NotImplementedError

    @classmethod
    def from_state(cls, info: Mapping[str, Any], tensors: Mapping[str, torch.Tensor]) -> FittedComponent:
        """Rebuild from what :meth:`to_state` returned; every field is checked, none trusted."""
        raise NotImplementedError


FITTED: dict[str, type[FittedComponent]] = {}

C = TypeVar("C", bound=type[FittedComponent])
T = TypeVar("T", bound=FittedComponent)


def register_fitted(cls: C) -> C:
    """Class decorator: register a :class:`FittedComponent` under its ``key``."""
    key = getattr(cls, "key", None)
    if not isinstance(key, str) or not key or "." in key:
        raise TypeError(f"{cls.__name__}.key: expected a non-empty name without dots; got {key!r}")
    if key in FITTED and FITTED[key] is not cls:
        raise TypeError(f"fitted component key {key!r} is taken by {FITTED[key].__name__}")
    FITTED[key] = cls
    return cls


def fitted_type(key: str) -> type[FittedComponent]:
    """The class registered under ``key``; an unknown key is an :class:`AekitError`."""
    try:
        return FITTED[key]
    except KeyError:
        raise AekitError(f"unknown fitted component {key!r}; known: {', '.join(sorted(FITTED)) or 'none'}") \
            from None


def check_components(fitted: Mapping[str, Any]) -> None:
    """Each entry is an instance of the class registered under its key."""
    for key, value in fitted.items():
        cls = fitted_type(key)
        if not isinstance(value, cls):
            raise AekitError(f"fitted[{key!r}]: expected a {cls.__name__}; got {type(value).__name__}")


def component(fitted: Mapping[str, Any], cls: type[T]) -> T | None:
    """``fitted[cls.key]`` checked to be a ``cls``, or ``None`` when absent."""
    value = fitted.get(cls.key)
    if value is not None and not isinstance(value, cls):
        raise AekitError(f"fitted[{cls.key!r}]: expected a {cls.__name__}; got {type(value).__name__}")
    return value


# ----------------------------------------------------------------------------- checks for from_state
class MissingTensor(AekitError):
    """A tensor a component's JSON names is not among its saved tensors."""

    def __init__(self, name: str):
        super().__init__(f"missing tensor {name!r}")
        self.name = name


_REQUIRED: Any = object()


def entry(info: Any, what: str = "entry") -> Mapping[str, Any]:
    """``info`` checked to be a JSON object."""
    if not isinstance(info, Mapping):
        raise AekitError(f"{what}: expected a JSON object; got {type(info).__name__} {_short(info)}")
    return info


def _field(info: Mapping[str, Any], name: str, default: Any) -> Any:
    if name in info:
        return info[name]
    if default is _REQUIRED:
        raise AekitError(f"missing required field {name!r}")
    return default


def number(info: Mapping[str, Any], name: str, *, default: Any = _REQUIRED, allow_none: bool = False,
           finite: bool = True, check: Callable[[float], bool] | None = None, expected: str = "a number") -> Any:
    """A float field: an int or float (not a bool), finite unless ``finite=False``."""
    value = _field(info, name, default)
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AekitError(f"{name}: expected {expected}; got {_short(value)}")
    value = float(value)
    if finite and not math.isfinite(value):
        raise AekitError(f"{name}: expected a finite number; got {value!r}")
    if check is not None and not check(value):
        raise AekitError(f"{name}: expected {expected}; got {value!r}")
    return value


def integer(info: Mapping[str, Any], name: str, *, default: Any = _REQUIRED, minimum: int | None = None) -> int:
    """An int field (not a bool, not a float), at least ``minimum`` when given."""
    value = _field(info, name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise AekitError(f"{name}: expected an integer; got {_short(value)}")
    if minimum is not None and value < minimum:
        raise AekitError(f"{name}: expected an integer >= {minimum}; got {value}")
    return value


def choice(info: Mapping[str, Any], name: str, choices: tuple[str, ...], *, default: Any = _REQUIRED) -> str:
    """A string field, one of ``choices``."""
    value = _field(info, name, default)
    if value not in choices:
        raise AekitError(f"{name}: expected one of {', '.join(choices)}; got {_short(value)}")
    return value


def tensor(tensors: Mapping[str, torch.Tensor], name: str, *, ndim: int | None = None,
           kind: str = "float", finite: bool = True) -> torch.Tensor:
    """A saved tensor: present, of ``kind`` (``"float"`` or ``"int"``), ``ndim`` dimensions, finite."""
    if name not in tensors:
        raise MissingTensor(name)
    t = tensors[name]
    if not isinstance(t, torch.Tensor):
        raise AekitError(f"tensor {name!r}: expected a tensor; got {type(t).__name__}")
    if kind == "float" and not t.is_floating_point():
        raise AekitError(f"tensor {name!r}: expected floating point values; got {t.dtype}")
    if kind == "int" and (t.is_floating_point() or t.is_complex() or t.dtype == torch.bool):
        raise AekitError(f"tensor {name!r}: expected integers; got {t.dtype}")
    if ndim is not None and t.dim() != ndim:
        raise AekitError(f"tensor {name!r}: expected {ndim} dimensions; got shape {tuple(t.shape)}")
    if finite and kind == "float" and not bool(torch.isfinite(t).all()):
        raise AekitError(f"tensor {name!r}: expected finite values; got NaN or Inf")
    return t


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
