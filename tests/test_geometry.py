"""Geometry on synthetic phantoms: order along the normal, slab widths, warnings and reasons.

Every series is written by tests/phantoms.py with file names and Instance Numbers out of geometric
order. The default phantom (see phantoms.py) has box A, 7 × 6 = 42 voxels on each of slices 1–4
(168 voxels) at 40, with box B, 12 voxels at 1000, inside it, on a background of −1000. Pixel
spacing 0.5 × 0.75 mm. Normalised 0.5 is modality 0: box A's 168 voxels lie above it.
Expected volumes are worked out here by hand from those numbers and the slab rule.
"""
import math

import numpy as np
import pytest

from volumes.imaging.geometry import slab_widths

from .phantoms import AXIAL, CORONAL, SAGITTAL, Box, Phantom, SeriesSpec, oblique, write_series
from .pipeline import measure

PIXEL_MM2 = 0.5 * 0.75
A_PER_SLICE = 7 * 6
POSITION_DIGITS_REL = 1e-7
"""Positions are written with 10 significant digits (≈1e-7 mm): oblique volumes agree to this."""


@pytest.mark.parametrize(
    "orientation", [AXIAL, CORONAL, SAGITTAL, oblique(30), oblique(-65)], ids=["axial", "coronal", "sagittal", "oblique30", "oblique-65"]
)
def test_evenly_spaced_slices_in_any_plane_give_the_box_volume(tmp_path, orientation):
    write_series(tmp_path, SeriesSpec(orientation=orientation))
    result = measure(tmp_path).only
    assert result.slices == 6
    assert result.voxels_above == 4 * A_PER_SLICE == 168
    assert result.volume_mm3 == pytest.approx(168 * PIXEL_MM2 * 2.5, rel=POSITION_DIGITS_REL)
    assert result.warnings == ()
    assert result.volume_unavailable_reason is None


@pytest.mark.parametrize(
    "offsets_mm, slab_mm, smallest, largest",
    [
        # 1 mm here, 7 mm there: slabs (1, 1, 4, 4, 4, 7); box A lies on slices 1–4.
        ((0, 1, 2, 9, 10, 17), (1, 1, 4, 4, 4, 7), "1.000", "7.000"),
        # the slice at 10 mm is missing: slabs (2.5, 2.5, 2.5, 3.75, 3.75, 2.5).
        ((0, 2.5, 5, 7.5, 12.5, 15), (2.5, 2.5, 2.5, 3.75, 3.75, 2.5), "2.500", "5.000"),
    ],
    ids=["steps-of-1-and-7-mm", "a-missing-slice"],
)
def test_uneven_gaps_use_the_slab_rule_and_warn_with_the_smallest_and_largest_gap(
    tmp_path, offsets_mm, slab_mm, smallest, largest
):
    write_series(tmp_path, SeriesSpec(offsets_mm=offsets_mm))
    result = measure(tmp_path).only
    assert result.voxels_above == 168
    assert result.volume_mm3 == pytest.approx(A_PER_SLICE * sum(slab_mm[1:5]) * PIXEL_MM2, rel=1e-12)
    assert result.slab_mm == {"min": min(slab_mm), "max": max(slab_mm), "mean": pytest.approx(np.mean(slab_mm))}
    [warning] = result.warnings
    assert f"uneven slice spacing: gaps from {smallest} to {largest} mm" in warning


def test_slab_widths_are_the_mean_of_the_gaps_to_the_neighbours():
    assert slab_widths(np.array([1.0, 1.0, 7.0, 1.0, 7.0])).tolist() == [1.0, 1.0, 4.0, 4.0, 4.0, 7.0]
    assert slab_widths(np.array([2.5])).tolist() == [2.5, 2.5]


