"""Pretrained weights for timm networks, offline first: the local Hugging Face cache, or a weights file of your own."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pipeline.contract import ContractError
from pipeline.listing import listed
from pipeline.weight_sources import Need, hf_cache_dir, offline, reachable

# where a checkpoint keeps its weights, EMA first (what the framework and timm predict with when EMA is on)
STATE_KEYS = ("state_dict_ema", "model_ema", "ema", "state_dict", "model", "model_state", "model_state_dict", "module")
HUB_PREFIXES = ("hf-hub:", "hf_hub:", "local-dir:")
MIN_MATCHED = 0.5  # share of the backbone's tensors a file must provide, else it is for another architecture


def create_model(
    arch: str,
    num_classes: int,
    pretrained: bool,
    pretrained_file: str | None,
    model_kwargs: dict[str, Any] | None,
    in_chans: int = 3,
) -> tuple[nn.Module, str]:
    """The timm network with a `num_classes` head, `in_chans` input channels and the requested weights, and a line
    saying what was loaded. Pretrained RGB weights for another channel count have their first convolution adapted
    as timm adapts them (`adapt_input_conv`: one channel sums the three filters; more repeat them in turn, red,
    green, blue, red ..., scaled by 3 / in_chans), the Hub's by timm itself, a pretrained_file's by load_weights."""
    import timm

    import pipeline.vision.models  # noqa: F401  (registers the framework's timm models)

    check_arch(arch)
    kwargs = {**(model_kwargs or {}), "num_classes": num_classes}
    if in_chans != 3:  # timm's default; left out for RGB, so a network that takes no in_chans is built as before
        kwargs["in_chans"] = in_chans
    if pretrained_file:
        path = Path(pretrained_file).expanduser()
        if not path.is_file():
            raise ContractError(f"pretrained_file not found: {path} (expected a .safetensors, .pth, .pt or .bin file).")
        model = timm.create_model(arch, pretrained=False, **kwargs)
        note = load_weights(model, path)
        model.pretrained_weights = True  # the trainer skips data-dependent init (airbench's whitening) then
        return model, note
    if not pretrained:
        return timm.create_model(arch, pretrained=False, **kwargs), f"{arch}: random initialisation"
    return from_hub(arch, kwargs)


def from_hub(arch: str, kwargs: dict[str, Any]) -> tuple[nn.Module, str]:
    """timm's network `arch` (built with `kwargs`: a class count, features_only) with its pretrained tag's weights,
    offline first: the local Hugging Face or torch hub cache, else a download when the Hub is reachable; and a line
    saying what was loaded. Fails naming what is missing and how to get it onto an offline machine."""
    import timm

    import pipeline.vision.models  # noqa: F401  (registers the framework's timm models)

    if arch.startswith(HUB_PREFIXES):  # a Hub repo or folder named directly: timm resolves it (HF_HUB_OFFLINE applies)
        try:
            return timm.create_model(arch, pretrained=True, **kwargs), f"{arch}: pretrained weights"
        except Exception as e:
            raise ContractError(f"Cannot load '{arch}': {type(e).__name__}: {e}") from e
    repo, files, url = _weights_source(arch)
    cache = hf_cache_dir()
    found = _cached(repo, files, url)
    if found is not None:  # timm's own loading (filters, head dropped when the class count differs), no network
        model = timm.create_model(arch, pretrained=True, pretrained_cfg_overlay={"file": str(found)}, **kwargs)
        return model, f"{arch}: pretrained weights {repo or url} from {found}"
    if _offline() or not _hub_reachable():
        why = "HF_HUB_OFFLINE is set" if _offline() else "the Hugging Face Hub cannot be reached"
        raise ContractError(missing_message(arch, repo, url, cache, why))
    try:
        model = timm.create_model(arch, pretrained=True, cache_dir=cache, **kwargs)
    except Exception as e:
        raise ContractError(missing_message(arch, repo, url, cache, f"the download failed: {e}")) from e
    return model, f"{arch}: pretrained weights {repo or url} downloaded into {cache}"


def check_arch(arch: str) -> None:
    """Refuse an unknown architecture or pretrained tag, listing what timm has."""
    import timm
    from timm.models import get_pretrained_cfg

    if arch.startswith(HUB_PREFIXES):
        return
    if not timm.is_model(arch):
        raise ContractError(f"Unknown timm architecture '{arch}'; see timm.list_models() and timm.list_pretrained().")
    try:
        get_pretrained_cfg(arch)
    except RuntimeError:
        tags = timm.list_pretrained(f"{arch.split('.')[0]}.*")
        raise ContractError(f"Unknown pretrained tag in '{arch}'. Valid: {listed(tags, 20) or 'none'}.") from None


def missing_message(arch: str, repo: str | None, url: str | None, cache: Path, why: str) -> str:
    """What is missing, why, and how to get it onto an offline machine."""
    where = f"the Hugging Face cache {cache}" if repo else f"the torch hub cache {Path(torch.hub.get_dir())}"
    get = (
        f"on a machine with internet run `hf download {repo}` (or `huggingface-cli download {repo}`) and copy its "
        "Hugging Face cache folder (~/.cache/huggingface/hub, or $HF_HOME/hub) to the same place here (or point "
        "HF_HOME at it)"
        if repo
        else f"download {url} into {Path(torch.hub.get_dir()) / 'checkpoints'}"
    )
    return (
        f"Pretrained weights for '{arch}' are not in {where} and {why}. To get them: {get} (`python -m pipeline "
        "weights competitions/<name> --download`, or `--export DIR` there and `--import DIR` here, does this for a "
        "competition's config); or pass a weights file of your own with --set pretrained_file=PATH (.safetensors "
        "or .pth)."
    )


def _weights_source(arch: str) -> tuple[str | None, list[str], str | None]:
    """timm's Hub repo (with the file names to look for) or download URL for the arch's pretrained tag."""
    from timm.models import get_pretrained_cfg

    import pipeline.vision.models  # noqa: F401

    cfg = get_pretrained_cfg(arch)
    repo, url = (cfg.hf_hub_id, cfg.url) if cfg is not None else (None, None)
    if not repo and not url:
        raise ContractError(
            f"timm knows no pretrained weights for '{arch}' (see timm.list_pretrained('{arch.split('.')[0]}*') for "
            "tags); use pretrained=False or --set pretrained_file=PATH."
        )
    named = cfg.hf_hub_filename
    files = [named] if named else ["model.safetensors", "pytorch_model.bin"]
    if named and named.endswith(".bin"):
        files.insert(0, named[: -len(".bin")] + ".safetensors")
    return repo, files, url


def _cached(repo: str | None, files: list[str], url: str | None) -> Path | None:
    """The local copy of the weights, if any, looked up without the network (as `weights` lists it)."""
    if repo:
        return Need("", "hf", repo, files=tuple(files), url=url).cached()
    return Need("", "url", url).cached() if url else None


def _offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE) or offline()


def _hub_reachable(timeout: float = 3.0) -> bool:
    """A quick TCP check, so an offline machine fails in seconds instead of the Hub client's minute of retries."""
    from huggingface_hub import constants

    return reachable(os.environ.get("HF_ENDPOINT") or constants.ENDPOINT, timeout)


