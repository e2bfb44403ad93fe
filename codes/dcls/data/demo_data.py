"""The bundled demo data set, built offline from photographs that ship inside scikit-image.

``demo_data/`` (default) holds ``train/HR/*.png`` and ``train/HR.lmdb`` (training photographs),
``test/HR/*.png`` (other photographs) and their Gaussian8 benchmark ``test/Gaussian8/{HR,LRblur,LR,Bic,kernel}/xS``
with ``test/Gaussian8/xS{HR,LR}blur.lmdb``, plus ``SOURCES.md`` / ``manifest.json`` naming every image's source
and licence. Built in a temporary folder and renamed when complete; an existing complete build is reused.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import cv2
import numpy as np

from ..utils.image_io import atomic_write_bytes, list_images, replace_directory, write_png
from .gaussian8 import generate_gaussian8
from .lmdb_io import create_lmdb

MANIFEST_NAME = "manifest.json"
FORMAT_VERSION = 1

# skimage.data function -> (credit / where it comes from, licence), as scikit-image documents them.
SOURCES = {
    "chelsea": ("Chelsea the cat, photograph by Stefan van der Walt", "CC0"),
    "rocket": ("DSCOVR launch on Falcon 9, SpaceX (flickr.com/photos/spacexphotos/16511594820)", "public domain"),
    "camera": ("'camera' gray photograph by Lav Varshney", "CC0"),
    "coins": ("Greek coins from Pompeii, Brooklyn Museum collection", "no known copyright restrictions"),
    "immunohistochemistry": ("IHC-stained colonic glands, CMMI microscopy centre", "no known copyright restrictions"),
    "gravel": ("Gravel04 texture from cc0textures.com (rescaled, cropped, gray)", "CC0"),
    "astronaut": ("Eileen Collins, NASA Great Images database (flic.kr/p/r9qvLn)", "public domain"),
    "coffee": ("Coffee cup at Pikolo Espresso Bar, photograph by Rachel Michetti", "CC0"),
}
TRAIN_IMAGES = ("chelsea", "rocket", "camera", "coins", "immunohistochemistry", "gravel")
TEST_IMAGES = ("astronaut", "coffee")


def _photo(name: str) -> np.ndarray:
    """A scikit-image photograph as an 8-bit BGR array (gray photographs get three equal channels)."""
    try:
        import skimage.data
    except ImportError as exc:
        raise RuntimeError("the demo data needs scikit-image: pip install -e '.[demo]'") from exc
    img = np.asarray(getattr(skimage.data, name)(), dtype=np.uint8)
    return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR if img.ndim == 2 else cv2.COLOR_RGB2BGR)


def _manifest(scales: tuple[int, ...]) -> dict:
    images = [
        {
            "name": n,
            "role": role,
            "skimage_function": f"skimage.data.{n}()",
            "source": SOURCES[n][0],
            "licence": SOURCES[n][1],
        }
        for role, names in (("train", TRAIN_IMAGES), ("test", TEST_IMAGES))
        for n in names
    ]
    return {"format_version": FORMAT_VERSION, "gaussian8_scales": list(scales), "images": images}


def _sources_markdown(manifest: dict) -> str:
    rows = [
        f"| {i['name']} | {i['role']} | `{i['skimage_function']}` | {i['source']} | {i['licence']} |"
        for i in manifest["images"]
    ]
    header = [
        "# Demo data sources",
        "",
        "Every image comes from the photographs bundled with scikit-image "
        "(no download). Test images are never used for training.",
        "",
        "| image | role | obtained with | source | licence |",
        "| --- | --- | --- | --- | --- |",
    ]
    return "\n".join(header + rows) + "\n"


def prepare_demo_data(
    out_dir: str | os.PathLike = "demo_data",
    scales: tuple[int, ...] = (4,),
    *,
    force: bool = False,
    progress: bool = True,
) -> bool:
    """Build the demo data at ``out_dir``; returns False when an identical complete build was reused.

    A build with other settings is replaced; a folder that is not a demo build only with ``force``.
    """
    out = Path(out_dir)
    manifest = _manifest(tuple(sorted(set(scales))))
    manifest_file = out / MANIFEST_NAME
    ours = manifest_file.is_file()
    if ours and not force and json.loads(manifest_file.read_text()) == manifest:
        return False
    occupied = out.is_file() or (out.is_dir() and any(out.iterdir()))
    if occupied and not ours and not force:
        raise FileExistsError(f"{out} exists but holds no demo data {MANIFEST_NAME} (pass --force to replace it)")
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        for role, names in (("train", TRAIN_IMAGES), ("test", TEST_IMAGES)):
            for name in names:
                write_png(tmp / role / "HR" / f"{name}.png", _photo(name))
        create_lmdb(list_images(tmp / "train" / "HR"), tmp / "train" / "HR.lmdb", progress=progress)
        for scale in manifest["gaussian8_scales"]:
            generate_gaussian8(
                tmp / "test" / "HR", tmp / "test" / "Gaussian8", scale, make_lmdb=True, progress=progress
            )
        atomic_write_bytes(tmp / "SOURCES.md", _sources_markdown(manifest).encode())
        atomic_write_bytes(tmp / MANIFEST_NAME, (json.dumps(manifest, indent=2) + "\n").encode())
        replace_directory(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return True