@pytest.mark.parametrize("tilt_deg", [18.5, -12.0, 30.0])
def test_a_tilted_gantry_uses_the_perpendicular_gap_and_names_the_tilt(tmp_path, tilt_deg):
    write_series(tmp_path, SeriesSpec(tilt_deg=tilt_deg, gap_mm=2.5))
    result = measure(tmp_path).only
    perpendicular_mm = 2.5 * math.cos(math.radians(tilt_deg))
    assert result.voxels_above == 168
    assert result.volume_mm3 == pytest.approx(168 * PIXEL_MM2 * perpendicular_mm, rel=POSITION_DIGITS_REL)
    [warning] = result.warnings
    assert warning.startswith(f"gantry tilt of {abs(tilt_deg):.1f}°")
    assert f"({perpendicular_mm:.3f} mm), not the 2.500 mm between their positions" in warning


@pytest.mark.parametrize("orientation", [AXIAL, oblique(30)], ids=["axial", "oblique"])
def test_rounding_in_the_header_positions_raises_no_warning(tmp_path, orientation):
    spec = SeriesSpec(orientation=orientation, jitter_mm=1e-6, origin_mm=(-123.456, -234.567, 345.678))
    write_series(tmp_path, spec)
    result = measure(tmp_path).only
    assert result.warnings == ()
    assert result.voxels_above == 168
    assert result.volume_mm3 == pytest.approx(168 * PIXEL_MM2 * 2.5, rel=1e-5)


def test_positions_written_with_three_decimals_raise_no_warning(tmp_path):
    offsets = tuple(round(k * 2.333333, 3) for k in range(6))  # gaps of 2.333 and 2.334 mm
    write_series(tmp_path, SeriesSpec(offsets_mm=offsets, origin_mm=(0.0, 0.0, 0.0)))
    result = measure(tmp_path).only
    assert result.warnings == ()
    assert result.voxels_above == 168


# Two files at offset 5 mm (slices 2 and 3): slice 2 has 6 voxels at 1000, slice 3 has 9.
DUPLICATE_PHANTOM = Phantom(boxes=(Box((2, 3), (0, 2), (0, 3), 1000.0), Box((3, 4), (0, 3), (0, 3), 1000.0)))


@pytest.mark.parametrize(
    "instance_numbers",
    [(1, 2, 4, 3, 5, 6), (1, 2, 3, 4, 5, 6), (1, 2, 3, 3, 5, 6)],
    ids=["instance-numbers-swapped", "instance-numbers-in-order", "same-instance-number"],
)
def test_two_images_at_one_position_that_nothing_tells_apart_are_refused_naming_both(tmp_path, instance_numbers):
    # Neither Instance Number nor file name decides which one is measured: the volume is refused.
    spec = SeriesSpec(
        phantom=DUPLICATE_PHANTOM,
        offsets_mm=(0, 2.5, 5, 5, 7.5, 10),
        instance_numbers=instance_numbers,
        names=tuple("abcdef"),
    )
    write_series(tmp_path, spec)
    outcome = measure(tmp_path, "modality", 0.0)
    assert outcome.results == []
    [reason] = outcome.refused.values()
    assert reason.startswith(
        "2 images lie at 1 shared position along the slice normal and nothing in their headers tells them apart"
    )
    assert "so this volume is not measured" in reason
    assert f"{tmp_path.name}/c (instance {instance_numbers[2]}) and {tmp_path.name}/d (instance {instance_numbers[3]}) at 105.000 mm" in reason


def test_duplicates_a_rounding_error_apart_are_refused_too(tmp_path):
    # Slice 3 lies 2 µm below slice 2: the same position within header rounding.
    spec = SeriesSpec(
        phantom=DUPLICATE_PHANTOM,
        offsets_mm=(0, 2.5, 5.000001, 4.999999, 7.5, 10),
        instance_numbers=(1, 2, 3, 4, 5, 6),
        names=tuple("abcdef"),
    )
    write_series(tmp_path, spec)
    outcome = measure(tmp_path, "modality", 0.0)
    assert outcome.results == []
    [reason] = outcome.refused.values()
    assert "and nothing in their headers tells them apart" in reason
    assert f"{tmp_path.name}/d (instance 4) and {tmp_path.name}/c (instance 3) at 105.000 mm" in reason


