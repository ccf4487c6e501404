"""The `id=` forms a user names an identity with, and the shipped identities (data/identities/<name>/).

`random:<seed>` (w_u = Map(z) for a seeded z), a shipped identity's name, or a folder or image of photos.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from ..errors import ConfigError

IDENTITIES_ENV = "GUIDE_PL_IDENTITIES"


def identities_dir() -> Path:
    """Folder of shipped identities: $GUIDE_PL_IDENTITIES, ./data/identities, or the source checkout's."""
    if os.environ.get(IDENTITIES_ENV):
        return Path(os.environ[IDENTITIES_ENV])
    local = Path.cwd() / "data" / "identities"
    return local if local.is_dir() else Path(__file__).resolve().parents[3] / "data" / "identities"


def shipped_identities(folder: Optional[Path] = None) -> list[str]:
    """Names of the identities (sub-folders) in `folder`, by default the shipped ones in data/identities/."""
    folder = folder or identities_dir()
    return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def identity_overrides(value: str) -> list[str]:
    """`id=VALUE` → scenario overrides: `random:<seed>`, a shipped identity name, or a folder/file of photos."""
    if value.startswith("random:"):
        seed = value.split(":", 1)[1]
        if not seed.lstrip("-").isdigit():
            raise ConfigError(f"id={value}: expected random:<integer seed>")
        return ["scenario=random", f"scenario.identity_seed={seed}"]
    shipped = identities_dir() / value
    path = shipped if value and shipped.is_dir() else Path(value)
    if not value or not path.exists():
        names = ", ".join(shipped_identities()) or f"none found in {identities_dir()}"
        raise ConfigError(
            f"id={value} is neither random:<seed>, a shipped identity ({names}), nor an existing folder or image"
        )
    return ["scenario=photos", f"scenario.photos={path}"]
