"""Mixins that keep frozen networks in eval mode: held submodules, or a whole fixed network."""

from __future__ import annotations

from torch import nn


class FrozenSubmodules(nn.Module):
    """The submodules named in `frozen_submodules` stay in eval mode (frozen BatchNorm statistics, no dropout)
    whatever mode the caller (e.g. Lightning) asks of the whole module."""

    frozen_submodules: tuple[str, ...] = ()

    def train(self, mode: bool = True):
        super().train(mode)
        for name in self.frozen_submodules:
            getattr(self, name).eval()
        return self


class AlwaysEval(nn.Module):
    """A fixed network (a metric or feature extractor): eval mode whatever mode the caller asks, so BatchNorm
    keeps its stored statistics."""

    def train(self, mode: bool = True):
        return super().train(False)
