"""`python -m pipeline weights` and the runner's weights check, offline: generated weight files in the caches' exact
layouts, a local stand-in for the Hugging Face Hub (HF_ENDPOINT) and for download URLs (PIPELINE_WEIGHTS_MIRROR)."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from helpers import subprocess_env

from pipeline.cli import main as cli_main

ARCH = "test_resnet.r160_in1k"  # timm's tiny test network, whose weights live in the Hub repo timm/<ARCH>
REPO = f"timm/{ARCH}"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
DETECTOR = "fasterrcnn_mobilenet_v3_large_fpn"  # Cowboy Outfits' default: COCO weights from download.pytorch.org
DETECTOR_FILE = "fasterrcnn_mobilenet_v3_large_fpn-fb6a3cc7.pth"
DOGS = ["competitions/dog_breeds", "--set", f"arch={ARCH}"]


def use_caches(monkeypatch: pytest.MonkeyPatch, root: Path, offline: bool = True) -> None:
    """Point every weights cache at `root` (empty until something is put there)."""
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_ENDPOINT", "PIPELINE_WEIGHTS_MIRROR", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HOME", str(root / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(root / "torch"))
    if offline:
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def tiny_state() -> dict[str, torch.Tensor]:
    """A randomly initialised test_resnet's weights (what the Hub repo holds, in shape)."""
    import timm

    torch.manual_seed(1)
    return {k: v.contiguous() for k, v in timm.create_model("test_resnet").state_dict().items()}


def put_hf(hf_home: Path, state: dict[str, torch.Tensor]) -> Path:
    """The Hub cache layout: blobs/<sha256>, snapshots/<commit>/model.safetensors -> blob, refs/main."""
    from safetensors.torch import save_file

    repo = hf_home / "hub" / f"models--{REPO.replace('/', '--')}"
    (repo / "blobs").mkdir(parents=True)
    tmp = repo / "blobs" / "tmp"
    save_file(state, str(tmp))
    blob = tmp.rename(repo / "blobs" / hashlib.sha256(tmp.read_bytes()).hexdigest())
    snap = repo / "snapshots" / COMMIT / "model.safetensors"
    snap.parent.mkdir(parents=True)
    snap.symlink_to(os.path.relpath(blob, snap.parent))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    return snap


def detector_state() -> dict[str, torch.Tensor]:
    """A few conv weights of a randomly initialised COCO Faster R-CNN (MobileNetV3 FPN), by their real names."""
    from torchvision.models import detection as tvd

    torch.manual_seed(2)
    full = tvd.fasterrcnn_mobilenet_v3_large_fpn(weights=None, weights_backbone=None).state_dict()
    return {k: v for k, v in full.items() if v.dim() == 4}


def put_torch(torch_home: Path, state: dict[str, torch.Tensor]) -> Path:
    path = torch_home / "hub" / "checkpoints" / DETECTOR_FILE
    path.parent.mkdir(parents=True)
    torch.save(state, path)
    return path


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = cli_main(list(args))
    out, err = capsys.readouterr()
    return rc, out, err


def test_listing_names_source_size_and_where_each_weight_is_cached(tmp_path, monkeypatch, capsys):
    use_caches(monkeypatch, tmp_path)
    rc, out, _ = cli(capsys, "weights", *DOGS)
    assert rc == 0
    assert f"source: Hugging Face {REPO}" in out and "size:   unknown (not cached, offline)" in out
    assert f"cached: no (goes into {tmp_path / 'hf' / 'hub'})" in out
    assert f"python -m pipeline weights competitions/dog_breeds --set arch={ARCH} --download" in out

    path = put_hf(tmp_path / "hf", tiny_state())
    rc, out, _ = cli(capsys, "weights", *DOGS)
    assert f"cached: yes, {path}" in out and f"size:   {path.stat().st_size / 2**20:.1f} MB" in out
    assert "all 1 cached: this config runs offline" in out

    rc, out, _ = cli(capsys, "weights", "competitions/cowboy_outfits")
    assert f"source: https://download.pytorch.org/models/{DETECTOR_FILE}" in out
    assert "size:   74.2 MB" in out and f"cached: no (goes into {tmp_path / 'torch' / 'hub' / 'checkpoints'})" in out

    rc, out, _ = cli(capsys, "weights", "competitions/cowboy_outfits", "--sample")
    assert "fasterrcnn_tiny" in out and "random init: sample run" in out and "no pretrained weights needed" in out
    rc, out, _ = cli(capsys, "weights", "competitions/house_prices")
    assert "no pretrained weights needed" in out


