"""Small name → builder registries for generators, identity networks and perceptual networks."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from .errors import UnknownNameError, UnknownOptionError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to builder callables; building checks keyword arguments against the builder's signature."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._builders: dict[str, Callable[..., T]] = {}

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator registering `builder` under `name`."""

        def decorator(builder: Callable[..., T]) -> Callable[..., T]:
            if name in self._builders:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._builders[name] = builder
            return builder

        return decorator

    def names(self) -> list[str]:
        """Sorted names of every registered builder."""
        return sorted(self._builders)

    def __contains__(self, name: str) -> bool:
        return name in self._builders

    def build(self, name: str, **kwargs: Any) -> T:
        """Build `name` with `kwargs`; unknown names or keywords fail naming the valid ones."""
        if name not in self._builders:
            raise UnknownNameError(f"unknown {self.kind} {name!r}; known: {', '.join(self.names()) or '(none)'}")
        builder = self._builders[name]
        params = inspect.signature(builder).parameters
        accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        if not accepts_any:
            unknown = sorted(set(kwargs) - set(params))
            if unknown:
                valid = ", ".join(sorted(params)) or "(none)"
                raise UnknownOptionError(f"{self.kind} {name!r} got unknown option(s) {unknown}; valid: {valid}")
        return builder(**kwargs)
