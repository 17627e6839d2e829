"""Exports of a stored measurement's mask: the voxels it counted, as DICOM SEG or NIfTI."""
from __future__ import annotations


from ..imaging.export import ExportError, StackMask, mask_label, nifti_bytes, seg_bytes, stack_mask
from ..imaging.measure import measure_histogram
from ..imaging.reader import read_images
from ..models import Measurement
from .measuring import series_histogram
from .media import instances_on_disk
from .scanning import series_volume
from .viewing import stored_body


def measurement_mask(*, measurement: Measurement) -> StackMask:
    """The measurement's counted voxels, read again from the series' stored files.

    Read in this process (a web request must not fork). Raises ExportError when the measurement is
    not done or the stored files no longer give the voxels it counted.
    """
    if measurement.state != Measurement.State.DONE:
        raise ExportError("the measurement is not done yet")
    series = measurement.series
    histogram = series_histogram(series=series)
    _, above = measure_histogram(histogram, measurement.threshold_request())
    with instances_on_disk(series.instances.all()) as sources:
        read = read_images(sources, processes=1)
        if read.skipped:
            first = read.skipped[0]
            raise ExportError(f"a stored file cannot be read again: {first.name}: {first.reason}")
        body = stored_body(series) if measurement.body_only else None
        stack = stack_mask(series_volume(series=series, images=read.images), histogram, above, body)
    if stack.voxels != measurement.voxels_above:
        raise ExportError(
            f"the stored files give {stack.voxels:,} voxels above the threshold, the measurement {measurement.voxels_above:,}"
        )
    return stack


def measurement_seg(*, measurement: Measurement) -> bytes:
    """The mask as a DICOM SEG file referencing the source series (3D Slicer and OHIF overlay it)."""
    stack = measurement_mask(measurement=measurement)
    result = measurement.result_dict()
    label = mask_label(result["threshold_modality"], result["mode"])
    return seg_bytes(stack, label=label, description=f"Mask: {result['description']}")


def measurement_nifti(*, measurement: Measurement) -> bytes:
    """The mask as a gzipped NIfTI-1 file (.nii.gz)."""
    return nifti_bytes(measurement_mask(measurement=measurement))


__all__ = ["ExportError", "measurement_mask", "measurement_nifti", "measurement_seg"]