def weight_needs(arch: str, pretrained: bool, pretrained_file: str | None) -> list[Need]:
    """What create_model will load for these settings, without loading anything (for `weights` and the runner)."""
    if pretrained_file:
        return [Need(arch, "file", str(Path(pretrained_file).expanduser()))]
    if not pretrained:
        return [Need(arch, "none", why="pretrained=False")]
    if arch.startswith("local-dir:"):
        return [Need(arch, "file", arch[len("local-dir:") :])]
    if arch.startswith(HUB_PREFIXES):  # hf-hub:org/name[@rev]: timm reads the repo's config and weights
        return [Need(arch, "hf", arch.split(":", 1)[1], files=("model.safetensors", "pytorch_model.bin"))]
    check_arch(arch)
    repo, files, url = _weights_source(arch)
    if repo:
        return [Need(arch, "hf", repo, files=tuple(files), url=url)]
    assert url is not None
    return [Need(arch, "url", url)]


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a weights file: .safetensors, or a torch file with a state dict or a checkpoint wrapping one."""
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            obj: Any = load_file(str(path), device="cpu")
        else:  # weights_only: a file from elsewhere cannot run code; timm's checkpoints keep an argparse Namespace
            with torch.serialization.safe_globals([argparse.Namespace]):
                obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ContractError(f"Cannot read pretrained_file {path}: {type(e).__name__}: {e}") from e
    state = _unwrap(obj)
    if not state:
        keys = list(obj)[:10] if isinstance(obj, dict) else type(obj).__name__
        raise ContractError(
            f"pretrained_file {path} holds no state dict (found {keys}); expected tensors by name, or a checkpoint "
            f"with one under {', '.join(STATE_KEYS)}."
        )
    return _strip_prefixes(state)


def _unwrap(obj: Any, depth: int = 0) -> dict[str, torch.Tensor] | None:
    if not isinstance(obj, dict) or depth > 3:
        return None
    if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return obj
    for key in STATE_KEYS:
        found = _unwrap(obj.get(key), depth + 1)
        if found:
            return found
    return None


def _strip_prefixes(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop DDP's `module.` and torch.compile's `_orig_mod.` prefixes, in any order."""
    out = {}
    for k, v in state.items():
        while k.startswith(("module.", "_orig_mod.")):
            k = k.split(".", 1)[1]
        out[k] = v
    return out


