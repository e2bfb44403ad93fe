"""Image LMDBs: write them safely (temp folder, renamed when complete) and read them lazily per process.

Layout of ``X.lmdb/``: the LMDB files plus ``meta_info.json`` listing every image's key (its file base name),
shape, dtype and encoding. Values are either the raw C-ordered pixel bytes (``compress_level`` 0: fastest to
read, the original DCLS layout) or PNG bytes (``compress_level`` 1-9: smaller). Both round-trip pixel-exactly.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import cv2
import lmdb
import numpy as np
from tqdm import tqdm

from ..utils.image_io import atomic_write_bytes, encode_png, image_keys, read_image, replace_directory

META_NAME = "meta_info.json"
FORMAT_NAME = "dcls-image-lmdb"
FORMAT_VERSION = 1
_MAX_KEY_BYTES = 511
# Bytes of B-tree bookkeeping per record (node header, key, page header share), for the map-size bound.
_RECORD_OVERHEAD = 64


@dataclass(frozen=True)
class LmdbRecord:
    """What the metadata says about one stored image."""

    key: str
    shape: tuple[int, ...]
    dtype: str
    encoding: str  # "raw" or "png"


def encode_image(img: np.ndarray, compress_level: int) -> tuple[bytes, str]:
    """Value bytes and encoding name for one uint8/uint16 image (level 0: raw bytes, 1-9: PNG)."""
    if img.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"only uint8/uint16 images can be stored, got {img.dtype}")
    if not 0 <= compress_level <= 9:
        raise ValueError(f"compress_level must be 0 (raw) or 1-9 (PNG), got {compress_level}")
    if compress_level == 0:
        return np.ascontiguousarray(img).tobytes(), "raw"
    return encode_png(img, compress_level), "png"


def decode_image(buf: bytes | memoryview, record: LmdbRecord) -> np.ndarray:
    """Inverse of encode_image. A raw result is a read-only view on ``buf``."""
    if record.encoding == "raw":
        img = np.frombuffer(buf, dtype=record.dtype)
        if img.size != math.prod(record.shape):
            raise ValueError(f"LMDB record '{record.key}' holds {img.size} values, metadata says {record.shape}")
        return img.reshape(record.shape)
    if record.encoding == "png":
        img = cv2.imdecode(np.frombuffer(buf, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
        if img is None:
            raise ValueError(f"LMDB record '{record.key}' is not a valid PNG")
        return img.reshape(record.shape)
    raise ValueError(f"LMDB record '{record.key}' has unknown encoding '{record.encoding}'")


def _page_bound(nbytes: int, page_size: int) -> int:
    """Upper bound of the bytes one record occupies (value in overflow pages plus its leaf entry)."""
    return (math.ceil((nbytes + _RECORD_OVERHEAD) / page_size) + 1) * page_size


def write_lmdb(
    items: Iterable[tuple[str, np.ndarray]],
    out_path: str | os.PathLike,
    *,
    compress_level: int = 0,
    overwrite: bool = False,
) -> list[LmdbRecord]:
    """Store (key, image) pairs in a new LMDB at ``out_path`` and return their records.

    Everything is written to a temporary folder beside ``out_path`` and renamed only when complete, so an
    error (a corrupt input, a full disk, Ctrl-C) leaves no LMDB behind. The map size is grown from the bytes
    actually stored, never guessed.
    """
    out = Path(out_path)
    if out.suffix != ".lmdb":
        raise ValueError(f"the output path must end with .lmdb (the datasets recognise LMDBs by it): {out}")
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} already exists (pass --overwrite to replace it)")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    records: list[LmdbRecord] = []
    try:
        env = lmdb.open(str(tmp), map_size=1 << 20, subdir=True, sync=False, metasync=False, meminit=False)
        try:
            _fill(env, items, compress_level, records)
            env.sync(True)
        finally:
            env.close()
        atomic_write_bytes(tmp / META_NAME, _meta_json(records).encode())
        replace_directory(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return records


def _meta_json(records: list[LmdbRecord]) -> str:
    """The metadata file: format header, then one image record per line (readable and diff-able)."""
    lines = ",\n  ".join(json.dumps(asdict(r)) for r in records)
    header = json.dumps({"format": FORMAT_NAME, "version": FORMAT_VERSION})[:-1]
    return f'{header}, "images": [\n  {lines}\n]}}\n'


def _fill(env: lmdb.Environment, items: Iterable[tuple[str, np.ndarray]], level: int, out: list[LmdbRecord]) -> None:
    """Put every item in its own transaction, growing the map before it could overflow."""
    page = env.stat()["psize"]
    used = 16 * page  # meta pages and the root
    seen: set[str] = set()
    for key, img in items:
        kb = key.encode("utf-8")
        if not kb or len(kb) > _MAX_KEY_BYTES:
            raise ValueError(f"LMDB key must be 1-{_MAX_KEY_BYTES} bytes, got '{key}'")
        if key in seen:
            raise ValueError(f"two images share the key '{key}'")
        seen.add(key)
        value, encoding = encode_image(img, level)
        used += _page_bound(len(value) + len(kb), page)
        while True:
            if env.info()["map_size"] < used:
                env.set_mapsize(int(used * 1.5))
            try:
                with env.begin(write=True) as txn:
                    txn.put(kb, value)
                break
            except lmdb.MapFullError:  # bookkeeping beyond the bound (free-list pages): give it room
                used = int(env.info()["map_size"] * 1.5)
        out.append(LmdbRecord(key, tuple(int(s) for s in img.shape), img.dtype.name, encoding))


def create_lmdb(
    paths: list[Path],
    out_path: str | os.PathLike,
    *,
    compress_level: int = 0,
    overwrite: bool = False,
    progress: bool = True,
) -> list[LmdbRecord]:
    """Read image files and store each under its base name; any unreadable file aborts with its name."""
    out = Path(out_path)
    if out.exists() and not overwrite:  # before any reading
        raise FileExistsError(f"{out} already exists (pass --overwrite to replace it)")
    keyed = image_keys(paths)

    def items() -> Iterator[tuple[str, np.ndarray]]:
        for key, path in tqdm(keyed.items(), desc=f"writing {out.name}", unit="img", disable=not progress):
            yield key, read_image(path)

    return write_lmdb(items(), out, compress_level=compress_level, overwrite=overwrite)


def read_meta(path: str | os.PathLike) -> list[LmdbRecord]:
    """The records listed in an LMDB's ``meta_info.json`` (a clear error when it is not ours)."""
    meta_file = Path(path) / META_NAME
    if not meta_file.is_file():
        raise FileNotFoundError(f"{path} is not an image LMDB made by scripts/create_lmdb.py (no {META_NAME})")
    meta = json.loads(meta_file.read_text())
    if meta.get("format") != FORMAT_NAME or meta.get("version") != FORMAT_VERSION:
        raise ValueError(f"{meta_file}: unsupported format {meta.get('format')!r} v{meta.get('version')!r}")
    return [LmdbRecord(r["key"], tuple(r["shape"]), r["dtype"], r["encoding"]) for r in meta["images"]]


