"""DICOM files (.dcm: RSNA Pneumonia, SIIM-ACR Pneumothorax, RSNA Breast Cancer, SIIM-ISIC's DICOM folders) read as
the pipeline's images: an RGB uint8 HxWx3 array, as pipeline.vision.data.read_image gives for a PNG or a JPEG.

A grey image (MONOCHROME1/2) goes through the modality LUT (RescaleSlope and RescaleIntercept), then its VOI LUT
Sequence (0028,3010) when the file has one (its first LUT; it wins over a window, as pydicom's apply_voi_lut does by
default), else its VOI window (WindowCenter/WindowWidth, the first where several are given; VOILUTFunction LINEAR,
LINEAR_EXACT or SIGMOID, DICOM PS3.3 C.11.2.1.2) when it has one, else its pixels' minimum to maximum; an 8-bit image
(or fewer bits) with neither a rescale nor a VOI LUT nor a window is taken as stored, as a grey PNG is. MONOCHROME1
(0 is white) is inverted, and the grey is repeated over three channels, as OpenCV reads a grey PNG. A colour image
(RGB; YBR, which pydicom turns into RGB; PALETTE COLOR through its palette) stays RGB, 16-bit samples scaled to 8.

Uncompressed files, RLE and deflated ones decode with pydicom alone, JPEG baseline and JPEG 2000 through Pillow; a
file compressed in a syntax that needs a decoder that is not installed (JPEG-LS, JPEG lossless) is refused naming the
file, its transfer syntax and what to install. A file of several frames is refused too (one image per file is read).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.contract import ContractError

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

SUFFIXES = (".dcm", ".dicom")  # RSNA Pneumonia's .dcm, VinBigData's .dicom
PIP_NAMES = {"gdcm": "python-gdcm"}  # pydicom names a plugin's modules by import; pip installs them by these names


class DicomError(ContractError):
    """A DICOM file that cannot be read as an image; `why` says why without the file's name (which str() adds)."""

    def __init__(self, path: str | os.PathLike[str], why: str) -> None:
        super().__init__(f"Cannot decode DICOM image {path}: {why}.")
        self.why = why


def is_dicom(path: str | os.PathLike[str]) -> bool:
    """A DICOM file, by its name's suffix (.dcm or .dicom, in any case)."""
    return str(path).lower().endswith(SUFFIXES)


def dicom_size(path: str | os.PathLike[str], data: bytes | None = None) -> tuple[int, int]:
    """The image's (width, height) from the file's header, its pixels not read (`data`: the file's bytes, read
    already: `new` reads a download's files from its zip)."""
    ds = _dataset(path, pixels=False, data=data)
    if "Rows" not in ds or "Columns" not in ds:
        raise DicomError(path, "it holds no image (no Rows and Columns)")
    return int(ds.Columns), int(ds.Rows)


def read_dicom(path: str | os.PathLike[str], data: bytes | None = None) -> np.ndarray:
    """The file's image as an RGB uint8 HxWx3 array (the module's docstring says how), or a DicomError naming it
    (`data`: its bytes, read already)."""
    ds = _dataset(path, pixels=True, data=data)
    pixels = _pixels(ds, path)
    kind = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    if kind.startswith("MONOCHROME"):
        if pixels.ndim != 2:
            raise DicomError(path, f"a {kind} image of shape {pixels.shape}, not rows x columns")
        gray = gray_uint8(ds, pixels)
        return np.repeat(gray[:, :, None], 3, axis=2)
    return color_uint8(ds, pixels, path)


def _dataset(path: str | os.PathLike[str], pixels: bool, data: bytes | None = None) -> Dataset:
    """The file's data set (its pixel data left unread unless `pixels`; from `data`, its bytes, where given), or a
    DicomError naming the file."""
    import io

    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        return pydicom.dcmread(os.fspath(path) if data is None else io.BytesIO(data), stop_before_pixels=not pixels)
    except OSError as e:
        raise DicomError(path, e.strerror or str(e)) from None
    except InvalidDicomError:
        raise DicomError(path, "it is not a DICOM file (no DICM preamble): it is damaged or not DICOM") from None
    except Exception as e:  # a header pydicom cannot parse: truncated, damaged
        raise DicomError(path, f"its header is damaged or truncated ({type(e).__name__}: {e})") from None


