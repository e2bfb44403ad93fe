"""Image LMDBs: exact round trips, safe writing (nothing half-written), lazy per-process reading."""

from __future__ import annotations

import json
import multiprocessing
import pickle

import numpy as np
import pytest

from dcls.data.lmdb_io import META_NAME, LmdbReader, create_lmdb, read_meta, write_lmdb
from dcls.utils.image_io import ImageReadError, list_images


def _arrays(photo) -> dict[str, np.ndarray]:
    return {
        "rgb8": photo(33, 47, 1),
        "gray8": photo(20, 25, 2, channels=1),
        "gray8_hw1": photo(20, 25, 3, channels=1)[:, :, None],
        "bgra8": photo(17, 19, 4, channels=4),
        "rgb16": photo(21, 22, 5, dtype=np.uint16),
        "gray16": photo(18, 23, 6, channels=1, dtype=np.uint16),
        "strided": photo(40, 40, 7)[::2, 1::3],
    }


@pytest.mark.parametrize("level", [0, 1, 9])
def test_round_trip_is_pixel_exact(tmp_path, photo, level):
    arrays = _arrays(photo)
    records = write_lmdb(arrays.items(), tmp_path / "x.lmdb", compress_level=level)
    assert {r.encoding for r in records} == {"raw" if level == 0 else "png"}
    reader = LmdbReader(tmp_path / "x.lmdb")
    assert reader.keys == list(arrays)
    for key, want in arrays.items():
        got = reader.read(key)
        assert got.dtype == want.dtype and got.shape == want.shape and np.array_equal(got, want), key
        assert got.flags.writeable


def test_metadata_is_json_with_shape_dtype_encoding(tmp_path, photo):
    write_lmdb([("a", photo(10, 12, 0)), ("b", photo(5, 6, 1, channels=1, dtype=np.uint16))], tmp_path / "m.lmdb")
    meta = json.loads((tmp_path / "m.lmdb" / META_NAME).read_text())
    assert meta["images"] == [
        {"key": "a", "shape": [10, 12, 3], "dtype": "uint8", "encoding": "raw"},
        {"key": "b", "shape": [5, 6], "dtype": "uint16", "encoding": "raw"},
    ]
    assert not list(tmp_path.glob("**/*.pkl"))
    assert [r.key for r in read_meta(tmp_path / "m.lmdb")] == ["a", "b"]


def test_map_size_grows_with_the_data(tmp_path):
    """Far more data than the initial 1 MiB map: it must be grown from the bytes written, not fail."""
    rng = np.random.default_rng(0)
    arrays = {f"img{i:02d}": rng.integers(0, 256, (300, 400, 3), dtype=np.uint8) for i in range(12)}
    write_lmdb(arrays.items(), tmp_path / "big.lmdb")
    reader = LmdbReader(tmp_path / "big.lmdb")
    assert all(np.array_equal(reader.read(k), v) for k, v in arrays.items())
    assert (tmp_path / "big.lmdb" / "data.mdb").stat().st_size < 2 * sum(v.nbytes for v in arrays.values())


