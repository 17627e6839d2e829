"""The mask taken away: NIfTI and DICOM SEG read back, checked against the source files and the measurement.

The checks are independent of the export code: positions come from pydicom's reading of each source
file, the expected mask of the seed slice from pydicom's pixel array normalised the simple way.
"""
import gzip
import tempfile
from pathlib import Path

import nibabel
import numpy as np
import pydicom
import pytest

from volumes.imaging.export import (
    LPS_TO_RAS,
    ExportError,
    counted_table,
    nifti_bytes,
    seg_bytes,
    stack_mask,
)
from volumes.imaging.grouping import split_into_volumes
from volumes.imaging.histograms import histogram_volume
from volumes.imaging.measure import measure_histogram
from volumes.imaging.reader import read_images
from volumes.imaging.sources import collect_paths
from volumes.imaging.thresholds import ThresholdRequest

from .conftest import PHANTOM_DIR, PHANTOM_VOXELS, SEED_FILE, SEED_VOXELS

CASES = [(SEED_FILE, SEED_VOXELS), (PHANTOM_DIR, PHANTOM_VOXELS)]


def measured_mask(path, request=ThresholdRequest(value=0.5)):
    read = read_images(collect_paths([path]), histograms=True)
    (volume,) = split_into_volumes(read.images)
    histogram = histogram_volume(volume)
    result, above = measure_histogram(histogram, request)
    return result, stack_mask(volume, histogram, above)


def source_datasets(path) -> dict[str, pydicom.Dataset]:
    """SOP Instance UID → dataset of every image file under `path`."""
    files = [path] if path.is_file() else [p for p in path.iterdir() if p.name.startswith("I")]
    datasets = [pydicom.dcmread(f) for f in files]
    return {ds.SOPInstanceUID: ds for ds in datasets}


def lps_to_ras(point) -> np.ndarray:
    return (LPS_TO_RAS @ np.array([*point, 1.0]))[:3]


@pytest.mark.parametrize("path, voxels", CASES, ids=["seed", "tilted-phantom"])
def test_the_mask_holds_exactly_the_voxels_the_measurement_counted(path, voxels):
    result, stack = measured_mask(path)
    assert stack.voxels == result.voxels_above == voxels
    other, other_stack = measured_mask(path, ThresholdRequest(mode="modality", value=300.0))
    assert other_stack.voxels == other.voxels_above < voxels


def test_the_seed_mask_is_the_simple_definition_in_nifti_voxel_order():
    _, stack = measured_mask(SEED_FILE)
    ds = pydicom.dcmread(SEED_FILE)
    values = ds.pixel_array.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    expected = (values - values.min()) / (values.max() - values.min()) > 0.5
    image = nibabel.load(write(stack, "nii.gz"))
    data = np.asanyarray(image.dataobj)
    assert data.shape == (512, 512, 1) and data.dtype == np.uint8
    assert np.array_equal(data[:, :, 0].T.astype(bool), expected)  # (column, row) in NIfTI, (row, column) in DICOM


@pytest.mark.parametrize("path, voxels", CASES, ids=["seed", "tilted-phantom"])
def test_the_nifti_affine_puts_every_voxel_where_its_dicom_slice_lies(path, voxels, tmp_path):
    _, stack = measured_mask(path)
    image = nibabel.load(write(stack, "nii.gz", tmp_path))
    assert int(np.asanyarray(image.dataobj).sum()) == voxels
    assert int(image.header["sform_code"]) == 1 and int(image.header["qform_code"]) == 1
    sform = image.get_sform()
    datasets = sorted(
        source_datasets(path).values(),
        key=lambda ds: float(np.dot(np.cross(*np.reshape(ds.ImageOrientationPatient, (2, 3))), ds.ImagePositionPatient)),
    )
    assert image.shape[2] == len(datasets)
    for k, ds in enumerate(datasets):
        row_direction, column_direction = np.reshape(np.array(ds.ImageOrientationPatient, dtype=float), (2, 3))
        row_spacing, column_spacing = (float(v) for v in ds.PixelSpacing)
        for column, row in ((0, 0), (511, 0), (0, 511), (200, 300)):
            lps = np.array(ds.ImagePositionPatient, dtype=float) + column * column_spacing * row_direction + row * row_spacing * column_direction
            assert sform @ [column, row, k, 1] == pytest.approx([*lps_to_ras(lps), 1.0], abs=1e-3)


