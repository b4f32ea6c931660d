"""engine.data.digits: the embedded digits, IDX datasets, digit preparation and safe image loading."""

from __future__ import annotations

import gzip
import hashlib
import io
import random
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from scipy import ndimage

import engine.data.digits as data
from engine.data.digits import (
    DataError,
    available_datasets,
    embedded_mnist,
    fashion_mnist,
    full_mnist,
    idx_folder,
    ink_from_grey,
    ink_from_rgba,
    load_image,
    prepare_digit,
    read_idx,
)
from engine.limits import MAX_IMAGE_PIXELS, MAX_UPLOAD_BYTES

# ----- the embedded MNIST sample ----------------------------------------------------------


@pytest.fixture(scope="module")
def split():
    return embedded_mnist()


def _row_hashes(x: np.ndarray) -> set[str]:
    return {hashlib.sha1(row.tobytes()).hexdigest() for row in x}


def test_embedded_sizes_and_types(split):
    assert split.x_train.shape == (4000, 28, 28) and split.x_test.shape == (1000, 28, 28)
    assert split.y_train.shape == (4000,) and split.y_test.shape == (1000,)
    assert split.x_train.dtype == np.float32 and split.y_train.dtype == np.int64
    assert 0.0 <= split.x_train.min() and split.x_train.max() <= 1.0
    assert 0.0 <= split.x_test.min() and split.x_test.max() <= 1.0
    assert split.x_train.max() == 1.0  # scaled by 255, not left as bytes


def test_embedded_stratified(split):
    assert np.bincount(split.y_test, minlength=10).tolist() == [100] * 10
    assert np.bincount(split.y_train, minlength=10).tolist() == [400] * 10
    # shuffled: not sorted by class as in the CSV
    assert (np.diff(split.y_train) != 0).sum() > 100


def test_embedded_train_test_disjoint(split):
    train, test = _row_hashes(split.x_train), _row_hashes(split.x_test)
    assert len(train) == 4000 and len(test) == 1000
    assert not train & test


def test_embedded_reproducible_with_seed():
    a, b = embedded_mnist.__wrapped__(seed=0), embedded_mnist.__wrapped__(seed=0)
    assert np.array_equal(a.x_test, b.x_test) and np.array_equal(a.y_train, b.y_train)
    c = embedded_mnist.__wrapped__(seed=1)
    assert not np.array_equal(a.y_train, c.y_train)
    assert _row_hashes(a.x_test) != _row_hashes(c.x_test)


def test_embedded_labels_look_like_digits(split):
    # class means differ: a 1 has far less ink than a 0
    ink = {k: split.x_train[split.y_train == k].mean() for k in range(10)}
    assert ink[1] < ink[0]


# ----- IDX files --------------------------------------------------------------------------


def _idx_bytes(arr: np.ndarray) -> bytes:
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    return struct.pack(">HBB", 0, 0x08, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()


def _write_idx(path: Path, arr: np.ndarray) -> Path:
    raw = _idx_bytes(arr)
    path.write_bytes(gzip.compress(raw) if path.suffix == ".gz" else raw)
    return path


@pytest.mark.parametrize("name", ["imgs-idx3-ubyte", "imgs-idx3-ubyte.gz"])
def test_read_idx_round_trip(tmp_path, name):
    arr = np.random.default_rng(0).integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    out = read_idx(_write_idx(tmp_path / name, arr))
    assert out.shape == (5, 28, 28) and out.dtype == np.uint8
    assert np.array_equal(out, arr)


def test_read_idx_labels(tmp_path):
    arr = np.arange(10, dtype=np.uint8)
    assert np.array_equal(read_idx(_write_idx(tmp_path / "l-idx1-ubyte.gz", arr)), arr)


def test_read_idx_rejects_wrong_magic(tmp_path):
    path = tmp_path / "bad-idx1-ubyte"
    path.write_bytes(struct.pack(">HBB", 0, 0x0D, 1) + struct.pack(">I", 2) + b"\0" * 8)  # float32 IDX
    with pytest.raises(DataError) as e:
        read_idx(path)
    assert e.value.code == "bad_idx"


@pytest.mark.parametrize("content", [b"", b"\0\0", _idx_bytes(np.zeros((4, 3, 3)))[:-5]])
def test_read_idx_truncated_is_a_data_error(tmp_path, content):
    path = tmp_path / "short-idx3-ubyte"
    path.write_bytes(content)
    with pytest.raises(DataError) as e:
        read_idx(path)
    assert e.value.code == "bad_idx"


def test_read_idx_bad_gzip_is_a_data_error(tmp_path):
    path = tmp_path / "x-idx3-ubyte.gz"
    path.write_bytes(b"not gzip at all")
    with pytest.raises(DataError) as e:
        read_idx(path)
    assert e.value.code == "bad_idx"


def _fake_folder(folder: Path, gz: bool = True, dotted: bool = False, n_train=6, n_test=4) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    for stem, arr in arrays.items():
        name = stem.replace("-idx", ".idx") if dotted else stem
        _write_idx(folder / (name + (".gz" if gz else "")), arr)
    return folder


@pytest.mark.parametrize("gz,dotted", [(True, False), (False, False), (False, True)])
def test_idx_folder(tmp_path, gz, dotted):
    folder = _fake_folder(tmp_path / "mnist", gz=gz, dotted=dotted)
    s = idx_folder(folder, "fake")
    assert s.name == "fake"
    assert s.x_train.shape == (6, 28, 28) and s.x_test.shape == (4, 28, 28)
    assert s.x_train.dtype == np.float32 and s.y_train.dtype == np.int64
    assert 0 <= s.x_train.min() and s.x_train.max() <= 1.0
    raw = read_idx(next(folder.glob("train-images*")))
    assert np.allclose(s.x_train, raw / 255.0)


def test_idx_folder_missing_file(tmp_path):
    folder = _fake_folder(tmp_path / "m")
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError) as e:
        idx_folder(folder, "m")
    assert e.value.code == "missing_file" and e.value.params["file"] == "t10k-labels-idx1-ubyte"