def _pixels(ds: Dataset, path: str | os.PathLike[str]) -> np.ndarray:
    """The stored pixels of a one-frame image (YBR turned into RGB by pydicom), or a DicomError naming the file: no
    pixel data, a compression no installed plugin decodes (and what to install), several frames, damaged data."""
    if "PixelData" not in ds:
        raise DicomError(path, "it holds no pixel data")
    meta = getattr(ds, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    if syntax is not None and syntax.is_compressed and (hint := missing_decoder(syntax)):
        raise DicomError(path, f"its pixels are compressed as {syntax.name} ({syntax}), {hint}")
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames > 1:
        raise DicomError(path, f"it holds {frames} frames; one image per file is read")
    try:
        return np.asarray(ds.pixel_array)
    except Exception as e:
        raise DicomError(path, f"its pixel data cannot be decoded ({type(e).__name__}: {e})") from None


def missing_decoder(syntax: Any) -> str:
    """For a compressed transfer syntax that no installed plugin of pydicom decodes, what to install, in words (''
    when one is installed)."""
    from pydicom.pixels.decoders.base import get_decoder

    try:
        decoder = get_decoder(syntax)
    except NotImplementedError:
        return "which pydicom cannot decode: convert the files to an uncompressed syntax or PNG"
    if decoder.is_available:
        return ""
    options = []
    for line in decoder.missing_dependencies:  # "pylibjpeg - requires pylibjpeg>=2.0 and pylibjpeg-libjpeg>=2.1"
        wants = line.partition(" - requires ")[2].replace(" and ", ", ").split(", ")
        names = [PIP_NAMES.get(w.split(">")[0], w.split(">")[0]) for w in wants if w and w != "numpy"]
        if names:
            options.append("pip install " + " ".join(names))
    if not options:
        return "which needs a pixel data plugin of pydicom that is not installed"
    how = options[0] + (f" (or {'; or '.join(options[1:])})" if options[1:] else "")
    return f"which needs a decoder that is not installed: {how}"


def gray_uint8(ds: Dataset, pixels: np.ndarray) -> np.ndarray:
    """A grey image's HxW uint8 values: the modality LUT, then the file's VOI LUT, else its VOI window, else the
    pixels' minimum to maximum (8 bits or fewer with none of them: as stored), then MONOCHROME1 inverted."""
    slope, intercept = _first(ds.get("RescaleSlope")), _first(ds.get("RescaleIntercept"))
    rescaled = "ModalityLUTSequence" in ds or slope not in (None, 1.0) or intercept not in (None, 0.0)
    values = modality_values(ds, pixels)
    center, width = _first(ds.get("WindowCenter")), _first(ds.get("WindowWidth"))
    function = str(ds.get("VOILUTFunction", "LINEAR") or "LINEAR").upper()
    bits = int(ds.get("BitsStored", 8 * pixels.itemsize))
    lut = voi_lut(ds, values)
    if lut is not None:
        unit = lut
    elif center is not None and width is not None and width >= (1 if function == "LINEAR" else 1e-9):
        unit = window(values, center, width, function)
    elif not rescaled and bits <= 8 and pixels.dtype.kind == "u":
        unit = values / (2**bits - 1)
    else:
        unit = min_max(values)
    if str(ds.get("PhotometricInterpretation", "")).upper() == "MONOCHROME1":
        unit = 1.0 - unit
    return to_uint8(unit)


def modality_values(ds: Dataset, pixels: np.ndarray) -> np.ndarray:
    """The pixels through the modality LUT, as float32 (float64 would double a mammogram's memory): slope times stored
    value plus intercept, or the file's Modality LUT Sequence (pydicom's apply_modality_lut)."""
    if "ModalityLUTSequence" in ds:
        from pydicom.pixels import apply_modality_lut

        return np.asarray(apply_modality_lut(pixels, ds), dtype=np.float32)
    slope, intercept = _first(ds.get("RescaleSlope")), _first(ds.get("RescaleIntercept"))
    values = pixels.astype(np.float32)
    if slope is not None and slope != 1:
        values *= np.float32(slope)
    if intercept:
        values += np.float32(intercept)
    return values


def voi_lut(ds: Dataset, values: np.ndarray) -> np.ndarray | None:
    """Values (after the modality LUT) through the file's first VOI LUT (DICOM PS3.3 C.11.2.1.1) into [0, 1], or
    None when the file has no VOI LUT Sequence (or its first item no descriptor or no data). Mapped as pydicom's
    apply_voi does: a value below the descriptor's first mapped value takes the first entry, one past the last entry
    the last, the rest their entry. Entries are scaled from the LUT's lowest to its highest, not by the descriptor's
    bits per entry, which files often overstate (16 for a LUT of 12-bit values). Indexed here: apply_voi indexes in
    the LUT's own dtype, so an 8-bit LUT of more than 256 entries wraps around."""
    items = ds.get("VOILUTSequence")
    if not items or None in (items[0].get("LUTDescriptor"), items[0].get("LUTData")):
        return None
    table = voi_lut_table(items[0], little=ds.original_encoding[1] is not False)
    if not table.size:
        return None
    low, high = float(table.min()), float(table.max())
    table = np.zeros_like(table) if high <= low else (table - low) / (high - low)
    first = int(items[0].LUTDescriptor[1])
    return table[np.clip(np.rint(values) - first, 0, table.size - 1).astype(np.int32)]


def voi_lut_table(item: Dataset, little: bool) -> np.ndarray:
    """The entries of a VOI LUT item as float32, as many as its descriptor says (0: 65536) or its data holds: LUT
    Data of VR US as numbers, of VR OW as 16-bit words in the file's byte order (as pydicom's apply_voi reads them)
    or, for an 8-bit LUT whose data is one byte an entry, as bytes."""
    entries, bits = int(item.LUTDescriptor[0]) or 2**16, int(item.LUTDescriptor[2])
    value = item["LUTData"].value
    if isinstance(value, bytes):
        if bits <= 8 and len(value) < 2 * entries:
            table = np.frombuffer(value, dtype=np.uint8)
        else:
            table = np.frombuffer(value[: len(value) // 2 * 2], dtype="<u2" if little else ">u2")
    else:
        table = np.atleast_1d(np.asarray(value))
    return table[:entries].astype(np.float32)


def window(values: np.ndarray, center: float, width: float, function: str = "LINEAR") -> np.ndarray:
    """Values through a VOI window into [0, 1] (DICOM PS3.3 C.11.2.1.2): LINEAR, 0 at or below
    center - 0.5 - (width - 1) / 2 and 1 above center - 0.5 + (width - 1) / 2, linear between (width >= 1);
    LINEAR_EXACT, (x - center) / width + 0.5 clipped; SIGMOID, 1 / (1 + exp(-4 (x - center) / width))."""
    if function == "SIGMOID":
        return 1.0 / (1.0 + np.exp(-4.0 * (values - center) / width))
    if function == "LINEAR_EXACT":
        return np.clip((values - center) / width + 0.5, 0.0, 1.0)
    if width <= 1:  # a window of one value: a step at center - 0.5
        return (values > center - 0.5).astype(values.dtype)
    return np.clip((values - (center - 0.5)) / (width - 1) + 0.5, 0.0, 1.0)


def min_max(values: np.ndarray) -> np.ndarray:
    """Values scaled to [0, 1] from their minimum to their maximum (all 0 when they are one value)."""
    low, high = float(values.min()), float(values.max())
    return np.zeros_like(values) if high <= low else (values - low) / (high - low)


def to_uint8(unit: np.ndarray) -> np.ndarray:
    """Values of [0, 1] as uint8 0-255, rounded to the nearest (half to even)."""
    return np.clip(np.rint(unit * 255.0), 0, 255).astype(np.uint8)


def color_uint8(ds: Dataset, pixels: np.ndarray, path: str | os.PathLike[str]) -> np.ndarray:
    """A colour image's HxWx3 uint8 RGB: PALETTE COLOR through its palette, samples of more than 8 bits scaled to 8
    by their stored range."""
    kind = str(ds.get("PhotometricInterpretation", "")).upper()
    if kind == "PALETTE COLOR":
        from pydicom.pixels import apply_color_lut

        pixels = np.asarray(apply_color_lut(pixels, ds))
        bits = 8 * pixels.itemsize
    else:
        bits = int(ds.get("BitsStored", 8 * pixels.itemsize))
    if pixels.ndim != 3 or pixels.shape[2] != 3:
        raise DicomError(path, f"a {kind} image of shape {pixels.shape}, not rows x columns x 3 samples")
    if pixels.dtype == np.uint8 and bits == 8:
        return np.ascontiguousarray(pixels)
    return to_uint8(pixels.astype(np.float32) / (2**bits - 1))


def _first(value: Any) -> float | None:
    """A number of the header (WindowCenter), the first of several; None when absent or empty."""
    if value is None or value == "":
        return None
    if isinstance(value, Sequence) and not isinstance(value, str):
        return float(value[0]) if len(value) else None
    return float(value)
