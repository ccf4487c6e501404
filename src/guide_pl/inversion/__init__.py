"""Inversion of photos into generator latents: the Inverter interface and its registry."""

from . import psp  # noqa: F401  (registers "psp")
from .base import INVERTERS, Inverter, build_inverter

__all__ = ["INVERTERS", "Inverter", "build_inverter"]