def test_the_tilted_phantom_keeps_its_shear_in_the_sform_and_a_perpendicular_stack_in_the_qform(tmp_path):
    _, stack = measured_mask(PHANTOM_DIR)
    image = nibabel.load(write(stack, "nii.gz", tmp_path))
    sform, qform = image.get_sform(), image.get_qform()
    in_plane = sform[:3, :2] / np.linalg.norm(sform[:3, :2], axis=0)
    slice_step = sform[:3, 2]
    normal = np.cross(in_plane[:, 0], in_plane[:, 1])
    tilt = np.degrees(np.arccos(abs(np.dot(slice_step, normal)) / np.linalg.norm(slice_step)))
    assert tilt == pytest.approx(18.5, abs=0.05)  # the gantry tilt, kept as a shear
    assert np.linalg.norm(slice_step) == pytest.approx(2.5, abs=1e-3)  # positions 2.5 mm apart along z
    assert np.allclose(qform[:3, :2], sform[:3, :2], atol=1e-5) and np.allclose(qform[:3, 3], sform[:3, 3], atol=1e-3)
    assert abs(np.dot(qform[:3, 2], in_plane[:, 0])) < 1e-4 and abs(np.dot(qform[:3, 2], in_plane[:, 1])) < 1e-4
    assert np.linalg.norm(qform[:3, 2]) == pytest.approx(2.5 * np.cos(np.radians(18.5)), abs=2e-3)


@pytest.mark.parametrize("path, voxels", CASES, ids=["seed", "tilted-phantom"])
def test_the_seg_references_every_source_slice_and_lies_on_it(path, voxels, tmp_path):
    _, stack = measured_mask(path)
    seg = pydicom.dcmread(write(stack, "dcm", tmp_path))
    sources = source_datasets(path)
    assert seg.SOPClassUID == "1.2.840.10008.5.1.4.1.1.66.4"
    assert seg.StudyInstanceUID == next(iter(sources.values())).StudyInstanceUID
    (referenced_series,) = seg.ReferencedSeriesSequence
    assert referenced_series.SeriesInstanceUID == next(iter(sources.values())).SeriesInstanceUID
    assert {item.ReferencedSOPInstanceUID for item in referenced_series.ReferencedInstanceSequence} == set(sources)
    frames = seg.pixel_array.reshape(-1, seg.Rows, seg.Columns)
    assert int(frames.sum()) == voxels
    assert len(seg.PerFrameFunctionalGroupsSequence) == len(sources)
    per_source = {}
    for frame, group in zip(frames, seg.PerFrameFunctionalGroupsSequence):
        uid = group.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        position = [float(v) for v in group.PlanePositionSequence[0].ImagePositionPatient]
        assert position == pytest.approx([float(v) for v in sources[uid].ImagePositionPatient], abs=1e-3)
        per_source[uid] = int(frame.sum())
    expected = {ds.SOPInstanceUID: int(mask.sum()) for ds, mask in zip(stack_sources(stack, sources), stack.mask)}
    assert per_source == expected


def stack_sources(stack, sources):
    by_path = {image.path: image.sop_instance_uid for image in stack.images}
    return [sources[by_path[image.path]] for image in stack.images]


def write(stack, kind: str, folder=None):
    """Write the export to a file (nibabel and pydicom read files) and return its path."""
    folder = Path(folder or tempfile.mkdtemp(prefix="export-test-"))
    if kind == "nii.gz":
        content = nifti_bytes(stack)
        assert gzip.decompress(content)[344:348] == b"n+1\x00"  # a single-file NIfTI-1
    else:
        content = seg_bytes(stack, label="above 0.5", description="test mask")
        assert content[128:132] == b"DICM"
    target = folder / f"mask.{kind}"
    target.write_bytes(content)
    return target


@pytest.mark.parametrize("dtype", [np.int16, np.uint16, np.float64])
def test_each_stored_value_is_counted_as_its_modality_value_was(dtype):
    stored = np.array([[0, 10], [20, 10]], dtype=dtype)
    values = np.array([-1000.0, -980.0, -960.0])  # slope 2, intercept -1000
    above = np.array([False, True, False])
    counted = counted_table(stored, 2.0, -1000.0, values, above)
    assert counted.tolist() == [[False, True], [False, True]]
    assert counted_table(stored + 1, 2.0, -1000.0, values, above) is None  # -998 was never measured


def test_an_image_that_does_not_say_where_it_lies_gives_no_mask_file_and_says_why(tmp_path):
    ds = pydicom.dcmread(SEED_FILE)
    del ds.ImagePositionPatient
    ds.save_as(tmp_path / "no-position.dcm")
    read = read_images(collect_paths([tmp_path / "no-position.dcm"]), histograms=True)
    (volume,) = split_into_volumes(read.images)
    histogram = histogram_volume(volume)
    _, above = measure_histogram(histogram, ThresholdRequest(value=0.5))
    with pytest.raises(ExportError, match=r"the images do not say where they lie \(no Image Position or Orientation \(Patient\)\)"):
        stack_mask(volume, histogram, above)
