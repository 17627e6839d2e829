"""Series holding several volumes at the same positions: each contrast measured as what it is, the
repeats of one contrast over time as one measurement with a volume per time point."""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pydicom
import pytest

from volumes.imaging.acquisitions import Acquisition, FrameItem, split_contrasts
from volumes.imaging.reader import read_images
from volumes.imaging.sources import collect_paths

from .acquisitions_phantoms import (
    COLUMNS,
    ENHANCED_ECHO_TIME,
    PIXEL_MM,
    ROWS,
    SLICES,
    mr_spec,
    volume_mm3,
    voxels,
    write_enhanced_mr,
    write_mosaic,
    write_volumes,
)
from .phantoms import Box, Phantom, SeriesSpec, write_series
from .pipeline import measure


def entries(outcome):
    return {result.volume_label: result for result in outcome.results}


def assert_volume(result, n):
    assert result.voxels_above == voxels(n)
    assert result.volume_mm3 == pytest.approx(volume_mm3(n))
    assert result.slices == SLICES


def test_echoes_sharing_instance_numbers_under_random_names_are_measured_each_as_itself(tmp_path):
    write_volumes(tmp_path, [(2, {"EchoNumbers": 1, "EchoTime": "2.46"}), (5, {"EchoNumbers": 2, "EchoTime": "7.38"})])
    outcome = measure(tmp_path, "modality", 0.0)
    assert [r.volume_label for r in outcome.results] == ["echo 1 (TE 2.46 ms)", "echo 2 (TE 7.38 ms)"]
    by_label = entries(outcome)
    assert_volume(by_label["echo 1 (TE 2.46 ms)"], 2)
    assert_volume(by_label["echo 2 (TE 7.38 ms)"], 5)
    assert all(r.warnings == () and len(r.time_points) == 1 for r in outcome.results)
    assert all(r.as_dict()["time_points"] is None for r in outcome.results)
    assert by_label["echo 2 (TE 7.38 ms)"].description == "acquisitions [echo 2 (TE 7.38 ms)]"


def test_magnitude_and_phase_in_one_series_are_two_volumes(tmp_path):
    write_volumes(
        tmp_path,
        [(3, {"ImageType": ["ORIGINAL", "PRIMARY", "P", "ND"]}), (6, {"ImageType": ["ORIGINAL", "PRIMARY", "M", "ND"]})],
    )
    by_label = entries(measure(tmp_path, "modality", 0.0))
    assert sorted(by_label) == ["magnitude", "phase"]
    assert_volume(by_label["magnitude"], 6)
    assert_volume(by_label["phase"], 3)


@pytest.mark.parametrize(
    "keyword, values, reported",
    [
        ("TemporalPositionIdentifier", (3, 1, 2), "temporal_position"),
        ("AcquisitionNumber", (12, 10, 11), "acquisition_number"),
        ("TriggerTime", ("600", "0", "300"), "trigger_time_ms"),
    ],
)
def test_a_time_series_is_one_measurement_with_a_volume_per_time_point_in_acquisition_order(
    tmp_path, keyword, values, reported
):
    # Written out of time order: box 6 at the last time, 2 at the first, 4 between.
    write_volumes(tmp_path, [(6, {keyword: values[0]}), (2, {keyword: values[1]}), (4, {keyword: values[2]})])
    result = measure(tmp_path, "modality", 0.0).only
    assert result.volume_label == ""
    assert_volume(result, 2)  # the headline is the first time point
    points = result.as_dict()["time_points"]
    assert [p["index"] for p in points] == [1, 2, 3]
    assert [p["voxels_above"] for p in points] == [voxels(2), voxels(4), voxels(6)]
    assert [p["volume_mm3"] for p in points] == pytest.approx([volume_mm3(2), volume_mm3(4), volume_mm3(6)])
    assert [p["slices"] for p in points] == [SLICES] * 3
    written = sorted(float(v) for v in values)
    assert [p[reported] for p in points] == written
    assert result.warnings == ()


