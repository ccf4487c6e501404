"""Configuration: the schema (the only defaults), loading with groups and presets, and the `id=` forms."""

from ..errors import ConfigError
from .identities import identities_dir, identity_overrides, shipped_identities
from .load import CONFIG_DIR_ENV, GROUPS, available, config_dir, load_config, load_saved_config, to_yaml
from .schema import Config, validate

__all__ = ["CONFIG_DIR_ENV", "GROUPS", "Config", "ConfigError", "available", "config_dir", "identities_dir",
           "identity_overrides", "load_config", "load_saved_config", "shipped_identities", "to_yaml", "validate"]
