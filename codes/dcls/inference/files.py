"""Which files to read and where to write: input discovery, unique output names, never onto an input."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from dcls.errors import InputError
from dcls.utils.image_io import IMAGE_EXTENSIONS


def collect_inputs(paths: Sequence[str | Path]) -> list[Path]:
    """Image files named by ``paths``: a folder contributes its image files (by extension, sorted, not
    recursive, hidden files skipped); a file is taken as given, whatever its extension."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found += sorted(
                p for p in path.iterdir()
                if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTENSIONS
            )
        elif path.exists():
            found.append(path)
        else:
            raise InputError(f"input not found: {path}")
    if not found:
        raise InputError(f"no image files ({', '.join(sorted(IMAGE_EXTENSIONS))}) in {', '.join(map(str, paths))}")
    return list(dict.fromkeys(found))


def plan_outputs(inputs: Sequence[Path], output_dir: Path, scale: int) -> list[Path]:
    """Output path ``<stem>_x<scale>.png`` in ``output_dir`` for each input, made unique with ``_2``,
    ``_3``... when two inputs share a stem. Raises InputError if an output or its kernel picture
    (:func:`kernel_path`) would replace any input."""
    resolved_inputs = {p.resolve() for p in inputs}
    taken: set[Path] = set()
    outputs = []
    for path in inputs:
        base = f"{path.stem}_x{scale}"
        candidate, n = output_dir / f"{base}.png", 1
        while {candidate.resolve(), kernel_path(candidate).resolve()} & taken:
            n += 1
            candidate = output_dir / f"{base}_{n}.png"
        written = {candidate.resolve(), kernel_path(candidate).resolve()}
        clash = written & resolved_inputs
        if clash:
            raise InputError(f"refusing to overwrite input {clash.pop()} (output of {path}); "
                             "choose another --output_dir")
        taken |= written
        outputs.append(candidate)
    return outputs


def kernel_path(output: Path) -> Path:
    """Where the estimated kernel picture of ``output`` goes: beside it, ``<name>_kernel.png``."""
    return output.with_name(f"{output.stem}_kernel.png")
