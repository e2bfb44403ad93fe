"""Reading and writing image files: 8/16-bit via OpenCV, clear errors naming bad files, atomic writes."""

from __future__ import annotations

import glob
import io
import os
import shutil
import tempfile
from pathlib import Path

import cv2
import numpy as np

from ..errors import UserError

# The image files a folder contributes (by lower-case extension), for every command that reads folders.
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp"})


class ImageReadError(UserError):
    """An image file that is missing, unreadable or of an unsupported depth (a user error)."""


def read_image(path: str | os.PathLike, color: bool = False) -> np.ndarray:
    """Read an image file as stored (BGR / gray, uint8 or uint16, HW or HWC), or raise ImageReadError.

    ``color=True`` reads it as ``cv2.imread`` does by default (8-bit, 3-channel BGR), as the original scripts did.
    """
    path = Path(path)
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise ImageReadError(f"cannot read image {path}: {exc.strerror or exc}") from exc
    img = cv2.imdecode(data, cv2.IMREAD_COLOR if color else cv2.IMREAD_UNCHANGED) if data.size else None
    if img is None:
        raise ImageReadError(f"cannot decode image {path} (corrupt or not an image)")
    if img.dtype not in (np.uint8, np.uint16):
        raise ImageReadError(f"image {path} has unsupported pixel type {img.dtype} (need 8 or 16 bit)")
    return img


def encode_png(img: np.ndarray, compress_level: int = 3) -> bytes:
    """Lossless PNG bytes of a uint8/uint16 HW or HWC (1, 3 or 4 channel) image."""
    ok, buf = cv2.imencode(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, int(compress_level)])
    if not ok:
        raise ValueError(f"OpenCV could not PNG-encode an image of shape {img.shape} and type {img.dtype}")
    return buf.tobytes()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder, so a crash leaves no partial file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; give it the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def replace_directory(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    """Move the finished folder ``src`` to ``dst``, replacing an old ``dst`` only once ``src`` is in place."""
    src, dst = Path(src), Path(dst)
    if not dst.exists():
        src.rename(dst)
        return
    old = dst.with_name(f".{dst.name}.old-{os.getpid()}")
    dst.rename(old)
    src.rename(dst)
    if old.is_dir():
        shutil.rmtree(old)
    else:
        old.unlink()


def write_png(path: str | os.PathLike, img: np.ndarray, compress_level: int = 3) -> None:
    """Save an image losslessly as PNG, atomically."""
    atomic_write_bytes(path, encode_png(img, compress_level))


def write_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    """Save an array as ``.npy`` (no pickle), atomically."""
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    atomic_write_bytes(path, buf.getvalue())


def list_images(source: str | os.PathLike) -> list[Path]:
    """Image files (by extension) of a folder (recursive), a glob pattern or one file, sorted; none is an error."""
    text = str(source)
    if Path(text).is_dir():
        candidates = list(Path(text).rglob("*"))
    elif glob.has_magic(text):
        candidates = [Path(p) for p in glob.glob(text, recursive=True)]
    elif Path(text).is_file():
        candidates = [Path(text)]
    else:
        raise FileNotFoundError(f"no such folder or file: {text}")
    found = [p for p in candidates if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS]
    if not found:
        raise FileNotFoundError(f"no image files found in {text}")
    return sorted(found)


def image_keys(paths: list[Path]) -> dict[str, Path]:
    """Map each file's base name (no extension) to its path; two files with one base name are an error."""
    keys: dict[str, Path] = {}
    for p in paths:
        if p.stem in keys:
            raise ValueError(f"two images share the name '{p.stem}': {keys[p.stem]} and {p}")
        keys[p.stem] = p
    return keys