def test_idx_folder_no_folder(tmp_path):
    with pytest.raises(DataError) as e:
        idx_folder(tmp_path / "absent", "x")
    assert e.value.code == "no_folder"


def test_full_mnist_from_env(tmp_path, monkeypatch):
    monkeypatch.setenv("NML_DATA_DIR", str(_fake_folder(tmp_path / "raw")))
    s = full_mnist()
    assert s.name == "mnist-full" and len(s.x_train) == 6 and len(s.y_test) == 4
    assert available_datasets()["mnist-full"] is None


def test_full_mnist_unset(monkeypatch):
    monkeypatch.delenv("NML_DATA_DIR", raising=False)
    with pytest.raises(DataError) as e:
        full_mnist()
    assert e.value.code == "no_data_dir"
    assert available_datasets()["mnist-full"] == "no_data_dir"


def test_full_mnist_missing_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("NML_DATA_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(DataError) as e:
        full_mnist()
    assert e.value.code == "no_folder"
    assert available_datasets()["mnist-full"] == "no_folder"


def test_available_datasets_incomplete_folder(tmp_path, monkeypatch):
    folder = _fake_folder(tmp_path / "half")
    (folder / "train-images-idx3-ubyte.gz").unlink()
    monkeypatch.setenv("NML_DATA_DIR", str(folder))
    assert available_datasets()["mnist-full"] == "missing_file"


def test_available_datasets_keys(monkeypatch):
    monkeypatch.delenv("NML_DATA_DIR", raising=False)
    status = available_datasets()
    assert set(status) == {"mnist-5k", "mnist-full", "fashion-mnist"}
    assert status["mnist-5k"] is None


# Debian's dataset-fashion-mnist installs here; tests/conftest.py points the loader elsewhere.
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


def test_fashion_missing(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "FASHION_DIR", tmp_path / "no-fashion-here")
    with pytest.raises(DataError) as e:
        fashion_mnist()
    assert e.value.code == "no_fashion"
    assert available_datasets()["fashion-mnist"] == "no_fashion"


def test_fashion_empty_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "FASHION_DIR", tmp_path)
    with pytest.raises(DataError) as e:
        fashion_mnist()
    assert e.value.code == "missing_file"
    assert available_datasets()["fashion-mnist"] == "missing_file"


@pytest.mark.skipif(not DEBIAN_FASHION.is_dir(), reason="optional: Debian's dataset-fashion-mnist is not installed")
def test_fashion_installed_loads(monkeypatch):
    """The real package, when this machine has it (the suite passes with it and without)."""
    monkeypatch.setattr(data, "FASHION_DIR", DEBIAN_FASHION)
    s = fashion_mnist()
    assert s.x_train.shape == (60000, 28, 28) and s.x_test.shape == (10000, 28, 28)
    assert available_datasets()["fashion-mnist"] is None


def test_fashion_from_a_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "FASHION_DIR", _fake_folder(tmp_path / "fashion"))
    s = fashion_mnist()
    assert s.name == "fashion-mnist" and len(s.x_train) == 6
    assert available_datasets()["fashion-mnist"] is None


