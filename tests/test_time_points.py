"""Time points told apart by the rank of a time at each position (Trigger Time, Acquisition Time):
a position that lacks an image, and two images at one position with the same time."""
from __future__ import annotations

import numpy as np
import pydicom
import pytest

from volumes.imaging.acquisitions import Acquisition, FrameItem, split_time_points

from .acquisitions_phantoms import GAP_MM, mr_spec, voxels
from .phantoms import write_series
from .pipeline import measure


def write_cine(folder, boxes, *, drop=(), copy=()):
    """A cine acquired slice by slice: phase k holds box boxes[k]; each slice its own Acquisition Number,
    its phases triggered 40 ms apart and 2 ms later from slice to slice. `drop`: (phase, slice) not
    written; `copy`: (phase, slice) written twice (another SOP Instance UID, the same Trigger Time)."""
    rng = np.random.default_rng(3)
    for phase, n in enumerate(boxes):
        for path in write_series(folder, mr_spec(n, series_uid="1.2.826.0.1.3680043.10.511.8", prefix=f"p{phase}-", rng=rng)):
            ds = pydicom.dcmread(path)
            slice_number = round((float(ds.ImagePositionPatient[2]) - 100.0) / GAP_MM)
            ds.AcquisitionNumber = slice_number + 1
            ds.TriggerTime = f"{phase * 40 + slice_number * 2:g}"
            if (phase, slice_number) in drop:
                path.unlink()
                continue
            ds.save_as(path)
            if (phase, slice_number) in copy:
                ds.SOPInstanceUID = f"{ds.SOPInstanceUID[:60]}.9"
                ds.save_as(path.with_name(f"copy-{path.name}"))


def test_a_cine_missing_an_image_in_a_middle_phase_keeps_the_later_phases_in_place(tmp_path):
    # Phase 2 lacks slice 1 (the box lies on slices 1–2): ranking the trigger times at that slice
    # would put phase 3's image in phase 2 and leave phase 3 short.
    write_cine(tmp_path, (5, 2, 3), drop={(1, 1)})
    result = measure(tmp_path, "modality", 0.0).only
    points = result.as_dict()["time_points"]
    assert [p["slices"] for p in points] == [4, 3, 4]
    assert [p["voxels_above"] for p in points] == [voxels(5), voxels(2) // 2, voxels(3)]
    assert [p["trigger_time_ms"] for p in points] == [3.0, pytest.approx(130 / 3, abs=1e-3), 83.0]  # 40, 44, 46: no 42 ms
    assert "(fewer in time point 2)" in result.warnings[-1]


def test_two_images_at_one_position_with_the_same_trigger_time_are_refused_whatever_the_file_order(tmp_path):
    write_cine(tmp_path, (5, 2, 3), copy={(2, 1)})
    outcome = measure(tmp_path, "modality", 0.0)
    assert outcome.results == []
    [reason] = set(outcome.refused.values())
    assert reason.startswith("time point 3: 2 images lie at 1 shared position") and "at 102.500 mm" in reason
    assert "nothing in their headers tells them apart" in reason and "/copy-" in reason


def items_at(times_by_position: list[list[float]]) -> list[FrameItem]:
    return [
        FrameItem(image=10 * position + k, frame=0, acquisition=Acquisition(trigger_time_ms=time), along_mm=2.5 * position)
        for position, times in enumerate(times_by_position)
        for k, time in enumerate(times)
    ]


@pytest.mark.parametrize("reverse", [False, True], ids=["in-order", "reversed"])
def test_ranked_time_points_never_depend_on_the_order_of_the_frames(reverse):
    items = items_at([[0.0, 40.0, 80.0], [2.0, 82.0], [4.0, 44.0, 84.0]])  # slice 2 lacks its 42 ms
    points = split_time_points(list(reversed(items)) if reverse else items)
    assert [sorted(image for image, _ in p.frames) for p in points] == [[0, 10, 20], [1, 21], [2, 11, 22]]


def test_a_position_whose_times_fit_no_phase_leaves_the_time_points_untold():
    # Slice 2's two times lie nearest one phase: which is which cannot be said, so no time points
    # are made from the trigger time (the stack then refuses the images at one position).
    items = items_at([[0.0, 40.0, 80.0], [38.0, 41.0], [4.0, 44.0, 84.0]])
    assert len(split_time_points(items)) == 1
