"""Siemens mosaics: one stored frame holding a volume's slices as tiles, laid out row by row.

Image Type holds MOSAIC; the number of slices is NumberOfImagesInMosaic, in (0019,100A) or in the CSA
image header (0029,1010). Image Position (Patient) of a mosaic is that of the whole tiled image, not
of its first slice: nibabel's MosaicWrapper (nibabel.nicom) corrects it, and gives the slice normal
with the sign of the CSA header's SliceNormalVector. Slice k then lies k × Spacing Between Slices
(centre to centre) along that normal, so the slab is the spacing between slices, not their thickness.
"""
from __future__ import annotations

import functools
import math
import warnings
from dataclasses import replace
from types import SimpleNamespace

import numpy as np

from .acquisitions import Acquisition
from .images import Frame, Mosaic, NotAnImage, PixelLayout
from .values import read_strings



@functools.cache
def nicom():
    """nibabel's CSA reader and mosaic wrapper, imported when the first mosaic is read: every start of
    `manage.py measure` would pay the import otherwise.

    nibabel.nicom warns on import that its readers are experimental; we use only its CSA reader and
    the mosaic geometry, and check what they give."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        from nibabel.nicom import csareader
        from nibabel.nicom.dicomwrappers import MosaicWrapper
    return SimpleNamespace(csareader=csareader, MosaicWrapper=MosaicWrapper)

NUMBER_OF_IMAGES_IN_MOSAIC = (0x0019, 0x100A)
"""Siemens' private element for the number of slices in a mosaic (creator SIEMENS MR HEADER)."""


def is_mosaic(ds) -> bool:
    return "MOSAIC" in (value.strip().upper() for value in read_strings(ds, "ImageType"))


def read_mosaic(ds, pixels: PixelLayout, base: Frame) -> tuple[Mosaic, tuple[Frame, ...], tuple[str, ...]]:
    """The mosaic's tiles as frames of their own, positioned from the CSA header (`ds` a pydicom Dataset
    with its private elements), and notes on what is missing. NotAnImage when the slices cannot be cut."""
    if pixels.frames != 1:
        raise NotAnImage(f"a mosaic with {pixels.frames} frames: Siemens mosaics hold one")
    try:
        csa = nicom().csareader.get_csa_header(ds, "image")
    except Exception as error:  # nibabel raises several kinds on a damaged CSA header
        raise NotAnImage(f"a Siemens mosaic whose CSA image header (0029,1010) cannot be read ({error})") from None
    tiles = mosaic_tiles(ds, csa)
    per_row = math.ceil(math.sqrt(tiles))
    if pixels.rows % per_row or pixels.columns % per_row:
        raise NotAnImage(
            f"a mosaic of {tiles} slices cannot be cut from {pixels.rows} × {pixels.columns} pixels "
            f"({per_row} tiles to a side)"
        )
    mosaic = Mosaic(tiles=tiles, per_row=per_row, rows=pixels.rows // per_row, columns=pixels.columns // per_row)
    positions = tile_positions(ds, csa, tiles, base.spacing_between_slices_mm)
    base = replace(base, acquisition=with_csa_diffusion(base.acquisition, csa))
    frames = tuple(replace(base, tile=k, position_mm=positions[k] if positions else None) for k in range(tiles))
    notes = () if positions else (
        "a mosaic without a positive Spacing Between Slices (0018,0088): the distance between its slices is unknown",
    )
    return mosaic, frames, notes


def with_csa_diffusion(acquisition: Acquisition, csa: dict | None) -> Acquisition:
    """Siemens diffusion mosaics give the b-value and gradient direction only in the CSA header
    (B_value, DiffusionGradientDirection); the standard elements win where both are given."""
    if csa is None or acquisition.b_value is not None:
        return acquisition
    try:
        b_value = nicom().csareader.get_b_value(csa)
        gradient = nicom().csareader.get_g_vector(csa)
    except ValueError:  # a direction of other than three values
        return acquisition
    if b_value is None:
        return acquisition
    return replace(
        acquisition,
        b_value=float(b_value),
        gradient=None if gradient is None else tuple(float(v) for v in gradient),
    )


def mosaic_tiles(ds, csa: dict | None) -> int:
    element = ds.get(NUMBER_OF_IMAGES_IN_MOSAIC)
    tiles = None
    if element is not None and element.value not in (None, b"", ""):
        value = element.value
        if isinstance(value, bytes):
            value = int.from_bytes(value[:2], "little")
        tiles = int(value)
    elif csa is not None:
        tiles = nicom().csareader.get_n_mosaic(csa)
    if not tiles or tiles < 1:
        raise NotAnImage(
            "a Siemens mosaic (Image Type MOSAIC) without Number Of Images In Mosaic ((0019,100A) or the CSA "
            "header): its slices cannot be told apart"
        )
    return int(tiles)


def tile_positions(ds, csa: dict | None, tiles: int, spacing_mm: float | None) -> list[tuple[float, float, float]] | None:
    """Image Position (Patient) of each tile; None when Spacing Between Slices is missing or not positive
    (the stack then says the slices cannot be spaced)."""
    if spacing_mm is None or not math.isfinite(spacing_mm) or spacing_mm <= 0:
        return None
    try:
        wrapper = nicom().MosaicWrapper(ds, csa, tiles)
        first = wrapper.image_position
        normal = wrapper.slice_normal
    except Exception as error:  # a CSA normal that disagrees with the orientation, missing values
        raise NotAnImage(f"the slices of a Siemens mosaic cannot be positioned ({error or type(error).__name__})") from None
    if first is None or normal is None:
        return None
    return [tuple(float(v) for v in np.asarray(first) + k * spacing_mm * np.asarray(normal)) for k in range(tiles)]
