"""The header values that say what a frame is (acquisitions.Acquisition), from a classic image's data set
or an enhanced image's functional groups and dimension index."""
from __future__ import annotations

from pydicom.datadict import keyword_for_tag, tag_for_keyword

from .acquisitions import COMPONENT_NAMES, IMAGE_TYPE_NAMES, Acquisition
from .values import first_item, optional_float, optional_int, read_floats, read_strings

SPATIAL_DIMENSIONS = frozenset(
    tag_for_keyword(keyword) for keyword in ("ImagePositionPatient", "InStackPositionNumber", "StackID")
)
"""Dimensions that say where a frame lies: its position decides that, not the index."""
TEMPORAL_DIMENSIONS = frozenset(
    tag_for_keyword(keyword)
    for keyword in ("TemporalPositionIndex", "TemporalPositionTimeOffset", "NominalCardiacTriggerDelayTime", "TriggerDelayTime")
)
"""Dimensions whose index counts time points."""
READ_DIMENSIONS = frozenset(
    tag_for_keyword(keyword)
    for keyword in (
        "EffectiveEchoTime", "DiffusionBValue", "DiffusionGradientOrientation", "ComplexImageComponent",
        "FrameType", "ASLContext", "DiffusionDirectionality",
    )
)
"""Dimensions whose values are read from the frame's own functional groups (echo, diffusion, type)."""


def image_kind(values: list[str]) -> tuple[str, ...]:
    """What Image Type (from its third value on) or Complex Image Component says the image shows:
    magnitude, phase, real, imaginary, or a map (field map, ADC…), which wins over the component it is
    stored as (empty when it names none of them)."""
    names = [IMAGE_TYPE_NAMES[value.strip().upper()] for value in values if value.strip().upper() in IMAGE_TYPE_NAMES]
    maps = [name for name in names if name not in COMPONENT_NAMES]
    return tuple(dict.fromkeys(maps or names))


def read_acquisition(ds) -> Acquisition:
    """A classic image's values (one file, one frame or frames that share them)."""
    return Acquisition(
        image_type=image_kind(read_strings(ds, "ImageType")[2:]),
        echo_number=optional_int(ds, "EchoNumbers"),
        echo_time_ms=optional_float(ds, "EchoTime"),
        b_value=optional_float(ds, "DiffusionBValue"),
        gradient=read_floats(ds, "DiffusionGradientOrientation", 3)[0],
        asl_context=str(ds.get("ASLContext", "") or "").strip().upper(),
        **read_time_values(ds),
    )


def read_time_values(ds) -> dict:
    """A classic image's values that tell its time point (the fields of Acquisition they fill): all
    that differs between the files of a time series (reader.ImageReader reads only these again)."""
    return {
        "temporal_position": optional_int(ds, "TemporalPositionIdentifier"),
        "acquisition_number": optional_int(ds, "AcquisitionNumber"),
        "trigger_time_ms": optional_float(ds, "TriggerTime"),
        "frame_reference_time_ms": optional_float(ds, "FrameReferenceTime"),
        "acquisition_time_s": seconds_of_day(ds.get("AcquisitionTime")),
    }


def seconds_of_day(value) -> float | None:
    """A DICOM time (HHMMSS.FFFFFF, or HH:MM:SS in old files) as seconds after midnight; None when not one."""
    text = str(value or "").strip().replace(":", "")
    try:
        whole, _, fraction = text.partition(".")
        if not whole.isdigit() or len(whole) not in (2, 4, 6):
            return None
        hours, minutes, seconds = int(whole[:2]), int(whole[2:4] or 0), int(whole[4:6] or 0)
        return hours * 3600 + minutes * 60 + seconds + (float(f"0.{fraction}") if fraction else 0.0)
    except ValueError:
        return None


def dimension_pointers(ds) -> list[tuple[int, str]]:
    """Each dimension of an enhanced image's Dimension Index Sequence: the element it indexes, and a
    name for it (its Dimension Description Label, else the element's keyword)."""
    pointers = []
    for item in ds.get("DimensionIndexSequence") or []:
        pointer = item.get("DimensionIndexPointer")
        tag = int(pointer) if pointer is not None else 0
        label = str(item.get("DimensionDescriptionLabel", "") or "").strip()
        pointers.append((tag, label or keyword_for_tag(tag) or f"({tag >> 16:04X},{tag & 0xFFFF:04X})"))
    return pointers


def read_frame_acquisition(ds, groups: list, pointers: list[tuple[int, str]]) -> Acquisition:
    """An enhanced image's frame: `groups` are its per-frame functional groups, then the shared ones;
    `pointers` the file's dimensions (dimension_pointers)."""
    frame_type = functional_item(groups, "MRImageFrameTypeSequence") or functional_item(groups, "CTImageFrameTypeSequence")
    kind: tuple[str, ...] = ()
    if frame_type is not None:
        kind = image_kind([*read_strings(frame_type, "FrameType")[2:], str(frame_type.get("ComplexImageComponent", "") or "")])
    if not kind:
        kind = image_kind(read_strings(ds, "ImageType")[2:])
    echo = functional_item(groups, "MREchoSequence")
    diffusion = functional_item(groups, "MRDiffusionSequence")
    direction = first_item(diffusion, "DiffusionGradientDirectionSequence") if diffusion is not None else None
    content = functional_item(groups, "FrameContentSequence")
    cardiac = functional_item(groups, "CardiacSynchronizationSequence")
    asl = functional_item(groups, "MRArterialSpinLabelingSequence")
    index_values = [int(v) for v in read_floats(content, "DimensionIndexValues")[0] or ()]
    temporal = optional_int(content, "TemporalPositionIndex") if content is not None else None
    others = []
    for (tag, name), value in zip(pointers, index_values):
        if tag in TEMPORAL_DIMENSIONS:
            temporal = value
        elif tag not in SPATIAL_DIMENSIONS and tag not in READ_DIMENSIONS:
            others.append((name, value))
    return Acquisition(
        image_type=kind,
        echo_time_ms=optional_float(echo, "EffectiveEchoTime") if echo is not None else None,
        b_value=optional_float(diffusion, "DiffusionBValue") if diffusion is not None else None,
        gradient=read_floats(direction, "DiffusionGradientOrientation", 3)[0] if direction is not None else None,
        asl_context=str((asl or ds).get("ASLContext", "") or "").strip().upper(),
        dimensions=tuple(others),
        dimension_order=tuple(index_values),
        temporal_position=temporal,
        acquisition_number=optional_int(ds, "AcquisitionNumber"),
        trigger_time_ms=optional_float(cardiac, "NominalCardiacTriggerDelayTime") if cardiac is not None else None,
    )


def functional_item(groups: list, sequence: str):
    """The first item of `sequence` in the frame's own groups, else in the shared ones."""
    for group in groups:
        found = first_item(group, sequence)
        if found is not None:
            return found
    return None