# ----- preparing a drawn digit ------------------------------------------------------------


def _canvas_digit(box=(20, 30, 120, 200), width=18, side=224) -> np.ndarray:
    """A '7' drawn in white on black, like the drawing canvas, as ink in [0, 1]."""
    img = Image.new("L", (side, side), 0)
    d = ImageDraw.Draw(img)
    x0, y0, x1, y1 = box
    d.line([(x0, y0), (x1, y0), ((x0 + x1) // 2, y1)], fill=255, width=width)
    return np.asarray(img, dtype=np.float32) / 255.0


def _check_prepared(out: np.ndarray) -> None:
    assert out.shape == (28, 28) and out.dtype == np.float32
    assert 0.0 <= out.min() and out.max() <= 1.0
    cy, cx = ndimage.center_of_mass(out)
    assert abs(cy - 13.5) < 0.5 and abs(cx - 13.5) < 0.5, (cy, cx)
    mask = out > 0.1
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    longer = max(rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1)
    assert 18 <= longer <= 22, longer  # the bounding box's longer side ≈ 20 px


@pytest.mark.parametrize("box", [(20, 30, 120, 200), (130, 5, 220, 60), (2, 2, 221, 221), (100, 100, 110, 140)])
def test_prepare_digit_centres_and_scales(box):
    _check_prepared(prepare_digit(_canvas_digit(box, width=9)))


def test_prepare_digit_off_centre_comes_out_centred():
    ink = _canvas_digit((140, 120, 215, 215), width=16)
    cy, cx = ndimage.center_of_mass(ink)
    assert cy > 130 and cx > 130  # bottom-right of the 224×224 canvas (centre 111.5)
    _check_prepared(prepare_digit(ink))


def test_prepare_digit_thin_line():
    ink = np.zeros((224, 224), dtype=np.float32)
    ink[20:200, 100:104] = 1.0  # a '1': tall and thin
    out = prepare_digit(ink)
    _check_prepared(out)
    assert (out > 0.1).any(0).sum() <= 4


def test_prepare_digit_real_mnist_digit_changes_little(split):
    digit = split.x_test[0]
    out = prepare_digit(digit)
    _check_prepared(out)
    assert np.corrcoef(out.ravel(), digit.ravel())[0, 1] > 0.8


@pytest.mark.parametrize("ink", [np.zeros((224, 224)), np.full((28, 28), 0.05)])
def test_prepare_digit_blank(ink):
    with pytest.raises(DataError) as e:
        prepare_digit(ink.astype(np.float32))
    assert e.value.code == "blank"


def test_ink_from_grey_inverts_dark_on_light():
    grey = np.ones((28, 28), dtype=np.float32)
    grey[10:18, 12:15] = 0.0  # black stroke on white paper
    ink = ink_from_grey(grey)
    assert ink[0, 0] == 0.0 and ink[12, 13] == 1.0
    # light-on-dark is kept as it is
    assert np.array_equal(ink_from_grey(ink), ink)


def test_ink_from_rgba_canvas():
    rgba = np.zeros((4, 4, 4), dtype=np.uint8)
    rgba[1, 1] = (255, 255, 255, 255)
    rgba[2, 2] = (255, 255, 255, 0)  # transparent: no ink
    ink = ink_from_rgba(rgba)
    assert ink[1, 1] == 1.0 and ink[2, 2] == 0.0 and ink[0, 0] == 0.0


# ----- uploads: good images and every kind of bad one -------------------------------------


def _encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _grey_pattern(side=40) -> Image.Image:
    arr = (np.add.outer(np.arange(side), np.arange(side)) * 3 % 256).astype(np.uint8)
    return Image.fromarray(arr, mode="L")


def _code(data_bytes: bytes) -> str:
    with pytest.raises(DataError) as e:
        load_image(data_bytes)
    return e.value.code


def test_load_png_round_trip():
    img = _grey_pattern()
    grey = load_image(_encode(img, "PNG"))
    assert grey.shape == (40, 40) and grey.dtype == np.float32
    assert np.allclose(grey, np.asarray(img) / 255.0, atol=1e-6)


def test_load_jpeg_round_trip():
    img = _grey_pattern().convert("RGB")
    grey = load_image(_encode(img, "JPEG", quality=95))
    assert grey.shape == (40, 40)
    assert np.abs(grey - np.asarray(img.convert("L")) / 255.0).mean() < 0.03


@pytest.mark.parametrize("fmt", ["BMP", "GIF", "WEBP"])
def test_load_other_allowed_formats(fmt):
    grey = load_image(_encode(_grey_pattern().convert("RGB"), fmt))
    assert grey.shape == (40, 40) and 0.0 <= grey.min() and grey.max() <= 1.0


def test_load_rgba_transparency_is_paper():
    rgba = np.zeros((10, 10, 4), dtype=np.uint8)  # fully transparent everywhere …
    rgba[3:7, 4:6] = (0, 0, 0, 255)  # … except an opaque black stroke
    grey = load_image(_encode(Image.fromarray(rgba, mode="RGBA"), "PNG"))
    assert grey[0, 0] == 1.0 and grey[4, 4] == 0.0
    ink = prepare_digit(ink_from_grey(grey))
    _check_centre_only(ink)


def _check_centre_only(out):
    cy, cx = ndimage.center_of_mass(out)
    assert abs(cy - 13.5) < 0.5 and abs(cx - 13.5) < 0.5


def test_load_empty():
    assert _code(b"") == "empty_file"


def test_load_too_big():
    assert _code(b"\x89PNG" + b"\0" * MAX_UPLOAD_BYTES) == "file_too_big"


@pytest.mark.parametrize("blob", [
    b"hello, this is a text file\n" * 20,
    bytes(random.Random(0).getrandbits(8) for _ in range(4096)),
    b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n",
    b"<svg xmlns='http://www.w3.org/2000/svg'/>",
])
def test_load_not_an_image(blob):
    assert _code(blob) == "not_image"


def test_load_disallowed_format():
    assert _code(_encode(_grey_pattern(), "TIFF")) == "not_image"


def test_load_truncated_png():
    noise = np.random.default_rng(2).integers(0, 256, (64, 64), dtype=np.uint8)
    png = _encode(Image.fromarray(noise, mode="L"), "PNG")
    assert _code(png[: len(png) // 2]) == "not_image"
    assert _code(png[:40]) == "not_image"


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose IHDR claims width×height (a decompression bomb's header)."""
    small = _encode(Image.new("L", (8, 8), 0), "PNG")
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    # signature (8) + IHDR chunk (4 len + 4 type + 13 body + 4 crc = 25)
    return small[:8] + _png_chunk(b"IHDR", ihdr) + small[33:]


@pytest.mark.parametrize("side", [20_000, 5_000])
def test_load_bomb_header(side):
    assert side * side > MAX_IMAGE_PIXELS
    assert _code(_png_claiming(side, side)) == "bomb"


def test_load_real_compressed_bomb():
    # a real 1-bit image of 4,500×4,500 (above our 4096² limit) compresses to a few KB
    side = 4_500
    png = _encode(Image.new("1", (side, side), 0), "PNG", optimize=True)
    assert len(png) < 100_000
    assert _code(png) == "bomb"


def test_load_just_below_limit_is_fine():
    assert load_image(_png_claiming(8, 8)).shape == (8, 8)


def test_load_fuzzed_png_never_raises_anything_else():
    # flip bytes of a valid PNG: each result is an image or a DataError, nothing else
    base = bytearray(_encode(_grey_pattern(24), "PNG"))
    rng = random.Random(3)
    for _ in range(150):
        blob = bytearray(base)
        for _ in range(rng.randint(1, 6)):
            blob[rng.randrange(len(blob))] = rng.randrange(256)
        try:
            grey = load_image(bytes(blob))
        except DataError as e:
            assert e.code in {"not_image", "bomb"}
        else:
            assert grey.ndim == 2 and np.isfinite(grey).all()


def test_idx_folder_count_mismatch_is_a_data_error(tmp_path):
    folder = _fake_folder(tmp_path / "mnist")
    _write_idx(folder / "train-labels-idx1-ubyte.gz", np.zeros(5, dtype=np.uint8))  # 6 images, 5 labels
    with pytest.raises(DataError) as e:
        idx_folder(folder, "fake")
    assert e.value.code == "bad_idx"


def test_load_image_applies_exif_orientation():
    # a bright bar in the top rows, stored with EXIF orientation 6 (rotate 90° clockwise to view)
    arr = np.zeros((20, 40), dtype=np.uint8)
    arr[:4, :] = 255
    img = Image.fromarray(arr, mode="L")
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    img.save(buf, format="PNG", exif=exif)
    grey = load_image(buf.getvalue())
    assert grey.shape == (40, 20)  # upright: width and height swapped
    assert grey[:, -4:].mean() > 0.9 and grey[:, :-4].mean() < 0.1  # the bar is now on the right
