"""Loading a config: schema defaults ← default.yaml ← chosen group files ← preset ← `key=value` overrides.

The YAML groups ship inside this package (found with importlib.resources, so a non-editable install has them);
$GUIDE_PL_CONFIG_DIR points at another folder of the same layout instead. Every merge is strictly checked.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import fields, is_dataclass
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path
from typing import Any, Optional, Union

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException, ValidationError

from ..errors import ConfigError
from .identities import identity_overrides
from .schema import Config, validate

CONFIG_DIR_ENV = "GUIDE_PL_CONFIG_DIR"
GROUPS = ("generator", "method", "scenario")
Folder = Union[Path, Traversable]


def config_dir() -> Folder:
    """Folder of YAML configs: $GUIDE_PL_CONFIG_DIR when set, else the groups shipped in this package."""
    if os.environ.get(CONFIG_DIR_ENV):
        return Path(os.environ[CONFIG_DIR_ENV])
    return resources.files(__package__)


def _schema_keys(schema: Any, dotted: str) -> list[str]:
    """Valid keys at `dotted` (e.g. "method") of the dataclass schema."""
    node = schema
    for part in [p for p in dotted.split(".") if p]:
        types = {f.name: f for f in fields(node)}
        if part not in types:
            return []
        node = types[part].default_factory() if callable(types[part].default_factory) else types[part].default
        if not is_dataclass(node):
            return []
    return [f.name for f in fields(node)] if is_dataclass(node) else []


def _explain(error: Exception) -> ConfigError:
    """Turn an OmegaConf error into one that names the bad key and lists the valid ones."""
    key = getattr(error, "full_key", None) or ""
    parent = key.rsplit(".", 1)[0] if "." in key else ""
    valid = _schema_keys(Config(), parent)
    where = f"'{parent}'" if parent else "the top level"
    if isinstance(error, (ConfigAttributeError, ConfigKeyError)):
        return ConfigError(f"unknown config key '{key}'; valid keys in {where}: {', '.join(valid)}")
    return ConfigError(f"bad value for '{key}': {error.msg if hasattr(error, 'msg') else error}")


def _merge(base: DictConfig, *others: Any) -> DictConfig:
    try:
        return OmegaConf.merge(base, *others)
    except (ConfigAttributeError, ConfigKeyError, ValidationError) as error:
        raise _explain(error) from None


def _parse_dotlist(dotted: list[str]) -> DictConfig:
    try:
        return OmegaConf.from_dotlist(dotted)
    except Exception as error:  # noqa: BLE001 - grammar errors from the dotlist parser
        raise ConfigError(f"cannot parse overrides {dotted}: {error}") from None


def _load_yaml(path: Folder) -> DictConfig:
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        loaded = OmegaConf.create(path.read_text(encoding="utf-8"))
    except (OmegaConfBaseException, yaml.YAMLError, ValueError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read config file {path}: {error}") from None
    if not isinstance(loaded, DictConfig):
        raise ConfigError(f"config file {path} does not hold a mapping of keys")
    return loaded


def available(group: str, directory: Optional[Folder] = None) -> list[str]:
    """Names of the YAML files in config group `group` (e.g. "method/preset")."""
    folder = directory or config_dir()
    for part in group.split("/"):
        folder = folder / part
    if not folder.is_dir():
        return []
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def _split_overrides(overrides: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """`group=name` choices and dotted `key=value` items; `id=...` expands into scenario overrides first."""
    expanded: list[str] = []
    for item in overrides:
        expanded.extend(identity_overrides(item[3:]) if item.startswith("id=") else [item])
    groups, dotted = {}, []
    for item in expanded:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not of the form key=value")
        key, value = item.split("=", 1)
        if key in GROUPS:
            groups[key] = value
        else:
            dotted.append(f"{key}={value}")
    return groups, dotted


def load_config(overrides: Sequence[str] = (), directory: Optional[Folder] = None) -> DictConfig:
    """Schema ← default.yaml ← chosen group files ← `key=value` overrides ← preset (under the command line's
    own keys), all strictly checked.

    `group=name` (generator, method, scenario) loads <group>/<name>.yaml, a fragment of the whole config (a
    generator file may also set the loss networks that fit it). Other overrides are dotted keys.
    """
    directory = directory or config_dir()
    default = _load_yaml(directory / "default.yaml")
    # default.yaml's `defaults:` names the group files used when the command line chooses none.
    chosen = OmegaConf.to_container(default.pop("defaults", None) or OmegaConf.create({}))
    unknown_groups = sorted(set(chosen) - set(GROUPS))
    if unknown_groups:
        raise ConfigError(f"unknown config group(s) {unknown_groups} in default.yaml; valid: {', '.join(GROUPS)}")
    choices, dotted = _split_overrides(overrides)
    groups = {group: choices.get(group, chosen.get(group)) for group in GROUPS}

    cfg = _merge(OmegaConf.structured(Config), default)
    for group in GROUPS:
        name = groups[group]
        if name is None:
            continue
        path = directory / group / f"{name}.yaml"
        if not path.is_file():
            raise ConfigError(f"no {group} config {name!r}; available: {', '.join(available(group, directory))}")
        cfg = _merge(cfg, _load_yaml(path))
    cli = _parse_dotlist(dotted)
    cfg = _merge(cfg, cli)
    if cfg.method.preset:
        # The preset sits above the group files; explicit command-line keys still win.
        path = directory / "method" / "preset" / f"{cfg.method.preset}.yaml"
        if not path.is_file():
            names = ", ".join(available("method/preset", directory))
            raise ConfigError(f"no method preset {cfg.method.preset!r}; available: {names}")
        cfg = _merge(cfg, _load_yaml(path), cli)
    validate(cfg)
    return cfg


def to_yaml(cfg: DictConfig) -> str:
    """The resolved config as YAML (written into every run folder)."""
    return OmegaConf.to_yaml(cfg, resolve=True)


def load_saved_config(path: str | os.PathLike, overrides: Sequence[str] = ()) -> DictConfig:
    """A run's saved config.yaml over the schema, with dotted `key=value` overrides, strictly checked."""
    cfg = _merge(OmegaConf.structured(Config), _load_yaml(Path(path)))
    bad = [item for item in overrides if "=" not in item]
    if bad:
        raise ConfigError(f"override {bad[0]!r} is not of the form key=value")
    cfg = _merge(cfg, _parse_dotlist(list(overrides)))
    validate(cfg)
    return cfg
