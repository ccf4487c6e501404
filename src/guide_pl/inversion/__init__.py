"""Inversion of photos into generator latents: the Inverter interface and its registry."""

from . import psp  # noqa: F401  (registers "psp")
from .base import INVERTERS, Inverter, build_inverter
from .cache import cached_invert
from .optimize import OptimizationInverter  # registers "optimize"

__all__ = ["INVERTERS", "Inverter", "OptimizationInverter", "build_inverter", "cached_invert"]
