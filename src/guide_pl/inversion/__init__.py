"""Inversion of photos into generator latents: the Inverter interface, its registry and the on-disk cache."""

from . import goae, psp  # noqa: F401  (register "goae", "psp")
from .base import INVERTERS, Inverter, build_inverter
from .cache import CachedInverter, cached_invert
from .optimize import OptimizationInverter  # registers "optimize"

__all__ = ["INVERTERS", "CachedInverter", "Inverter", "OptimizationInverter", "build_inverter", "cached_invert"]