@pytest.mark.parametrize(
    "spec, reason",
    [
        (SeriesSpec(pixel_spacing=None), "Pixel Spacing (0028,0030) is missing"),
        (SeriesSpec(pixel_spacing=(0, 0.5)), "Pixel Spacing (0028,0030) is 0\\0.5: a spacing must be a positive number"),
        (SeriesSpec(pixel_spacing=(-0.5, 0.5)), "Pixel Spacing (0028,0030) is -0.5\\0.5: a spacing must be a positive number"),
        (SeriesSpec(pixel_spacing="abc"), "Pixel Spacing (0028,0030) is 'abc', not two numbers"),
        (SeriesSpec(pixel_spacing="0.5"), "Pixel Spacing (0028,0030) is '0.5', not two numbers"),
        (
            SeriesSpec(pixel_spacing=None, imager_pixel_spacing=(0.2, 0.2)),
            "only Imager Pixel Spacing (0018,1164) is given: it is the spacing at the detector, not in the "
            "patient, so it cannot size a volume",
        ),
    ],
    ids=["missing", "zero", "negative", "not-a-number", "one-value", "imager-only"],
)
def test_a_missing_or_invalid_pixel_spacing_gives_no_volume_and_says_why(tmp_path, spec, reason):
    write_series(tmp_path, spec)
    result = measure(tmp_path).only
    assert result.voxels_above == 168  # the voxels are still counted
    assert result.volume_mm3 is None  # never a made-up 1 mm
    assert result.volume_unavailable_reason == reason


LONE = Phantom(slices=1, boxes=(Box((0, 1), (2, 9), (2, 8), 40.0),))


@pytest.mark.parametrize(
    "thickness, between, depth_mm",
    [(2.5, None, 2.5), (None, 3.0, 3.0), (2.5, 3.0, 2.5), ("0", 3.0, 3.0)],
    ids=["slice-thickness", "spacing-between-slices", "thickness-first", "zero-thickness-falls-back"],
)
def test_a_lone_slice_takes_its_slice_thickness_else_its_spacing_between_slices(tmp_path, thickness, between, depth_mm):
    write_series(tmp_path, SeriesSpec(phantom=LONE, slice_thickness=thickness, spacing_between_slices=between))
    result = measure(tmp_path).only
    assert result.voxels_above == A_PER_SLICE
    assert result.volume_mm3 == pytest.approx(A_PER_SLICE * PIXEL_MM2 * depth_mm, rel=1e-12)


@pytest.mark.parametrize(
    "thickness, detail", [(None, ""), ("0", " (Slice Thickness is 0)")], ids=["absent", "zero"]
)
def test_a_lone_slice_without_thickness_gives_no_volume_and_says_why(tmp_path, thickness, detail):
    write_series(tmp_path, SeriesSpec(phantom=LONE, slice_thickness=thickness))
    result = measure(tmp_path).only
    assert result.voxels_above == A_PER_SLICE
    assert result.volume_mm3 is None
    assert result.volume_unavailable_reason == (
        "a single slice without a usable Slice Thickness (0018,0050) or Spacing Between Slices "
        f"(0018,0088){detail}: its depth is unknown"
    )


def test_a_localiser_in_the_series_becomes_a_volume_of_its_own(tmp_path):
    write_series(tmp_path, SeriesSpec(series_uid="1.2.826.0.1.3680043.10.1234.1"))
    localiser = Phantom(slices=1, rows=16, columns=10, boxes=(Box((0, 1), (0, 16), (0, 5), 1000.0),))
    write_series(tmp_path, SeriesSpec(phantom=localiser, orientation=CORONAL, prefix="LOC", series_uid="1.2.826.0.1.3680043.10.1234.1"))
    results = {result.description: result for result in measure(tmp_path).results}
    assert sorted(results) == ["phantom [axial, 10×12]", "phantom [coronal, 10×16]"]
    axial, coronal = results["phantom [axial, 10×12]"], results["phantom [coronal, 10×16]"]
    assert (axial.slices, axial.voxels_above) == (6, 168)
    assert axial.volume_mm3 == pytest.approx(168 * PIXEL_MM2 * 2.5)
    assert (coronal.slices, coronal.voxels_above) == (1, 16 * 5)
    assert coronal.volume_mm3 == pytest.approx(80 * PIXEL_MM2 * 2.5)