def test_existing_output_needs_overwrite(tmp_path, photo):
    out = tmp_path / "x.lmdb"
    write_lmdb([("old", photo(8, 8, 0))], out)
    with pytest.raises(FileExistsError, match="overwrite"):
        write_lmdb([("new", photo(8, 8, 1))], out)
    assert LmdbReader(out).keys == ["old"]
    write_lmdb([("new", photo(8, 8, 1))], out, overwrite=True)
    assert LmdbReader(out).keys == ["new"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.lmdb"]


def test_failure_midway_leaves_nothing(tmp_path, photo):
    def items():
        yield "good", photo(8, 8, 0)
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        write_lmdb(items(), tmp_path / "x.lmdb")
    assert list(tmp_path.iterdir()) == []


def test_failure_keeps_an_older_lmdb_intact(tmp_path, photo):
    out = tmp_path / "x.lmdb"
    write_lmdb([("old", photo(8, 8, 0))], out)
    with pytest.raises(ValueError, match="share the key"):
        write_lmdb([("a", photo(8, 8, 0)), ("a", photo(8, 8, 1))], out, overwrite=True)
    assert LmdbReader(out).keys == ["old"] and sorted(p.name for p in tmp_path.iterdir()) == ["x.lmdb"]


@pytest.mark.parametrize(
    ("key", "img", "error"),
    [
        ("f", np.zeros((4, 4), np.float32), "uint8/uint16"),
        ("", np.zeros((4, 4), np.uint8), "key"),
        ("k" * 600, np.zeros((4, 4), np.uint8), "key"),
    ],
)
def test_bad_items_are_refused(tmp_path, key, img, error):
    with pytest.raises(ValueError, match=error):
        write_lmdb([(key, img)], tmp_path / "x.lmdb")
    assert not (tmp_path / "x.lmdb").exists()


def test_output_must_end_with_lmdb(tmp_path, photo):
    with pytest.raises(ValueError, match=".lmdb"):
        write_lmdb([("a", photo(4, 4, 0))], tmp_path / "x.db")


def test_create_lmdb_names_a_corrupt_file_and_leaves_nothing(photo_folder, tmp_path):
    folder, _ = photo_folder
    (folder / "zz_corrupt.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(ImageReadError, match="zz_corrupt.png"):
        create_lmdb(list_images(folder), tmp_path / "out.lmdb", progress=False)
    assert not (tmp_path / "out.lmdb").exists() and not list(tmp_path.glob(".out.lmdb*"))


def test_create_lmdb_keys_are_base_names(photo_folder, tmp_path):
    folder, images = photo_folder
    create_lmdb(list_images(folder), tmp_path / "out.lmdb", compress_level=3, progress=False)
    reader = LmdbReader(tmp_path / "out.lmdb")
    assert sorted(reader.keys) == sorted(images)
    assert all(np.array_equal(reader.read(k), v) for k, v in images.items())


def test_reader_crops_inside_the_map_and_copies(tmp_path, photo):
    img = photo(30, 40, 0)
    write_lmdb([("a", img)], tmp_path / "x.lmdb")
    crop = LmdbReader(tmp_path / "x.lmdb").read("a", lambda a: a[5:15, 10:30])
    assert np.array_equal(crop, img[5:15, 10:30])
    crop[:] = 0  # an owned copy, not a view on the read-only map
    assert np.array_equal(LmdbReader(tmp_path / "x.lmdb").read("a"), img)
    with pytest.raises(KeyError, match="nope"):
        LmdbReader(tmp_path / "x.lmdb").read("nope")


def test_reader_without_metadata_is_a_clear_error(tmp_path):
    (tmp_path / "foreign.lmdb").mkdir()
    with pytest.raises(FileNotFoundError, match="create_lmdb"):
        LmdbReader(tmp_path / "foreign.lmdb")


def _read_in_child(reader: LmdbReader, queue) -> None:
    queue.put(reader.read("a").sum())


def test_reader_reopens_per_process_and_pickles_without_env(tmp_path, photo):
    img = photo(12, 12, 0)
    write_lmdb([("a", img)], tmp_path / "x.lmdb")
    reader = LmdbReader(tmp_path / "x.lmdb")
    reader.read("a")  # environment opened in the parent
    clone = pickle.loads(pickle.dumps(reader))
    assert clone._env is None and np.array_equal(clone.read("a"), img)
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_read_in_child, args=(reader, queue))
    child.start()
    child.join(30)
    assert child.exitcode == 0 and queue.get(timeout=5) == img.sum()


def test_replaced_lmdb_is_read_anew_never_through_the_old_file(tmp_path, photo):
    """An LMDB rewritten in place (``--overwrite``) while this process still has the old one open."""
    out = tmp_path / "x.lmdb"
    old_img, new_img = photo(8, 9, 0), photo(10, 7, 1)
    write_lmdb([("a", old_img)], out)
    opened = LmdbReader(out)
    assert np.array_equal(opened.read("a"), old_img)
    not_yet_opened = LmdbReader(out)
    write_lmdb([("a", new_img), ("b", old_img)], out, overwrite=True)
    fresh = LmdbReader(out)
    assert np.array_equal(fresh.read("a"), new_img) and np.array_equal(fresh.read("b"), old_img)
    assert np.array_equal(opened.read("a"), old_img), "a reader keeps the database its metadata describes"
    with pytest.raises(RuntimeError, match="replaced"):
        not_yet_opened.read("a")