def test_export_then_import_on_an_empty_machine_feeds_the_normal_loading_path(tmp_path, monkeypatch, capsys):
    from pipeline.detection.models import build_detector
    from pipeline.vision.pretrained import create_model

    here, there, folder = tmp_path / "here", tmp_path / "there", tmp_path / "export"
    state, det = tiny_state(), detector_state()
    put_hf(here / "hf", state)
    put_torch(here / "torch", det)
    use_caches(monkeypatch, here)
    assert cli(capsys, "weights", *DOGS, "--export", str(folder))[0] == 0
    assert cli(capsys, "weights", "competitions/cowboy_outfits", "--export", str(folder))[0] == 0  # same folder
    manifest = json.loads((folder / "manifest.json").read_text())["weights"]
    assert sorted(e["kind"] for e in manifest) == ["hf", "url"]
    for e in manifest:
        assert hashlib.sha256((folder / e["path"]).read_bytes()).hexdigest() == e["sha256"]

    use_caches(monkeypatch, there)
    assert "cached: no" in cli(capsys, "weights", *DOGS)[1]
    rc, out, _ = cli(capsys, "weights", "--import", str(folder))
    assert rc == 0 and "2 file(s) verified" in out
    assert "cached: yes" in cli(capsys, "weights", *DOGS)[1]
    assert "cached: yes" in cli(capsys, "weights", "competitions/cowboy_outfits")[1]

    model, note = create_model(ARCH, 5, True, None, None)  # offline, from the imported cache entry
    own = model.state_dict()
    assert all(torch.equal(own[k], v) for k, v in state.items() if not k.startswith("fc.")) and str(there) in note
    lines: list[str] = []
    detector = build_detector(DETECTOR, 5, 128, pretrained="coco", log=lines.append)
    own = detector.state_dict()
    fitting = [k for k, v in det.items() if own[k].shape == v.shape]
    assert len(fitting) > 50 and all(torch.equal(own[k], det[k]) for k in fitting)
    assert lines[0].startswith(f"pretrained: {len(fitting)}/") and "COCO" in lines[0]


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_import_refuses_a_corrupted_file_naming_it_and_imports_nothing(tmp_path, monkeypatch, capsys, damage):
    folder = tmp_path / "export"
    put_hf(tmp_path / "here" / "hf", tiny_state())
    use_caches(monkeypatch, tmp_path / "here")
    cli(capsys, "weights", *DOGS, "--export", str(folder))
    victim = next((folder / "hf").rglob("model.safetensors"))
    data = bytearray(victim.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0xFF
    else:
        data = data[:-100]
    victim.write_bytes(bytes(data))

    use_caches(monkeypatch, tmp_path / "there")
    rc, out, err = cli(capsys, "weights", "--import", str(folder))
    assert rc == 2 and err.startswith(f"error: {victim}: ") and err.count("\n") == 1
    assert ("sha256 differs" if damage == "flip" else "bytes, the manifest says") in err
    assert not (tmp_path / "there").exists()  # nothing half-imported
    rc, _, err = cli(capsys, "weights", "--import", str(tmp_path))
    assert rc == 2 and f"{tmp_path / 'manifest.json'}: no such file" in err


def test_a_real_data_run_with_missing_weights_stops_before_extracting_or_creating_a_run_folder(
    tmp_path, monkeypatch, capsys
):
    from competitions.dog_breeds.sample import write_sample

    write_sample(tmp_path / "raw", n_train=20, n_test=5)
    archive = tmp_path / "dog-breed-identification.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for f in (tmp_path / "raw").rglob("*"):
            z.write(f, f.relative_to(tmp_path / "raw"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    use_caches(monkeypatch, tmp_path / "caches")
    rc, _, err = cli(capsys, "run", "competitions/dog_breeds", "--data", str(archive), "--preset", "cpu")
    assert rc == 2 and err.startswith("error: pretrained weights missing and HF_HUB_OFFLINE is set")
    assert "efficientnet_b0.ra_in1k (Hugging Face timm/efficientnet_b0.ra_in1k)" in err
    assert "`python -m pipeline weights competitions/dog_breeds --preset cpu --download`" in err
    assert "python -m pipeline weights --import DIR" in err and "Traceback" not in err
    assert list(work.iterdir()) == []  # no data/ extracted, no runs/, no submissions/


class _StandIn(http.server.BaseHTTPRequestHandler):
    """Serves `files` (URL path -> bytes) like the Hub's resolve endpoint: HEAD with commit/etag/size, then GET."""

    files: dict[str, bytes] = {}

    def _head(self) -> bytes | None:
        body = self.files.get(self.path)
        if body is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", f'"{hashlib.sha256(body).hexdigest()}"')
        self.send_header("X-Repo-Commit", COMMIT)
        self.end_headers()
        return body

    def do_HEAD(self) -> None:  # noqa: N802
        self._head()

    def do_GET(self) -> None:  # noqa: N802
        body = self._head()
        if body is not None:
            self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def stand_in() -> Iterator[tuple[str, dict[str, bytes]]]:
    files: dict[str, bytes] = {}
    handler = type("Handler", (_StandIn,), {"files": files})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", files
    server.shutdown()


def test_download_fetches_from_the_hub_endpoint_into_the_cache_the_model_loads_from(tmp_path, monkeypatch, stand_in):
    from safetensors.torch import save

    from pipeline.vision.pretrained import create_model

    url, files = stand_in
    state = tiny_state()
    files[f"/{REPO}/resolve/main/model.safetensors"] = save(state)
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE")}
    env |= {"HF_HOME": str(tmp_path / "hf"), "TORCH_HOME": str(tmp_path / "torch"), "HF_ENDPOINT": url}
    env = subprocess_env(env, HF_HUB_DISABLE_TELEMETRY="1")
    cmd = [sys.executable, "-m", "pipeline", "weights", *DOGS, "--download"]
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"downloading {ARCH}: {REPO}" in done.stdout and "cached: yes" in done.stdout

    use_caches(monkeypatch, tmp_path)  # now offline: the normal path finds the download
    model, note = create_model(ARCH, 5, True, None, None)
    own = model.state_dict()
    assert all(torch.equal(own[k], v) for k, v in state.items() if not k.startswith("fc."))


def test_download_url_uses_the_mirror_and_refuses_a_file_whose_hash_does_not_match_its_name(
    tmp_path, monkeypatch, stand_in
):
    from pipeline.weights import Need, download, torch_checkpoints

    url, files = stand_in
    use_caches(monkeypatch, tmp_path, offline=False)
    monkeypatch.setenv("PIPELINE_WEIGHTS_MIRROR", url)
    files["/models/plain.pth"] = b"weights"
    got = download(Need("x", "url", "https://download.pytorch.org/models/plain.pth"), progress=False)
    assert got == torch_checkpoints() / "plain.pth" and got.read_bytes() == b"weights"

    files[f"/models/{DETECTOR_FILE}"] = b"not the published file"
    from pipeline.contract import ContractError

    with pytest.raises(ContractError, match="refused"):
        download(Need(DETECTOR, "url", f"https://download.pytorch.org/models/{DETECTOR_FILE}"), progress=False)
    assert not (torch_checkpoints() / DETECTOR_FILE).exists()


def test_the_listing_says_a_missing_local_weight_file_stops_run(capsys: pytest.CaptureFixture) -> None:
    # before: "cached: NO SUCH FILE", then "no pretrained weights needed: this config runs offline as it is"
    from pipeline.cli import main

    files = '["/nonexistent/a.pt","/nonexistent/b.pt"]'
    assert main(["weights", "competitions/leaves", "--set", f"pretrained_files={files}"]) == 0
    out = capsys.readouterr().out
    assert "missing 2 local weight file(s) (pretrained_file): run stops" in out and "runs offline" not in out


def test_a_hub_that_cannot_be_reached_is_named_not_the_repository(tmp_path, monkeypatch) -> None:
    # before: "<repo> has none of model.safetensors, pytorch_model.bin", after waiting out the retries of each file
    import huggingface_hub
    from huggingface_hub.errors import LocalEntryNotFoundError

    from pipeline.contract import ContractError
    from pipeline.weights import Need, download

    use_caches(monkeypatch, tmp_path, offline=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    tried: list[str] = []

    def unreachable(repo_id: str, filename: str, **kwargs: object) -> str:
        tried.append(filename)  # what the hub raises when its HEAD request finds no connection (Errno 111)
        raise LocalEntryNotFoundError("An error happened while trying to locate the file on the Hub ...")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", unreachable)
    need = Need(ARCH, "hf", REPO, files=("model.safetensors", "pytorch_model.bin"))
    with pytest.raises(ContractError, match=r"cannot reach http://127.0.0.1:9 to download .*no network") as e:
        download(need, progress=False)
    assert "has none of" not in str(e.value) and tried == ["model.safetensors"]