def test_images_of_two_pixel_spacings_in_one_series_are_measured_apart(tmp_path):
    uid = "1.2.826.0.1.3680043.10.1234.2"
    write_series(tmp_path, SeriesSpec(series_uid=uid))
    write_series(tmp_path, SeriesSpec(series_uid=uid, prefix="FINE", pixel_spacing=(0.25, 0.25), origin_mm=(0, 0, 0)))
    results = sorted(measure(tmp_path).results, key=lambda r: r.pixel_spacing_mm)
    assert [r.pixel_spacing_mm for r in results] == [(0.25, 0.25), (0.5, 0.75)]
    assert [r.voxels_above for r in results] == [168, 168]
    assert [r.volume_mm3 for r in results] == [pytest.approx(168 * 0.0625 * 2.5), pytest.approx(168 * PIXEL_MM2 * 2.5)]


@pytest.mark.parametrize(
    "thickness, between", [(None, None), (5.0, None), (1.0, 3.0)], ids=["neither", "thicker-than-the-gap", "both-disagree"]
)
def test_the_slabs_of_a_stack_come_from_the_positions_not_slice_thickness_or_spacing_between_slices(tmp_path, thickness, between):
    write_series(tmp_path, SeriesSpec(slice_thickness=thickness, spacing_between_slices=between))
    result = measure(tmp_path).only
    assert result.volume_mm3 == pytest.approx(168 * PIXEL_MM2 * 2.5, rel=1e-12)
    assert result.warnings == ()


def test_images_of_one_geometry_share_a_part_and_images_whose_orientation_is_not_a_number_are_each_apart(tmp_path):
    """Images of exactly the geometry of one placed before go where it went: ones within the
    tolerances join them too, and an orientation holding NaN (close to nothing, not even itself)
    puts each image in a part of its own."""
    from dataclasses import replace

    from volumes.imaging.grouping import split_into_volumes
    from volumes.imaging.reader import read_images
    from volumes.imaging.sources import collect_paths

    write_series(tmp_path, SeriesSpec())
    images = read_images(collect_paths([tmp_path])).images
    assert len(images) == 6
    nudged = tuple(v + 1e-4 for v in images[0].frames[0].orientation)  # within ORIENTATION_TOLERANCE
    not_a_number = (math.nan, *images[0].frames[0].orientation[1:])  # one tuple, shared by three images

    def oriented(image, orientation):
        return replace(image, frames=(replace(image.frames[0], orientation=orientation),))

    mixed = [images[0], oriented(images[1], nudged), oriented(images[2], nudged), *images[3:]]
    assert [len(volume.images) for volume in split_into_volumes(mixed)] == [6]
    mixed = [*images[:3], *(oriented(image, not_a_number) for image in images[3:])]
    assert sorted(len(volume.images) for volume in split_into_volumes(mixed)) == [1, 1, 1, 3]


@pytest.mark.parametrize(
    "orientation",
    [
        AXIAL, CORONAL, SAGITTAL, oblique(30), oblique(-65), (0.1, 0.2, 0.3, 0.4, 0.5, 0.6),
        (math.nan, 0.0, 0.0, 0.0, 1.0, 0.0), (math.inf, 1.0, 0.0, 0.0, 1.0, 0.0), (1, 0, 0, 0, 1, 0),
        (1e-300, 1e300, 3.0, -7.5, 1e-9, 2.0),
    ],
)
def test_the_cross_product_of_an_orientation_is_numpys_to_the_last_bit(orientation):
    from volumes.imaging.geometry import cross_product

    with np.errstate(invalid="ignore"):
        expected = np.cross(np.array(orientation[:3]), np.array(orientation[3:]))
    made = cross_product(tuple(orientation))
    assert made.dtype == expected.dtype
    assert made.tobytes() == expected.tobytes()
