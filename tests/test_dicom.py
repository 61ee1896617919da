"""DICOM images (.dcm, as RSNA's and SIIM's downloads ship them): the pixels a file decodes to (rescale, VOI LUT or
VOI window, MONOCHROME1 inverted, grey over three channels, RGB as stored), refusals naming the file, and a download
of .dcm files that `new` reads as an image competition and `run` learns."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import UID, JPEGLSLossless, SecondaryCaptureImageStorage, generate_uid

from pipeline.cli import main
from pipeline.contract import load_competition
from pipeline.vision.data import ImageReadError, read_image
from pipeline.vision.decoded import store


def write_dcm(path: Path, pixels: np.ndarray, kind: str, bits: int, syntax: str = "", **tags: object) -> Path:
    """A one-frame DICOM file of `pixels` (uint8/uint16/int16; HxW grey or HxWx3 RGB), `bits` stored, explicit VR
    little endian unless `syntax` names another (its pixel data then encapsulated as given, undecoded)."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID = generate_uid()
    ds.set_pixel_data(pixels, kind, bits)  # sets the transfer syntax (explicit VR little endian) and group 0028
    for name, value in tags.items():
        setattr(ds, name, value)
    if syntax:
        ds.file_meta.TransferSyntaxUID = UID(syntax)
        ds.PixelData = encapsulate([b"\xff\xd8 not a real frame \xff\xd9"])
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def gray(image: np.ndarray) -> np.ndarray:
    """The one grey channel of a decoded image, after checking that its three channels are equal."""
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    assert (image[..., 0] == image[..., 1]).all() and (image[..., 0] == image[..., 2]).all()
    return image[..., 0]


STORED_12BIT = np.array([[0, 1000, 1500], [2000, 2600, 4095]], dtype=np.uint16)
# window center 2000, width 2001 (DICOM's LINEAR): 0 at or below 999.5, 255 above 2999.5, else
# ((x - 1999.5) / 2000 + 0.5) * 255: 1000 -> 0.06, 1500 -> 63.8, 2000 -> 127.6, 2600 -> 204.1
WINDOWED = np.array([[0, 0, 64], [128, 204, 255]], dtype=np.uint8)


def test_a_16_bit_monochrome2_image_is_windowed_by_its_center_and_width(tmp_path: Path) -> None:
    path = write_dcm(tmp_path / "a.dcm", STORED_12BIT, "MONOCHROME2", 12, WindowCenter=2000, WindowWidth=2001)
    np.testing.assert_array_equal(gray(read_image(path)), WINDOWED)


def test_a_monochrome1_image_is_inverted_after_its_window(tmp_path: Path) -> None:
    path = write_dcm(tmp_path / "a.dcm", STORED_12BIT, "MONOCHROME1", 12, WindowCenter=2000, WindowWidth=2001)
    np.testing.assert_array_equal(gray(read_image(path)), 255 - WINDOWED)


def test_the_window_applies_to_rescaled_values(tmp_path: Path) -> None:
    # stored 0, 100, 200, 300 -> 2x - 1024: -1024, -824, -624, -424 (CT's Hounsfield units); the window center
    # -624, width 401 maps -824.5 and below to 0 and above -424.5 to 255: -824 -> 0.3, -624 -> 127.8, -424 -> 255
    stored = np.array([[0, 100], [200, 300]], dtype=np.uint16)
    tags = {"RescaleSlope": 2, "RescaleIntercept": -1024, "WindowCenter": -624, "WindowWidth": 401}
    path = write_dcm(tmp_path / "ct.dcm", stored, "MONOCHROME2", 16, **tags)
    np.testing.assert_array_equal(gray(read_image(path)), [[0, 0], [128, 255]])


def test_several_windows_take_the_first_and_a_sigmoid_window_is_a_sigmoid(tmp_path: Path) -> None:
    stored = np.array([[2000, 2250]], dtype=np.uint16)
    tags = {"WindowCenter": [2000, 100], "WindowWidth": [1000, 10], "VOILUTFunction": "SIGMOID"}
    path = write_dcm(tmp_path / "mammo.dcm", stored, "MONOCHROME2", 12, **tags)
    # 255 / (1 + exp(-4 (x - 2000) / 1000)): 2000 -> 127.5 (rounded to even: 128), 2250 -> 186.4
    np.testing.assert_array_equal(gray(read_image(path)), [[128, 186]])


def voi_lut_item(first: int, data: list[int], bits: int = 16, vr: str = "OW") -> Dataset:
    """One item of a VOI LUT Sequence: `data`'s entries map the values first, first + 1, ... (`bits` per entry),
    stored as OW (bytes, little endian) or US (numbers), as files do either."""
    item = Dataset()
    item.LUTDescriptor = [len(data), first, bits]  # US, or SS where the image's pixels are signed (pydicom's choice)
    item.add_new(0x00283006, vr, np.asarray(data, dtype="<u2").tobytes() if vr == "OW" else data)  # LUT Data
    return item


