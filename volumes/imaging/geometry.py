"""A volume's images in order along the slice normal, their slab widths, and what to warn about
(the grouping of a series into volumes is grouping.py's).

The slab rule: slices are ordered by the projection of Image Position (Patient) on the slice normal
(row direction × column direction); each slice stands for a slab as wide as the mean of its gaps to
its neighbours (an edge slice takes its one gap); a lone slice takes its Slice Thickness, else its
Spacing Between Slices. With a tilted gantry the projection gives the perpendicular spacing.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from .acquisitions import DUPLICATE_TOLERANCE
from .images import DicomImage, Frame

UNIT_TOLERANCE = 1e-6
"""How far from 1 the length of a slice normal may be before it is normalised."""


GAP_TOLERANCE = 1e-4
"""Gaps that differ by less than this fraction of the median gap count as even (header rounding)."""


POSITION_ROUNDING_MM = 0.001
"""Coarsest rounding of Image Position seen in headers (3 decimals): gaps may differ by twice this."""


TILT_TOLERANCE = 1e-3
"""Sideways shift per mm along the normal (≈ 0.06°) below which the stack counts as not tilted."""


ORIENTATION_TOLERANCE = 1e-3
"""Direction cosines that differ by less than this belong to the same stack."""


SPACING_TOLERANCE = 1e-4
"""Pixel spacings that differ by less than this fraction belong to the same stack."""


MAX_SPACING_MM = 1000.0
"""A pixel spacing or a slab wider than a metre is out of any physical range: no volume, and why."""

MAX_POSITION_MM = 1e6
"""An image position further than a kilometre from the origin is out of any physical range."""

MAX_LISTED = 3
"""How many individual cases a warning names before it only counts the rest."""


LOCALIZER_REASON = (
    "a localiser (Image Type LOCALIZER): a projection that plans the scan, not a slice, so it stands "
    "for no slab of the body"
)


@dataclass(frozen=True)
class SliceRef:
    """One slice of a stack: frame `frame` of image `image` (indices into the volume's images)."""

    image: int
    frame: int


@dataclass(frozen=True)
class Stack:
    """The slices of a volume in order along the normal, and how wide a slab each stands for."""

    slices: tuple[SliceRef, ...]
    slab_widths_mm: tuple[float, ...] | None
    pixel_spacing_mm: tuple[float, float] | None
    warnings: tuple[str, ...]
    volume_unavailable_reason: str | None
    refusal: str | None = None
    """Why the stack is not measured at all (images at one position that nothing tells apart)."""


def normal_of(orientation: tuple[float, ...] | None) -> np.ndarray:
    """The slice normal, row direction × column direction; +z when the orientation is unknown.

    Direction cosines within UNIT_TOLERANCE of unit length are used as written (that is the
    header's own rounding, and what the reference figures use); others are normalised.
    """
    if orientation is None:
        return np.array([0.0, 0.0, 1.0])
    normal = cross_product(orientation)
    length = float(np.linalg.norm(normal))
    if length == 0:
        return np.array([0.0, 0.0, 1.0])
    return normal if abs(length - 1.0) <= UNIT_TOLERANCE else normal / length


def cross_product(orientation: tuple[float, ...]) -> np.ndarray:
    """Row direction × column direction of the six direction cosines, with np.cross's very operations
    (each product rounded, then their difference), without its generic machinery: a series has a
    stack per time point, and np.cross of two 3-vectors costs as much as the rest of a stack's geometry."""
    ax, ay, az, bx, by, bz = orientation
    return np.array([ay * bz - az * by, az * bx - ax * bz, ax * by - ay * bx])


# --- the stack --------------------------------------------------------------------------------


def build_stack(images: tuple[DicomImage, ...] | list[DicomImage], frames: Iterable[tuple[int, int]] | None = None) -> Stack:
    """Order frames of a volume's images along the normal and give each its slab width.

    `frames` are (image index, frame position) pairs, one time point's; default every frame.
    """
    if frames is None:
        frames = ((i, k) for i, image in enumerate(images) for k in range(len(image.frames)))
    refs = [SliceRef(i, k) for i, k in frames]
    frames = [images[ref.image].frames[ref.frame] for ref in refs]
    members = [images[i] for i in sorted({ref.image for ref in refs})]  # of this time point only
    spacing, reason = stack_pixel_spacing(frames)
    if reason is None and any(image.localizer for image in members):
        reason = LOCALIZER_REASON
    warnings: list[str] = []

    if len(refs) == 1:
        slab, slab_reason = lone_slice_width(frames[0])
        return Stack(
            slices=tuple(refs),
            slab_widths_mm=(slab,) if slab is not None else None,
            pixel_spacing_mm=spacing,
            warnings=tuple(warnings),
            volume_unavailable_reason=reason or slab_reason,
        )

    order_problem = ordering_problem(members, frames)
    if order_problem:
        return Stack(tuple(refs), None, spacing, tuple(warnings), reason or order_problem)

    normal = normal_of(frames[0].orientation)
    positions = np.array([frame.position_mm for frame in frames], dtype=np.float64)
    along = positions @ normal
    order = sorted(range(len(refs)), key=lambda k: along[k])
    refusal = duplicates_refusal(order, along, images, refs)
    if refusal:
        return Stack(tuple(refs[k] for k in order), None, spacing, tuple(warnings), reason or refusal, refusal)
    ordered = tuple(refs[k] for k in order)
    if len(order) == 1:
        slab, slab_reason = lone_slice_width(frames[order[0]])
        return Stack(ordered, (slab,) if slab is not None else None, spacing, tuple(warnings), reason or slab_reason)

    gaps = np.diff(along[order])
    widths = slab_widths(gaps)
    if not np.isfinite(widths).all() or widths.max() > MAX_SPACING_MM:
        reason = reason or (
            f"the slices lie up to {float(np.max(np.abs(gaps))):.6g} mm apart (Image Position (Patient)): "
            f"beyond {MAX_SPACING_MM:g} mm, out of any physical range"
        )
        return Stack(ordered, None, spacing, tuple(warnings), reason)
    uneven = uneven_gap_warning(gaps)
    if uneven:
        warnings.append(uneven)
    tilt = tilt_warning(positions[order], normal, gaps)
    if tilt:
        warnings.append(tilt)
    return Stack(ordered, tuple(float(w) for w in widths), spacing, tuple(warnings), reason)


def slab_widths(gaps_mm: np.ndarray) -> np.ndarray:
    """(n−1,) gaps → (n,) slab widths: the mean of the gaps on both sides, one gap at the edges."""
    widths = np.empty(len(gaps_mm) + 1, dtype=np.float64)
    widths[0] = gaps_mm[0]
    widths[-1] = gaps_mm[-1]
    widths[1:-1] = (gaps_mm[:-1] + gaps_mm[1:]) / 2
    return widths


def stack_pixel_spacing(frames: list[Frame]) -> tuple[tuple[float, float] | None, str | None]:
    for frame in frames:
        if frame.pixel_spacing_problem:
            return None, frame.pixel_spacing_problem
    first = frames[0].pixel_spacing_mm
    for frame in frames[1:]:
        if not all_close(frame.pixel_spacing_mm, first, rtol=SPACING_TOLERANCE, atol=0):
            return None, (
                f"the frames have different pixel spacings ({fmt_pair(first)} and "
                f"{fmt_pair(frame.pixel_spacing_mm)} mm)"
            )
    return (float(first[0]), float(first[1])), None


def lone_slice_width(frame: Frame) -> tuple[float | None, str | None]:
    """A single slice stands for its Slice Thickness, else its Spacing Between Slices."""
    for value in (frame.slice_thickness_mm, frame.spacing_between_slices_mm):
        if value is not None and math.isfinite(value) and 0 < value <= MAX_SPACING_MM:
            return float(value), None
    given = [
        f"{label} is {value:g}"
        for label, value in (
            ("Slice Thickness", frame.slice_thickness_mm),
            ("Spacing Between Slices", frame.spacing_between_slices_mm),
        )
        if value is not None
    ]
    detail = f" ({'; '.join(given)})" if given else ""
    return None, (
        "a single slice without a usable Slice Thickness (0018,0050) or Spacing Between Slices "
        f"(0018,0088){detail}: its depth is unknown"
    )


def ordering_problem(images, frames: list[Frame]) -> str | None:
    """Why the frames cannot be put in order along a normal, if they cannot."""
    notes = [note for image in images for note in image.notes]
    missing_position = sum(frame.position_mm is None for frame in frames)
    if missing_position:
        if notes:
            return f"{notes[0]}: the slices cannot be ordered or spaced"
        return (
            f"Image Position (Patient) is missing on {missing_position} of {len(frames)} slices: "
            "they cannot be ordered or spaced"
        )
    if any(frame.orientation is None for frame in frames):
        return "Image Orientation (Patient) is missing: the slice normal, and so the order of the slices, is unknown"
    first = frames[0].orientation
    if any(not all_close(frame.orientation, first, rtol=0, atol=ORIENTATION_TOLERANCE) for frame in frames):
        return "the frames lie in differently oriented planes: they do not form one stack"
    positions = np.array([frame.position_mm for frame in frames], dtype=np.float64)
    if not np.isfinite(positions).all():
        return "Image Position (Patient) holds a value that is not a number"
    furthest = float(np.abs(positions).max())
    if furthest > MAX_POSITION_MM:
        return (
            f"Image Position (Patient) holds {furthest:.6g} mm: beyond {MAX_POSITION_MM:g} mm from the origin, "
            "out of any physical range"
        )
    if np.linalg.norm(cross_product(first)) < 0.5:
        return f"Image Orientation (Patient) {fmt_list(first)} does not give two perpendicular directions"
    return None


def duplicates_refusal(order: list[int], along: np.ndarray, images, refs) -> str | None:
    """Why the stack cannot be measured when two of its images lie at one position, else None.

    The series has already been split by everything that tells images apart (contrast, time point):
    images still at one position are copies or something no header value names, and choosing one by
    Instance Number or file name would measure an arbitrary mix. Positions within DUPLICATE_TOLERANCE
    of the first of a group are the same position (header rounding).
    """
    gaps = np.diff(along[order])
    positive = gaps[gaps > 0]
    scale = float(np.median(positive)) if positive.size else 0.0
    groups = [[order[0]]]
    for k in order[1:]:
        if along[k] - along[groups[-1][0]] <= DUPLICATE_TOLERANCE * scale:
            groups[-1].append(k)
        else:
            groups.append([k])
    shared = [group for group in groups if len(group) > 1]
    if not shared:
        return None

    def label(k: int) -> str:
        image = images[refs[k].image]
        text = image.name
        if len(image.frames) > 1 or image.frames[refs[k].frame].index:
            text += f" frame {image.frames[refs[k].frame].index + 1}"
        if image.instance_number is not None:
            text += f" (instance {image.instance_number})"
        return text

    cases = [f"{' and '.join(label(k) for k in group)} at {along[group[0]]:.3f} mm" for group in shared[:MAX_LISTED]]
    rest = len(shared) - MAX_LISTED
    more = f"; and {rest} more position{'s' if rest > 1 else ''}" if rest > 0 else ""
    images_at = sum(len(group) for group in shared)
    return (
        f"{images_at} images lie at {len(shared)} shared position{'s' if len(shared) > 1 else ''} along the slice "
        "normal and nothing in their headers tells them apart (image type, echo, diffusion, ASL, time point): "
        f"which to measure is unknown, so this volume is not measured: {'; '.join(cases)}{more}"
    )


def uneven_gap_warning(gaps: np.ndarray) -> str | None:
    median = float(np.median(gaps))
    smallest, largest = float(gaps.min()), float(gaps.max())
    if largest - smallest <= max(GAP_TOLERANCE * median, 2 * POSITION_ROUNDING_MM):
        return None
    return (
        f"uneven slice spacing: gaps from {smallest:.3f} to {largest:.3f} mm (median {median:.3f} mm); "
        "each slice's slab is the mean of its gaps to its neighbours"
    )


def tilt_warning(positions: np.ndarray, normal: np.ndarray, gaps: np.ndarray) -> str | None:
    """The stack is sheared (gantry tilt) when the positions move sideways to the normal."""
    displacement = positions[-1] - positions[0]
    along = float(displacement @ normal)
    sideways = float(np.linalg.norm(displacement - along * normal))
    if along == 0 or sideways / abs(along) <= TILT_TOLERANCE:
        return None
    tilt_deg = math.degrees(math.atan2(sideways, abs(along)))
    between_positions = float(np.linalg.norm(displacement)) / len(gaps)
    return (
        f"gantry tilt of {tilt_deg:.1f}°: the slices are sheared, so the slab widths use the spacing "
        f"perpendicular to the slices ({float(np.mean(gaps)):.3f} mm), not the "
        f"{between_positions:.3f} mm between their positions"
    )


def all_close(a: tuple[float, ...], b: tuple[float, ...], *, rtol: float, atol: float) -> bool:
    """np.allclose(a, b, rtol, atol), answered at once when the values are equal and not NaN.

    The images of a series repeat the same orientation and spacing, and np.allclose, called for each,
    is slow beside a comparison of tuples (README, Benchmark).
    """
    if a == b and not any(map(math.isnan, a)):
        return True
    return bool(np.allclose(a, b, rtol=rtol, atol=atol))


def fmt_pair(values) -> str:
    return " × ".join(f"{v:g}" for v in values) if values else "none"


def fmt_list(values) -> str:
    return "\\".join(f"{v:g}" for v in values)