def test_the_normalised_mode_normalises_over_every_time_point(tmp_path):
    # Time point 2 holds a box of 100, time point 1 a box of 40 among 0s: at 0.5 of the range over both
    # time points (0..100), time point 1 has nothing above; normalised over itself alone it would.
    series_uid = write_volumes(tmp_path, [(2, {"TemporalPositionIdentifier": 2})])
    faint = mr_spec(3, series_uid=series_uid, prefix="faint-", rng=np.random.default_rng(5), TemporalPositionIdentifier=1)
    box_of_40 = Phantom(slices=SLICES, rows=ROWS, columns=COLUMNS, background=0.0, boxes=(Box((0, 1), (0, 3), (0, 1), 40.0),))
    write_series(tmp_path, replace(faint, phantom=box_of_40))
    result = measure(tmp_path, "normalized", 0.5).only
    assert [p["voxels_above"] for p in result.as_dict()["time_points"]] == [0, voxels(2)]
    assert result.voxels_above == 0
    assert result.threshold_modality == 50.0


def test_diffusion_b0_and_three_directions_are_four_volumes_numbered_in_acquisition_order(tmp_path):
    write_volumes(
        tmp_path,
        [
            (5, {"DiffusionBValue": 1000, "DiffusionGradientOrientation": [0.0, 1.0, 0.0], "AcquisitionNumber": 3}),
            (7, {"DiffusionBValue": 0, "AcquisitionNumber": 1}),
            (4, {"DiffusionBValue": 1000, "DiffusionGradientOrientation": [1.0, 0.0, 0.0], "AcquisitionNumber": 2}),
            (6, {"DiffusionBValue": 1000, "DiffusionGradientOrientation": [0.0, 0.0, 1.0], "AcquisitionNumber": 4}),
        ],
    )
    by_label = entries(measure(tmp_path, "modality", 0.0))
    assert sorted(by_label) == ["b=0", "b=1000, direction 1", "b=1000, direction 2", "b=1000, direction 3"]
    assert_volume(by_label["b=0"], 7)
    assert_volume(by_label["b=1000, direction 1"], 4)
    assert_volume(by_label["b=1000, direction 2"], 5)
    assert_volume(by_label["b=1000, direction 3"], 6)





def test_an_enhanced_file_with_echo_and_temporal_dimensions_in_shuffled_frame_order(tmp_path):
    volumes = [
        (1, {"echo_time": 2.5, "index": (1, 1)}),
        (2, {"echo_time": 2.5, "index": (2, 1)}),
        (3, {"echo_time": 2.5, "index": (3, 1)}),
        (7, {"echo_time": 7.5, "index": (1, 2)}),
        (6, {"echo_time": 7.5, "index": (2, 2)}),
        (5, {"echo_time": 7.5, "index": (3, 2)}),
    ]
    write_enhanced_mr(tmp_path / "enhanced.dcm", volumes, dimensions=ENHANCED_ECHO_TIME)
    outcome = measure(tmp_path, "modality", 0.0)
    assert [r.volume_label for r in outcome.results] == ["echo 1 (TE 2.5 ms)", "echo 2 (TE 7.5 ms)"]
    first, second = outcome.results
    assert [p["voxels_above"] for p in first.as_dict()["time_points"]] == [voxels(1), voxels(2), voxels(3)]
    assert [p["voxels_above"] for p in second.as_dict()["time_points"]] == [voxels(7), voxels(6), voxels(5)]
    assert [p["temporal_position"] for p in second.as_dict()["time_points"]] == [1, 2, 3]
    assert second.volume_mm3 == pytest.approx(volume_mm3(7))
    assert [p["volume_mm3"] for p in first.as_dict()["time_points"]] == pytest.approx([volume_mm3(k) for k in (1, 2, 3)])


def test_an_enhanced_file_with_magnitude_and_field_map_frames_gives_each_its_volume(tmp_path):
    # The field map is stored as real values; Frame Type's fourth value names it.
    volumes = [
        (2, {"frame_type": ("ORIGINAL", "PRIMARY", "T2_STAR", "NONE"), "complex": "MAGNITUDE"}),
        (5, {"frame_type": ("DERIVED", "PRIMARY", "T2_STAR", "FIELD_MAP"), "complex": "REAL"}),
    ]
    write_enhanced_mr(tmp_path / "fieldmap.dcm", volumes, dimensions=(("InStackPositionNumber", "FrameContentSequence"),))
    by_label = entries(measure(tmp_path, "modality", 0.0))
    assert sorted(by_label) == ["field map", "magnitude"]
    assert_volume(by_label["magnitude"], 2)
    assert_volume(by_label["field map"], 5)


