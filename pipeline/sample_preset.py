"""`--sample` runs a competition's built-in sample with its `sample` preset: a small, randomly initialised setup
that goes through the same estimators, trainer, submission writer and validation as the real recipe, in seconds
and without pretrained weights.

The preset is a competition's `PRESETS["sample"]` (optional). It sits below everything the user gives: `--set`
over `--params` over `--preset` over the sample preset over the Config defaults. The run's config.json records it.
"""

from __future__ import annotations

from typing import Any

from pipeline.config import apply_overrides

NAME = "sample"


def sample_preset(module: Any) -> dict[str, Any]:
    """The competition's sample preset ({} when it has none)."""
    return dict(getattr(module, "PRESETS", {}).get(NAME, {}))


def sample_config(module: Any, overrides: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The Config of a `--sample` run: the sample preset under the user's overrides; and the preset applied."""
    preset = sample_preset(module)
    return apply_overrides(module.Config, {**preset, **overrides}, "sample preset"), preset