def load_weights(model: nn.Module, path: Path) -> str:
    """Copy the file's backbone tensors whose name and shape match; the classifier head stays new (random init).

    The file's head predicted its own classes, whatever their number: a fresh head learns the new ones faster.

    Refuses a file that covers less than half of the backbone (another architecture), naming the first mismatches.
    """
    from pipeline.vision.finetune import classifier_names

    state, own = read_state_dict(path), model.state_dict()
    state |= _adapted_stem(model, state, own)
    head = set(classifier_names(model))
    matched = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape and k not in head}
    backbone = [k for k in own if k not in head]
    missing = [k for k in backbone if k not in matched]
    arch = getattr(model, "pretrained_cfg", {}).get("architecture") or type(model).__name__
    if len(backbone) - len(missing) < MIN_MATCHED * len(backbone):
        shown = [k for k in missing if not k.endswith("num_batches_tracked")][:4]
        first = "; ".join(
            f"{k}: model {tuple(own[k].shape)}, file {tuple(state[k].shape) if k in state else 'absent'}" for k in shown
        )
        extra = [k for k in state if k not in own and not k.endswith("num_batches_tracked")][:4]
        raise ContractError(
            f"pretrained_file {path} does not fit '{arch}': only {len(backbone) - len(missing)} of its "
            f"{len(backbone)} backbone tensors match by name and shape. First mismatches: {first}. "
            f"File keys the model lacks: {extra or 'none'}. Was it saved from another architecture?"
        )
    model.load_state_dict(matched, strict=False)
    note = f"{arch}: loaded {len(matched)} of {len(own)} tensors from {path}; new head ({', '.join(sorted(head))})"
    if missing:
        note += f"; {len(missing)} backbone tensors not in the file keep their random init (first: {missing[0]})"
    return note


def _adapted_stem(model: nn.Module, state: dict[str, torch.Tensor], own: dict[str, torch.Tensor]) -> dict[str, Any]:
    """The file's first-convolution weights (timm's pretrained_cfg "first_conv") of another input channel count than
    the network's (RGB weights for a network of four channels) adapted to it as timm adapts the Hub's
    (adapt_input_conv); {} where they already fit, or the network names no first convolution."""
    from timm.models import adapt_input_conv

    convs = (getattr(model, "pretrained_cfg", None) or {}).get("first_conv") or ()
    out = {}
    for name in (convs,) if isinstance(convs, str) else convs:
        key = f"{name}.weight"
        if key not in state or key not in own or state[key].ndim != 4:
            continue
        (out_f, in_f, *kernel_f), (out_m, in_m, *kernel_m) = state[key].shape, own[key].shape
        if in_f != in_m and (out_f, kernel_f) == (out_m, kernel_m):
            out[key] = adapt_input_conv(in_m, state[key], base_chans=in_f)
    return out
