"""GUIDE itself: UFO targets, the LTU losses, per-step draws, the identity's latents, the DataModule, GuideModule
and its training callbacks. Knows no generator or face network by name (jobs.build wires them in)."""