def test_an_enhanced_diffusion_file_labels_b_values_and_directions_from_mr_diffusion_sequence(tmp_path):
    volumes = [
        (6, {"b_value": 1000, "gradient": (0.0, 0.0, 1.0), "index": (4,)}),
        (3, {"b_value": 0, "index": (1,)}),
        (5, {"b_value": 1000, "gradient": (0.0, 1.0, 0.0), "index": (3,)}),
        (4, {"b_value": 1000, "gradient": (1.0, 0.0, 0.0), "index": (2,)}),
    ]
    dimensions = (("InStackPositionNumber", "FrameContentSequence"), ("DiffusionGradientOrientation", "MRDiffusionSequence"))
    write_enhanced_mr(tmp_path / "dwi.dcm", volumes, dimensions=dimensions)
    by_label = entries(measure(tmp_path, "modality", 0.0))
    assert sorted(by_label) == ["b=0", "b=1000, direction 1", "b=1000, direction 2", "b=1000, direction 3"]
    assert_volume(by_label["b=0"], 3)
    assert_volume(by_label["b=1000, direction 1"], 4)
    assert_volume(by_label["b=1000, direction 2"], 5)
    assert_volume(by_label["b=1000, direction 3"], 6)


def test_asl_label_and_control_repeated_over_time_are_two_contrasts_with_their_time_points(tmp_path):
    volumes = [
        (2, {"asl": "LABEL", "index": (1,)}),
        (5, {"asl": "CONTROL", "index": (1,)}),
        (3, {"asl": "LABEL", "index": (2,)}),
        (6, {"asl": "CONTROL", "index": (2,)}),
    ]
    dimensions = (("InStackPositionNumber", "FrameContentSequence"), ("TemporalPositionIndex", "FrameContentSequence"))
    write_enhanced_mr(tmp_path / "asl.dcm", volumes, dimensions=dimensions)
    by_label = entries(measure(tmp_path, "modality", 0.0))
    assert sorted(by_label) == ["control", "label"]
    assert [p["voxels_above"] for p in by_label["label"].as_dict()["time_points"]] == [voxels(2), voxels(3)]
    assert [p["voxels_above"] for p in by_label["control"].as_dict()["time_points"]] == [voxels(5), voxels(6)]


def test_a_mosaic_is_cut_into_its_slices_and_the_slab_is_the_spacing_between_them(tmp_path):
    # 4 slices 3.0 mm thick, 3.6 mm apart: the slab is 3.6 mm, not the thickness.
    write_mosaic(tmp_path / "mosaic.dcm", 3, tiles=4, spacing_mm=3.6, thickness_mm=3.0)
    result = measure(tmp_path, "modality", 0.0).only
    assert (result.rows, result.columns, result.slices) == (8, 6, 4)
    assert result.voxels_above == voxels(3)
    assert result.slab_mm == pytest.approx({"min": 3.6, "max": 3.6, "mean": 3.6})
    assert result.volume_mm3 == pytest.approx(voxels(3) * PIXEL_MM[0] * PIXEL_MM[1] * 3.6)
    assert result.warnings == ()


def test_mosaic_tiles_are_placed_from_the_csa_header_first_tile_where_nibabel_says(tmp_path):
    write_mosaic(tmp_path / "m.dcm", 2, tiles=5, spacing_mm=3.6, first_position_mm=(-30.0, -40.0, 100.0))
    [image] = read_images(collect_paths([tmp_path])).images
    assert (image.mosaic.tiles, image.mosaic.per_row, image.rows, image.columns) == (5, 3, 8, 6)
    assert [frame.tile for frame in image.frames] == [0, 1, 2, 3, 4]
    positions = [value for frame in image.frames for value in frame.position_mm]
    assert positions == pytest.approx([value for k in range(5) for value in (-30.0, -40.0, 100.0 + 3.6 * k)])


def test_mosaics_of_one_series_are_its_time_points(tmp_path):
    for number, n in ((2, 5), (1, 3), (3, 4)):
        write_mosaic(tmp_path / f"{number:x}-{n}.dcm", n, acquisition_number=number, series_uid="1.2.3.4")
    result = measure(tmp_path, "modality", 0.0).only
    points = result.as_dict()["time_points"]
    assert [(p["acquisition_number"], p["voxels_above"]) for p in points] == [(1, voxels(3)), (2, voxels(5)), (3, voxels(4))]
    assert result.voxels_above == voxels(3)


def test_a_mosaic_without_spacing_between_slices_gives_no_volume_and_says_why(tmp_path):
    write_mosaic(tmp_path / "m.dcm", 3, spacing_mm=None)
    result = measure(tmp_path, "modality", 0.0).only
    assert result.voxels_above == voxels(3)
    assert result.volume_mm3 is None
    assert "a mosaic without a positive Spacing Between Slices (0018,0088)" in result.volume_unavailable_reason