_OPEN: dict[str, tuple[int, tuple[int, int], lmdb.Environment]] = {}


def _file_identity(path: Path) -> tuple[int, int]:
    """(device, inode) of the LMDB's data file: a replaced LMDB at the same path is another database."""
    st = (path / "data.mdb").stat()
    return st.st_dev, st.st_ino


def _open_readonly(path: Path) -> lmdb.Environment:
    """One shared read-only environment per LMDB file and process (LMDB forbids opening one twice).

    The cache is keyed by path but checked against the data file's identity, so an LMDB rewritten in place
    (``--overwrite``, a rebuilt benchmark) is reopened instead of read through the old, deleted file.
    """
    key = str(path.resolve())
    identity = _file_identity(path)
    pid, opened_identity, env = _OPEN.get(key, (None, None, None))
    if env is None or pid != os.getpid() or opened_identity != identity:
        if env is not None and pid != os.getpid():  # inherited through fork: close the child's copy
            env.close()
        # A replaced LMDB's old environment is not closed: readers made before the replacement still use it.
        env = lmdb.open(key, readonly=True, lock=False, readahead=False, meminit=False, max_readers=2048)
        _OPEN[key] = (os.getpid(), identity, env)
    return env


class LmdbReader:
    """Read-only access to an image LMDB; the environment is opened on first use in each process.

    Safe to hand to DataLoader workers: pickling drops the environment and a forked copy reopens its own.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.records = {r.key: r for r in read_meta(self.path)}
        self._identity = _file_identity(self.path)  # the data file these records describe
        self._env: lmdb.Environment | None = None
        self._pid: int | None = None

    @property
    def keys(self) -> list[str]:
        return list(self.records)

    def _environment(self) -> lmdb.Environment:
        if self._env is None or self._pid != os.getpid():
            if _file_identity(self.path) != self._identity:
                raise RuntimeError(f"{self.path} was replaced after its metadata was read; open it again")
            self._env = _open_readonly(self.path)
            self._pid = os.getpid()
        return self._env

    def read(self, key: str, view: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
        """The image stored under ``key``; ``view`` (e.g. a crop) is applied before copying out of the map."""
        record = self.records.get(key)
        if record is None:
            raise KeyError(f"'{key}' is not in {self.path}")
        with self._environment().begin(buffers=True) as txn:
            buf = txn.get(key.encode("utf-8"))
            if buf is None:
                raise KeyError(f"'{key}' is listed in {self.path / META_NAME} but missing from the database")
            img = decode_image(buf, record)
            if view is not None:
                img = view(img)
            return np.array(img) if record.encoding == "raw" else img

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_env"] = None
        state["_pid"] = None
        return state
