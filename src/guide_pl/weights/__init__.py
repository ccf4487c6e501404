"""Weights: the catalogue of every file (`catalog`), the registry pins (`sources`) and the one fetch path (`fetch`)."""

from .catalog import (
    CHECKPOINT_DIR_ENV,
    WEIGHTS,
    WeightFile,
    checkpoint_dir,
    fetched_folder,
    fetched_keys,
    locate,
    register_weight,
    sha256_of,
)

__all__ = ["CHECKPOINT_DIR_ENV", "WEIGHTS", "WeightFile", "checkpoint_dir", "fetched_folder", "fetched_keys",
           "locate", "register_weight", "sha256_of"]
