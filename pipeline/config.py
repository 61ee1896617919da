"""Config overrides: `--set key=value`, presets and parameter files, checked against the competition's Config."""

from __future__ import annotations

import dataclasses
import inspect
import json
import types
import typing
from pathlib import Path
from typing import Any

from pipeline.contract import PER_TAG, ContractError


def field_types(config_cls: type) -> dict[str, Any]:
    """Resolved type of each Config field."""
    hints = typing.get_type_hints(config_cls)
    return {f.name: hints.get(f.name, Any) for f in dataclasses.fields(config_cls)}


def parse_set(items: list[str]) -> dict[str, str]:
    """Split `key=value` strings; reject anything else."""
    out: dict[str, str] = {}
    for item in items:
        if "=" not in item:
            raise ContractError(f"--set expects key=value, got '{item}'.")
        key, value = item.split("=", 1)
        out[key.strip()] = value.strip()
    return out


def _coerce(key: str, raw: Any, typ: Any) -> Any:
    origin = typing.get_origin(typ)
    args = typing.get_args(typ)
    if origin in (typing.Union, types.UnionType):
        if raw is None or (isinstance(raw, str) and raw.lower() in ("none", "null")) and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(key, raw, arg)
            except ContractError as e:
                errors.append(str(e))
        raise ContractError(errors[0] if errors else f"Cannot set '{key}' to {raw!r}.")
    if typ is Any:
        return raw
    if origin in (tuple, list):
        if isinstance(raw, str):
            try:
                raw = json.loads(raw)
            except json.JSONDecodeError:
                raw = [p for p in raw.split(",") if p != ""]
        if not isinstance(raw, list | tuple):
            raise ContractError(f"Wrong type for '{key}': expected a list like a,b,c, got {raw!r}.")
        inner = args[0] if args else Any
        values = [_coerce(key, v, inner) for v in raw]
        return tuple(values) if origin is tuple else values
    if typ is bool:
        if isinstance(raw, bool):
            return raw
        s = str(raw).lower()
        if s in ("1", "true", "yes", "on"):
            return True
        if s in ("0", "false", "no", "off"):
            return False
        raise ContractError(f"Wrong type for '{key}': expected bool (true/false), got {raw!r}.")
    if typ in (int, float, str):
        if typ in (int, float) and isinstance(raw, bool):  # JSON's true is no number (int(True) would give 1)
            raise ContractError(f"Wrong type for '{key}': expected {typ.__name__}, got {raw!r}.")
        if typ is int and isinstance(raw, float) and not raw.is_integer():
            raise ContractError(f"Wrong type for '{key}': expected int, got {raw!r}.")
        try:
            return typ(raw) if typ is not int else int(str(raw), 0) if isinstance(raw, str) else int(raw)
        except (TypeError, ValueError):
            raise ContractError(f"Wrong type for '{key}': expected {typ.__name__}, got {raw!r}.") from None
    return raw


def _check_keys(config_cls: type, overrides: dict[str, Any], source: str) -> None:
    """Unknown keys fail naming where they came from, with the valid keys listed."""
    types_ = field_types(config_cls)
    unknown = [k for k in overrides if k not in types_]
    if unknown:
        raise ContractError(f"Unknown {source} key(s): {', '.join(unknown)}. Valid keys: {', '.join(sorted(types_))}.")


def apply_overrides(config_cls: type, overrides: dict[str, Any], source: str = "--set") -> Any:
    """Build a Config with overrides applied; unknown keys and wrong types fail with the valid keys listed."""
    _check_keys(config_cls, overrides, source)
    types_ = field_types(config_cls)
    values = {}
    for key, value in overrides.items():
        try:
            values[key] = _coerce(key, value, types_[key])
        except ContractError as e:
            raise ContractError(f"{e}{_declared_bool(config_cls, key, value)}") from None
    return config_cls(**values)


def _declared_bool(config_cls: type, key: str, value: Any) -> str:
    """What to do where `threshold=per_tag` is refused by a Config that declares `threshold: bool` (as `new` wrote
    it before the cut per tag, pipeline/tag_cuts.py): declare it `bool | str`, in the file named; "" for any other
    key or value."""
    if key != "threshold" or str(value).strip().lower() != PER_TAG:
        return ""
    from pipeline.archives import display_path

    try:
        where = display_path(Path(inspect.getfile(config_cls)))
    except (TypeError, OSError):
        where = f"the competition's package ({config_cls.__module__})"
    return (
        f' "{PER_TAG}" (a cut per tag, for tags scored by an F-score) needs the field declared '
        f"`threshold: bool | str = True` in {where}: this Config declares it bool, as `new` wrote it before the cut "
        "per tag."
    )


def read_params_file(path: Path | str) -> dict[str, Any]:
    """The JSON object of a --params file, or a one-line error naming the file and what it holds."""
    p = Path(path).expanduser()
    try:
        value = json.loads(p.read_text())
    except OSError as e:
        raise ContractError(f"--params {path}: cannot read it ({e.strerror or e}).") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ContractError(f"--params {path}: not valid JSON ({e}).") from None
    if not isinstance(value, dict):
        raise ContractError(
            f'--params {path}: must hold a JSON object of Config overrides like {{"lr": 0.1}}, '
            f"got a {type(value).__name__} ({json.dumps(value)[:60]})."
        )
    return value


def resolve_config(
    module: Any,
    preset: str | None = None,
    params: Path | str | dict[str, Any] | None = None,
    sets: list[str] | None = None,
    params_file: str | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Config from, in order of precedence: --set, --params (a JSON file, or the overrides read from `params_file`
    when the run started), a preset, the defaults."""
    overrides: dict[str, Any] = {}
    if preset:
        presets = getattr(module, "PRESETS", {})
        if preset not in presets:
            raise ContractError(f"Unknown preset '{preset}'. Valid presets: {', '.join(sorted(presets)) or '(none)'}.")
        overrides.update(presets[preset])
    if params is not None:
        read = params if isinstance(params, dict) else read_params_file(params)
        named = params_file or ("" if isinstance(params, dict) else str(params))
        _check_keys(module.Config, read, f"--params {named}".strip())
        overrides.update(read)
    given = parse_set(sets or [])
    _check_keys(module.Config, given, "--set")
    overrides.update(given)
    return apply_overrides(module.Config, overrides), overrides


def config_dict(cfg: Any) -> dict[str, Any]:
    """A JSON-friendly dict of a Config."""
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(cfg).items()}