def test_a_voi_lut_sequence_maps_the_values_by_its_table_and_wins_over_a_window(tmp_path: Path) -> None:
    # a square curve over 1000..2600 (1601 entries of 12-bit values, the descriptor saying 16 bits an entry, as files
    # often do): 0 (below the first mapped value) -> the first entry, 4095 (past the last) -> the last, else
    # ((x - 1000) / 1600)^2 of the LUT's range: 1500 -> 0.098 (25), 2000 -> 0.391 (100), 2600 -> 1; the window beside
    # it (WINDOWED: 64 and 128) and the minimum to maximum (93 and 125) would make 1500 and 2000 far brighter
    curve = [round(4095 * (i / 1600) ** 2) for i in range(1601)]
    path = write_dcm(
        tmp_path / "lut.dcm",
        STORED_12BIT,
        "MONOCHROME2",
        12,
        VOILUTSequence=[voi_lut_item(1000, curve)],
        WindowCenter=2000,
        WindowWidth=2001,
    )
    np.testing.assert_array_equal(gray(read_image(path)), [[0, 0, 25], [100, 255, 255]])
    # after the rescale (2x - 1024: stored 0..300 -> -1024..-424), on signed values from a negative first mapped
    # value, MONOCHROME1 inverted after it: a LUT that is high in the middle, -824 -> 0, -624 -> 255, -424 -> 0
    peak = [255 - abs(i - 200) * 255 // 200 for i in range(401)]
    stored = np.array([[0, 100], [200, 300]], dtype=np.int16)
    tags = {"RescaleSlope": 2, "RescaleIntercept": -1024, "VOILUTSequence": [voi_lut_item(-824, peak, 8, "US")]}
    path = write_dcm(tmp_path / "ct.dcm", stored, "MONOCHROME1", 16, **tags)
    np.testing.assert_array_equal(gray(read_image(path)), [[255, 255], [0, 255]])


def test_lut_data_is_read_as_words_in_the_files_byte_order_or_as_bytes_for_a_packed_8_bit_lut() -> None:
    from pipeline.dicom import voi_lut_table

    words = Dataset()
    words.LUTDescriptor = [3, 0, 16]
    words.add_new(0x00283006, "OW", np.array([1, 256, 4095], dtype="<u2").tobytes())
    np.testing.assert_array_equal(voi_lut_table(words, little=True), [1, 256, 4095])
    words.LUTData = np.array([1, 256, 4095], dtype=">u2").tobytes()
    np.testing.assert_array_equal(voi_lut_table(words, little=False), [1, 256, 4095])
    packed = Dataset()  # 8 bits an entry, one byte each: 4 entries in 4 bytes, not 2 words
    packed.LUTDescriptor = [4, 0, 8]
    packed.add_new(0x00283006, "OW", bytes([0, 10, 200, 255]))
    np.testing.assert_array_equal(voi_lut_table(packed, little=True), [0, 10, 200, 255])


def test_without_a_window_16_bit_pixels_span_their_minimum_to_maximum_and_8_bit_ones_stay_as_stored(
    tmp_path: Path,
) -> None:
    signed = np.array([[-500, -300], [-100, 520]], dtype=np.int16)  # 1020 apart: 4 units a grey level
    path = write_dcm(tmp_path / "s.dcm", signed, "MONOCHROME2", 16)
    np.testing.assert_array_equal(gray(read_image(path)), [[0, 50], [100, 255]])
    eight = np.array([[0, 7], [100, 200]], dtype=np.uint8)
    path = write_dcm(tmp_path / "e.dcm", eight, "MONOCHROME2", 8, RescaleSlope=1, RescaleIntercept=0)
    np.testing.assert_array_equal(gray(read_image(path)), eight)


def test_an_rgb_image_stays_rgb(tmp_path: Path) -> None:
    rgb = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    path = write_dcm(tmp_path / "mole.dcm", rgb, "RGB", 8)
    np.testing.assert_array_equal(read_image(path), rgb)


def test_a_compression_without_its_decoder_and_a_damaged_file_are_refused_naming_the_file(tmp_path: Path) -> None:
    path = write_dcm(tmp_path / "ls.dcm", STORED_12BIT, "MONOCHROME2", 12, syntax=JPEGLSLossless)
    with pytest.raises(ImageReadError, match=r"ls\.dcm: its pixels are compressed as JPEG-LS .* pip install "):
        read_image(path)
    whole = write_dcm(tmp_path / "cut.dcm", STORED_12BIT, "MONOCHROME2", 12).read_bytes()
    (tmp_path / "cut.dcm").write_bytes(whole[:-5])
    with pytest.raises(ImageReadError, match=r"cut\.dcm: its pixel data cannot be decoded"):
        read_image(tmp_path / "cut.dcm")
    (tmp_path / "text.dcm").write_text("patient,notes\n")
    with pytest.raises(ImageReadError, match=r"text\.dcm: it is not a DICOM file"):
        read_image(tmp_path / "text.dcm")


def disc(bright: bool, rng: np.random.Generator, size: int = 32) -> np.ndarray:
    """A 12-bit grey image: a disc of value 3800 (bright) or 200 (dark) at a random place on a noisy background of
    about 1500."""
    yy, xx = np.mgrid[:size, :size]
    cy, cx, r = rng.integers(11, size - 11, 2).tolist() + [int(rng.integers(6, 10))]
    image = 1500 + rng.normal(0, 60, (size, size))
    image[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = 3800 if bright else 200
    return np.clip(image, 0, 4095).astype(np.uint16)


def write_disc_download(folder: Path, n_train: int = 48, n_test: int = 16) -> Path:
    """RSNA Pneumonia's layout: train.csv (patientId,Target), train/<id>.dcm, test/<id>.dcm and a sample submission
    asking for Target's probability. Every file has the window center 2000, width 4000; a third of them are
    MONOCHROME1, storing 4095 - value: read without their inversion, their bright discs would be dark ones."""
    rng = np.random.default_rng(0)
    targets = rng.permutation(np.arange(n_train) % 2)
    ids = [f"p{rng.bytes(6).hex()}" for _ in range(n_train + n_test)]
    for i, pid in enumerate(ids):
        role, bright = ("train", bool(targets[i])) if i < n_train else ("test", bool(rng.integers(0, 2)))
        pixels, kind = disc(bright, rng), "MONOCHROME2"
        if i % 3 == 0:
            pixels, kind = (4095 - pixels).astype(np.uint16), "MONOCHROME1"
        write_dcm(folder / role / f"{pid}.dcm", pixels, kind, 12, WindowCenter=2000, WindowWidth=4000)
    pd.DataFrame({"patientId": ids[:n_train], "Target": targets}).to_csv(folder / "train.csv", index=False)
    pd.DataFrame({"patientId": ids[n_train:], "Target": 0.5}).to_csv(folder / "sample_submission.csv", index=False)
    return folder


def test_a_download_of_dicom_files_is_an_image_competition_that_learns_and_refuses_a_damaged_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    data = write_disc_download(tmp_path / "rsna-dicom-discs")
    assert main(["new", "dicom_discs", "--data", str(data), "--into", str(tmp_path / "comps")]) == 0
    assert "train.csv's patientId names train/<id>.dcm" in capsys.readouterr().out
    files = load_competition(str(tmp_path / "comps" / "dicom_discs")).FILES
    assert (files.image_path, files.test_image_path, files.positive) == ("train/{}.dcm", "test/{}.dcm", True)
    args = ["run", str(tmp_path / "comps" / "dicom_discs"), "--data", str(data), "--preset", "fast", "--quiet"]
    assert main(args) == 0
    (run_dir,) = (tmp_path / "runs" / "dicom_discs").glob("*")
    summary = json.loads((run_dir / "summary.json").read_text())
    sub, sample = pd.read_csv(summary["published"]), pd.read_csv(data / "sample_submission.csv")
    assert list(sub.columns) == ["patientId", "Target"] and sub["patientId"].tolist() == sample["patientId"].tolist()
    assert sub["Target"].between(0, 1).all()
    assert summary["metric"] == "roc_auc" and summary["cv"] > 0.8  # out of fold; chance is 0.5
    assert [i["file"] for i in json.loads((run_dir / "train_images.json").read_text())["images"]][:1] == [
        f"train/{pd.read_csv(data / 'train.csv')['patientId'].iloc[0]}.dcm"
    ]
    store().clear()  # predict decodes the test files again, as in a process of its own
    assert main(["predict", str(run_dir), "--data", str(data), "--out", str(tmp_path / "pred"), "--quiet"]) == 0
    again = pd.read_csv(tmp_path / "pred" / "submission.csv")
    assert again["patientId"].tolist() == sample["patientId"].tolist()
    np.testing.assert_allclose(again["Target"], sub["Target"], atol=1e-5)

    damaged = data / "test" / f"{sample['patientId'].iloc[3]}.dcm"
    damaged.write_bytes(damaged.read_bytes()[:-100])
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"image {damaged} cannot be decoded (its pixel data cannot be decoded" in err and "Traceback" not in err


def convert_beside(data: Path, folder: str) -> None:
    """The PNGs a user converts a folder's DICOM files to, beside it (<folder>_png/<id>.png), as read_image decodes
    them."""
    import cv2

    (data / f"{folder}_png").mkdir()
    for dcm in sorted((data / folder).glob("*.dcm")):
        cv2.imwrite(str(data / f"{folder}_png" / f"{dcm.stem}.png"), read_image(dcm)[..., ::-1])


def test_pngs_converted_beside_the_dicom_files_are_read_and_new_says_how_to_read_the_dicom_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    data = write_disc_download(tmp_path / "rsna-dicom-and-png", n_train=12, n_test=4)
    for folder in ("train", "test"):
        convert_beside(data, folder)
    assert main(["new", "dicom_png_twins", "--data", str(data), "--into", str(tmp_path / "comps")]) == 0
    out = capsys.readouterr().out
    package = tmp_path / "comps" / "dicom_png_twins"
    files = load_competition(str(package)).FILES
    assert (files.image_path, files.test_image_path) == ("train_png/{}.png", "test_png/{}.png")
    for role, csv, field in (
        ("train", "train.csv", "image_path"),
        ("test", "sample_submission.csv", "test_image_path"),
    ):
        assert (
            f"images: {role}_png/<id>.png and {role}/<id>.dcm both hold an image for every {csv} patientId; "
            f"{role}_png/<id>.png is read" in out
        )
        assert f"""to read {role}/<id>.dcm, set FILES' {field}="{role}/{{}}.dcm" in the package's __init__.py""" in out
    # what the note says to do reads the DICOM files
    init = package / "__init__.py"
    init.write_text(init.read_text().replace('image_path="train_png/{}.png"', 'image_path="train/{}.dcm"'))
    monkeypatch.delitem(sys.modules, "dicom_png_twins")  # imported above: imported again from the edited file
    module = load_competition(str(package))
    assert all(p.endswith(".dcm") and "/train/" in p for p in module.load(module.Config(), data).X)


def test_a_box_download_of_dicom_files_and_pngs_beside_them_reads_the_pngs_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from box_downloads import rsna_download

    monkeypatch.chdir(tmp_path)
    data = rsna_download(tmp_path / "rsna-pneumonia-detection-challenge", n_train=12, n_test=4)
    for folder in ("stage_2_train_images", "stage_2_test_images"):  # the PNGs made DICOM's, the PNGs beside them
        for png in sorted((data / folder).glob("*.png")):
            write_dcm(png.with_suffix(".dcm"), read_image(png)[..., 0].copy(), "MONOCHROME2", 8)
        convert_beside(data, folder)
        for png in (data / folder).glob("*.png"):
            png.unlink()
    assert main(["new", "dicom_png_boxes", "--data", str(data), "--into", str(tmp_path / "comps")]) == 0
    out = capsys.readouterr().out
    files = load_competition(str(tmp_path / "comps" / "dicom_png_boxes")).FILES
    assert files.image_path == "stage_2_train_images_png/{}.png"
    assert files.test_image_path == "stage_2_test_images_png/{}.png"
    assert (
        "stage_2_train_images_png/<id>.png and stage_2_train_images/<id>.dcm both hold an image for every "
        "stage_2_train_labels.csv patientId" in out
    )
    assert """set FILES' test_image_path="stage_2_test_images/{}.dcm" in the package's __init__.py""" in out


def test_a_vinbigdata_download_of_dicom_files_named_dicom_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from box_downloads import vinbig_download

    monkeypatch.chdir(tmp_path)
    data = vinbig_download(tmp_path / "vinbigdata-chest-xray-abnormalities-detection", n_train=12, n_test=4)
    for png in sorted(data.glob("t*/*.png")):  # VinBigData's train/<id>.dicom and test/<id>.dicom, grey 8 bits
        write_dcm(png.with_suffix(".dicom"), read_image(png)[..., 0].copy(), "MONOCHROME2", 8)
        png.unlink()
    assert main(["new", "dicom_vin", "--data", str(data), "--into", str(tmp_path / "comps")]) == 0
    module = load_competition(str(tmp_path / "comps" / "dicom_vin"))
    assert (module.FILES.image_path, module.FILES.test_image_path) == ("train/{}.dicom", "test/{}.dicom")
    loaded = module.load(module.Config(), data)
    assert all(p.endswith(".dicom") for p in loaded.X) and len(loaded.X) == 12
    assert [tuple(s) for s in loaded.info["train_sizes"]] == [(64, 64)] * 12
    assert read_image(loaded.X[0]).shape == (64, 64, 3)
