"""`guide_pl.ufo`: UFO target latents (Eq. 3), kept importable here; the implementation is guide_pl.method.ufo."""

from .method.ufo import TARGET_MODES, target_latent

__all__ = ["TARGET_MODES", "target_latent"]