def test_frames_of_an_enhanced_file_that_nothing_tells_apart_refuse_the_volume(tmp_path):
    write_enhanced_mr(
        tmp_path / "twice.dcm", [(2, {})], dimensions=(("InStackPositionNumber", "FrameContentSequence"),), duplicate_last=True
    )
    outcome = measure(tmp_path, "modality", 0.0)
    assert outcome.results == []
    [reason] = outcome.refused.values()
    assert reason.startswith("2 images lie at 1 shared position along the slice normal and nothing in their headers")


def test_a_ct_series_in_two_acquisitions_that_do_not_overlap_stays_one_volume(tmp_path):
    # Acquisition Number only makes time points when positions repeat.
    paths = write_series(tmp_path, SeriesSpec())
    for k, path in enumerate(paths):
        ds = pydicom.dcmread(path)
        ds.AcquisitionNumber = 1 if k < 3 else 2
        ds.save_as(path)
    result = measure(tmp_path, "modality", 0.0).only
    assert result.slices == 6
    assert len(result.time_points) == 1
    assert result.voxels_above == 168


def test_split_contrasts_never_depends_on_the_order_of_the_frames():
    def item(i, echo, along):
        return FrameItem(i, 0, Acquisition(echo_number=echo, echo_time_ms=2.0 * echo), along, instance_number=i % 3)

    items = [item(i, 1 + i % 2, float(i // 2)) for i in range(6)]
    forward = split_contrasts(items)
    backward = split_contrasts(list(reversed(items)))
    assert [c.label for c in forward] == [c.label for c in backward] == ["echo 1 (TE 2 ms)", "echo 2 (TE 4 ms)"]
    assert [sorted(c.time_points[0].frames) for c in forward] == [sorted(c.time_points[0].frames) for c in backward]


def test_a_time_series_of_200_time_points_of_40_slices_is_read_in_one_pass_and_measured(tmp_path):
    # 8,000 files of 16 × 16: time point t holds a box of (t % 7) + 1 rows × 2 columns on slices 1–2.
    from .time_series_writer import write_time_series

    boxes = write_time_series(tmp_path, time_points=200, slices=40)
    result = measure(tmp_path, "modality", 0.0).only
    points = result.as_dict()["time_points"]
    assert len(points) == 200
    assert [p["temporal_position"] for p in points] == list(range(1, 201))
    assert [p["slices"] for p in points] == [40] * 200
    assert [p["voxels_above"] for p in points] == [4 * rows for rows in boxes]
    assert [p["volume_mm3"] for p in points] == pytest.approx([4 * rows * 0.5 * 0.75 * 2.5 for rows in boxes])
    assert result.voxels_above == 4 * boxes[0]
    assert result.warnings == ()


def test_files_of_a_time_series_follow_the_first_ones_layout_with_their_own_time(tmp_path, monkeypatch):
    # Only the first file's header is built in full; the next ones are it with their per-file values.
    from volumes.imaging import image_header, reader

    from .time_series_writer import write_time_series

    write_time_series(tmp_path, time_points=3, slices=4)
    built = []
    monkeypatch.setattr(reader, "image_from_dataset", lambda ds, source: built.append(source) or image_header.image_from_dataset(ds, source))
    images = read_images(collect_paths([tmp_path]), histograms=True).images
    assert len(built) == 1
    assert sorted(image.frames[0].acquisition.temporal_position for image in images) == [1] * 4 + [2] * 4 + [3] * 4
    assert all(image.histograms is not None for image in images)


def test_the_command_prints_every_time_point_and_the_largest_and_smallest(tmp_path):
    import io

    from django.core.management import call_command

    write_volumes(tmp_path, [(6, {"TriggerTime": "500"}), (2, {"TriggerTime": "0"}), (4, {"TriggerTime": "250"})])
    out = io.StringIO()
    call_command("measure", str(tmp_path), "--mode", "modality", "--threshold", "0", stdout=out)
    text = out.getvalue()
    assert "  3 time points (the figures above are time point 1's):" in text
    assert "       2  250 ms after the trigger 16 voxels, 15 mm³" in text
    assert "  voxels above: 8 of 192" in text  # time point 1: 4 slices of 8 × 6
    assert "  largest at time point 3: 24 voxels, 22.5 mm³; smallest at time point 1: 8 voxels, 7.50 mm³" in text


def test_a_cine_acquired_slice_by_slice_takes_its_phases_from_the_rank_of_the_trigger_time(tmp_path):
    # Each slice is its own acquisition (Acquisition Number per slice) and its phases trigger a little
    # later from slice to slice: phase k is the k-th trigger time at each slice.
    import numpy as np

    rng = np.random.default_rng(1)
    series_uid = "1.2.826.0.1.3680043.10.511.7"
    for phase, n in enumerate((5, 2, 3)):
        spec = mr_spec(n, series_uid=series_uid, prefix=f"p{phase}-", rng=rng)
        paths = write_series(tmp_path, spec)
        for path in paths:
            ds = pydicom.dcmread(path)
            slice_number = round((float(ds.ImagePositionPatient[2]) - 100.0) / 2.5)
            ds.AcquisitionNumber = slice_number + 1
            ds.TriggerTime = f"{phase * 40 + slice_number * 2:g}"
            ds.save_as(path)
    result = measure(tmp_path, "modality", 0.0).only
    points = result.as_dict()["time_points"]
    assert [p["voxels_above"] for p in points] == [voxels(5), voxels(2), voxels(3)]
    assert [p["trigger_time_ms"] for p in points] == [3.0, 43.0, 83.0]  # the mean over the 4 slices
    assert all("acquisition_number" not in p for p in points)


def test_siemens_diffusion_mosaics_take_b_value_and_direction_from_the_csa_header(tmp_path):
    def diffusion(b, direction=None):
        tags = {"B_value": ("IS", [str(b)])}
        if direction is not None:
            tags["DiffusionGradientDirection"] = ("FD", [f"{v:.1f}" for v in direction])
        return tags

    for number, (n, tags) in enumerate(
        [(3, diffusion(0)), (4, diffusion(1000, (1, 0, 0))), (5, diffusion(1000, (0, 1, 0)))], start=1
    ):
        write_mosaic(tmp_path / f"{n}.dcm", n, acquisition_number=number, series_uid="1.2.3.5", csa_tags=tags)
    by_label = entries(measure(tmp_path, "modality", 0.0))
    assert sorted(by_label) == ["b=0", "b=1000, direction 1", "b=1000, direction 2"]
    assert [by_label[label].voxels_above for label in sorted(by_label)] == [voxels(3), voxels(4), voxels(5)]
    assert by_label["b=1000, direction 2"].volume_mm3 == pytest.approx(voxels(5) * PIXEL_MM[0] * PIXEL_MM[1] * 3.6)


def test_a_time_point_missing_a_slice_is_measured_and_said(tmp_path):
    write_volumes(tmp_path, [(2, {"TemporalPositionIdentifier": 1}), (4, {"TemporalPositionIdentifier": 2})])
    [last_slice_of_time_2] = [
        path for path in tmp_path.iterdir()
        if (ds := pydicom.dcmread(path)).TemporalPositionIdentifier == 2 and float(ds.ImagePositionPatient[2]) == 107.5
    ]
    last_slice_of_time_2.unlink()
    result = measure(tmp_path, "modality", 0.0).only
    assert [p["slices"] for p in result.as_dict()["time_points"]] == [4, 3]
    assert [p["voxels_above"] for p in result.as_dict()["time_points"]] == [voxels(2), voxels(4)]  # the box is on slices 1–2
    assert result.warnings == (
        "the time points hold from 3 to 4 slices (fewer in time point 2): their volumes cover different lengths",
    )


def test_stored_histograms_carry_every_time_point_and_older_ones_load_as_one(tmp_path):
    import io

    from volumes.imaging.grouping import split_into_volumes
    from volumes.imaging.histograms import VolumeHistogram, histogram_volume
    from volumes.imaging.measure import measure_histogram
    from volumes.imaging.thresholds import ThresholdRequest

    write_volumes(tmp_path, [(2, {"TemporalPositionIdentifier": 1}), (4, {"TemporalPositionIdentifier": 2})])
    [volume] = split_into_volumes(read_images(collect_paths([tmp_path]), histograms=True).images)
    stored = histogram_volume(volume).to_bytes()
    loaded = VolumeHistogram.load(io.BytesIO(stored))
    assert loaded.time_point_starts.tolist() == [0, 4, 8]
    assert loaded.time_points == ({"index": 1, "temporal_position": 1}, {"index": 2, "temporal_position": 2})
    above_zero = ThresholdRequest("modality", 0.0)
    assert [p["voxels_above"] for p in measure_histogram(loaded, above_zero)[0].time_points] == [voxels(2), voxels(4)]

    # A histogram stored before time points existed: no time_point_starts, no time_points.
    with np.load(io.BytesIO(stored)) as data:
        arrays = {name: data[name] for name in data.files if name != "time_point_starts"}
    meta = json.loads(str(arrays.pop("meta")))
    del meta["time_points"], meta["volume_label"]
    older = io.BytesIO()
    np.savez(older, meta=np.array(json.dumps(meta)), **arrays)
    older.seek(0)
    old = VolumeHistogram.load(older)
    assert old.time_point_starts.tolist() == [0, 8] and old.time_points == ({"index": 1},)
    assert measure_histogram(old, above_zero)[0].voxels_above == voxels(2) + voxels(4)


def test_an_enhanced_cine_gives_each_phase_its_volume_and_trigger_delay(tmp_path):
    volumes = [
        (6, {"cardiac_ms": 400.0, "index": (3,)}),
        (3, {"cardiac_ms": 0.0, "index": (1,)}),
        (5, {"cardiac_ms": 200.0, "index": (2,)}),
    ]
    dimensions = (
        ("InStackPositionNumber", "FrameContentSequence"),
        ("NominalCardiacTriggerDelayTime", "CardiacSynchronizationSequence"),
    )
    write_enhanced_mr(tmp_path / "cine.dcm", volumes, dimensions=dimensions)
    points = measure(tmp_path, "modality", 0.0).only.as_dict()["time_points"]
    assert [(p["index"], p["trigger_time_ms"], p["voxels_above"]) for p in points] == [
        (1, 0.0, voxels(3)), (2, 200.0, voxels(5)), (3, 400.0, voxels(6))
    ]
    assert [p["volume_mm3"] for p in points] == pytest.approx([volume_mm3(3), volume_mm3(5), volume_mm3(6)])


@pytest.mark.parametrize(
    "values, reported",
    [
        # Dynamic PET: Frame Reference Time, the same for every slice of a frame.
        ({0: {"FrameReferenceTime": "60000"}, 1: {"FrameReferenceTime": "0"}, 2: {"FrameReferenceTime": "30000"}},
         ("frame_reference_time_ms", [0.0, 30000.0, 60000.0])),
        # Nothing but each slice's Acquisition Time: ranked per position.
        ({0: {"AcquisitionTime": "101500.5"}, 1: {"AcquisitionTime": "101000"}, 2: {"AcquisitionTime": "101230.25"}},
         None),
    ],
    ids=["frame-reference-time", "acquisition-time"],
)
def test_time_points_from_frame_reference_time_or_acquisition_time(tmp_path, values, reported):
    # Written in the order 6, 2, 4 with times saying 2, 4, 6.
    write_volumes(tmp_path, [(6, values[0]), (2, values[1]), (4, values[2])])
    if "AcquisitionTime" in values[0]:
        for path in tmp_path.iterdir():  # each slice 1.5 s after the one before it
            ds = pydicom.dcmread(path)
            base = ds.AcquisitionTime
            offset = round((float(ds.ImagePositionPatient[2]) - 100.0) / 2.5) * 1.5
            ds.AcquisitionTime = f"{base[:4]}{float(base[4:]) + offset:09.6f}"
            ds.save_as(path)
    points = measure(tmp_path, "modality", 0.0).only.as_dict()["time_points"]
    assert [p["voxels_above"] for p in points] == [voxels(2), voxels(4), voxels(6)]
    if reported:
        key, expected = reported
        assert [p[key] for p in points] == expected


def test_a_trace_image_with_a_zero_direction_is_labelled_isotropic_and_not_numbered(tmp_path):
    write_volumes(
        tmp_path,
        [
            (3, {"DiffusionBValue": 1000, "DiffusionGradientOrientation": [0.0, 0.0, 0.0], "AcquisitionNumber": 1}),
            (4, {"DiffusionBValue": 1000, "DiffusionGradientOrientation": [1.0, 0.0, 0.0], "AcquisitionNumber": 2}),
            (5, {"DiffusionBValue": 0, "DiffusionGradientOrientation": [0.0, 0.0, 0.0], "AcquisitionNumber": 3}),
        ],
    )
    by_label = entries(measure(tmp_path, "modality", 0.0))
    assert sorted(by_label) == ["b=0", "b=1000, direction 1", "b=1000, isotropic"]
    assert [by_label[label].voxels_above for label in ("b=0", "b=1000, direction 1", "b=1000, isotropic")] == [
        voxels(5), voxels(4), voxels(3)
    ]
