"""What each frame of a series is: its contrast (image type, echo, diffusion, ASL, enhanced dimensions)
and its time point, and how a stack of one geometry is split by them.

A series often holds several volumes at the same positions: the echoes of a multi-echo scan, the
magnitude and phase images, the b-values and gradient directions of a diffusion scan, ASL label and
control, the repeats of an fMRI, DCE or cardiac cine scan. Each contrast is measured on its own, with
a label a person understands (`echo 2 (TE 7.4 ms)`, `b=1000, direction 3`, `field map`); the repeats
of one contrast over time stay one measurement with a volume per time point. Nothing here looks at
file names or at the order of files or frames: frames that no header value tells apart stay together,
and the stack refuses them (geometry.build_stack).

Pure: header values in, groups out. No pixel data, no Django.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

DUPLICATE_TOLERANCE = 1e-4
"""Two frames closer along the normal than this fraction of the median gap lie at the same position."""

GRADIENT_DECIMALS = 3
"""Diffusion gradient directions equal to this many decimals are the same direction."""

ECHO_TIME_DECIMALS = 3
"""Echo times (ms) equal to this many decimals are the same echo."""

IMAGE_TYPE_NAMES = {  # the values Siemens, GE, Philips and the enhanced objects write
    "M": "magnitude", "MAGNITUDE": "magnitude", "P": "phase", "PHASE": "phase", "R": "real", "REAL": "real",
    "I": "imaginary", "IMAGINARY": "imaginary", "FIELD_MAP": "field map", "B0_MAP": "field map",
    "FM": "field map", "B0": "field map", "ADC": "ADC", "TRACEW": "trace-weighted", "FA": "FA", "T1_MAP": "T1 map",
    "T2_MAP": "T2 map", "T2_STAR_MAP": "T2* map", "PROTON_DENSITY_MAP": "proton density map",
}
"""Image Type (or Frame Type, Complex Image Component) values that name what an image shows. Only these
split a series: other values (ORIGINAL, PRIMARY, AXIAL, NORM, a vendor's own) say how it was made."""

COMPONENT_NAMES = frozenset(("magnitude", "phase", "real", "imaginary"))
"""Names of a complex image's component: a map (field map, ADC…) is named as the map, not by them."""

MAX_LABEL = 190
"""Longest label (a file indexing many dimensions): room for a number when two read the same."""

ASL_NAMES = {"LABEL": "label", "CONTROL": "control", "M_ZERO_SCAN": "M0"}


@dataclass(frozen=True)
class Acquisition:
    """The header values of one frame that tell contrasts and time points apart (None: not given).

    `dimensions` holds an enhanced file's dimension index values that are neither spatial nor temporal
    nor one of the values above, as (what the dimension indexes, value); `dimension_order` all of the
    frame's dimension index values, which order frames within a file the way the scanner indexed them.
    """

    image_type: tuple[str, ...] = ()  # what the image shows, as IMAGE_TYPE_NAMES names it
    echo_number: int | None = None
    echo_time_ms: float | None = None
    b_value: float | None = None
    gradient: tuple[float, float, float] | None = None
    asl_context: str = ""
    dimensions: tuple[tuple[str, int], ...] = ()
    dimension_order: tuple[int, ...] = ()
    temporal_position: int | None = None
    acquisition_number: int | None = None
    trigger_time_ms: float | None = None
    frame_reference_time_ms: float | None = None  # PET: the start of the frame (dynamic PET)
    acquisition_time_s: float | None = None  # Acquisition Time, seconds after midnight

    def contrast_key(self) -> tuple:
        gradient = None if self.gradient is None else tuple(round(v, GRADIENT_DECIMALS) + 0.0 for v in self.gradient)
        echo_time = None if self.echo_time_ms is None else round(self.echo_time_ms, ECHO_TIME_DECIMALS)
        return (
            self.image_type, self.echo_number, echo_time, self.b_value, gradient, self.asl_context, self.dimensions,
        )


NO_ACQUISITION = Acquisition()


@dataclass(frozen=True)
class FrameItem:
    """One frame as the grouping sees it: where it comes from (image index, frame position in the
    image), what it is, where it lies along the slice normal (None: unknown), and its Instance Number."""

    image: int
    frame: int
    acquisition: Acquisition
    along_mm: float | None
    instance_number: int | None = None


@dataclass(frozen=True)
class TimePoint:
    """The frames of one contrast acquired at one time: `index` counts from 1 in acquisition order."""

    index: int
    frames: tuple[tuple[int, int], ...]  # (image index, frame position), as in FrameItem
    temporal_position: int | None = None
    acquisition_number: int | None = None
    trigger_time_ms: float | None = None
    frame_reference_time_ms: float | None = None

    def as_dict(self) -> dict:
        found = {
            "temporal_position": self.temporal_position,
            "acquisition_number": self.acquisition_number,
            "trigger_time_ms": self.trigger_time_ms,
            "frame_reference_time_ms": self.frame_reference_time_ms,
        }
        return {"index": self.index, **{key: value for key, value in found.items() if value is not None}}


@dataclass(frozen=True)
class Contrast:
    """One contrast of a stack: its label ('' when the stack holds only one) and its time points."""

    label: str
    time_points: tuple[TimePoint, ...]


# --- contrasts --------------------------------------------------------------------------------


def split_contrasts(items: Sequence[FrameItem]) -> list[Contrast]:
    """Split the frames of one stack (same orientation, size and spacing) into contrasts, and each
    contrast into its time points. Contrasts come in a stable order: by image type, echo, b-value,
    direction, ASL context; never by the order of the files."""
    by_key: dict[tuple, list[FrameItem]] = defaultdict(list)
    for item in items:
        by_key[item.acquisition.contrast_key()].append(item)
    keys = sorted(by_key, key=sortable)
    labels = contrast_labels(keys, by_key)
    return [Contrast(label=labels[key], time_points=split_time_points(by_key[key])) for key in keys]


def contrast_labels(keys: list[tuple], by_key: dict[tuple, list[FrameItem]]) -> dict[tuple, str]:
    """A label per contrast naming only what differs between the stack's contrasts."""
    if len(keys) == 1:
        return {keys[0]: ""}
    firsts = {key: by_key[key][0].acquisition for key in keys}
    varies = {
        name: len({getter(firsts[key]) for key in keys}) > 1
        for name, getter in (
            ("image_type", lambda a: a.image_type),
            ("echo", lambda a: (a.echo_number, None if a.echo_time_ms is None else round(a.echo_time_ms, ECHO_TIME_DECIMALS))),
            ("diffusion", lambda a: (a.b_value, a.gradient)),
            ("asl", lambda a: a.asl_context),
            ("dimensions", lambda a: a.dimensions),
        )
    }
    directions = direction_numbers(keys, by_key)
    echoes = echo_numbers(keys, firsts)
    labels = {}
    for key in keys:
        acquisition = firsts[key]
        parts = []
        if varies["image_type"]:
            parts.append(image_type_label(acquisition.image_type))
        if varies["echo"]:
            parts.append(echo_label(echoes[key], acquisition.echo_time_ms))
        if varies["diffusion"]:
            parts.append(diffusion_label(acquisition, directions.get(key)))
        if varies["asl"]:
            parts.append(ASL_NAMES.get(acquisition.asl_context, acquisition.asl_context.lower() or "no ASL context"))
        if varies["dimensions"]:
            parts.extend(f"{name} {value}" for name, value in acquisition.dimensions)
        label = ", ".join(part for part in parts if part) or "contrast"
        labels[key] = label if len(label) <= MAX_LABEL else label[: MAX_LABEL - 6] + "…"
    return deduplicated(labels, keys)


def deduplicated(labels: dict[tuple, str], keys: list[tuple]) -> dict[tuple, str]:
    """Labels that happen to read the same (rounding) get a number each."""
    counts: dict[str, int] = defaultdict(int)
    for key in keys:
        counts[labels[key]] += 1
    seen: dict[str, int] = defaultdict(int)
    for key in keys:
        if counts[labels[key]] > 1:
            seen[labels[key]] += 1
            labels[key] = f"{labels[key]} ({seen[labels[key]]})"
    return labels


def image_type_label(image_type: tuple[str, ...]) -> str:
    return ", ".join(image_type) or "image type not named"


def echo_numbers(keys: list[tuple], firsts: dict[tuple, Acquisition]) -> dict[tuple, int | None]:
    """Echo Numbers where given; else (enhanced files) the rank of the echo time among the stack's."""
    times = sorted({round(a.echo_time_ms, ECHO_TIME_DECIMALS) for a in firsts.values() if a.echo_time_ms is not None})
    numbers = {}
    for key in keys:
        acquisition = firsts[key]
        if acquisition.echo_number is not None:
            numbers[key] = acquisition.echo_number
        elif acquisition.echo_time_ms is not None:
            numbers[key] = times.index(round(acquisition.echo_time_ms, ECHO_TIME_DECIMALS)) + 1
        else:
            numbers[key] = None
    return numbers


def echo_label(number: int | None, echo_time_ms: float | None) -> str:
    time = f"TE {echo_time_ms:g} ms" if echo_time_ms is not None else ""
    if number is None:
        return time or "no echo time"
    return f"echo {number} ({time})" if time else f"echo {number}"


def direction_numbers(keys: list[tuple], by_key: dict[tuple, list[FrameItem]]) -> dict[tuple, int]:
    """Number the gradient directions of each b-value from 1, in acquisition order: by Acquisition
    Number, then Instance Number, then the enhanced dimension index values, then the direction itself."""
    by_b: dict[float | None, list[tuple]] = defaultdict(list)
    for key in keys:
        if not is_isotropic(by_key[key][0].acquisition.gradient):
            by_b[by_key[key][0].acquisition.b_value].append(key)

    def acquired(key: tuple) -> tuple:
        items = by_key[key]
        return (
            min(sortable(i.acquisition.acquisition_number) for i in items),
            min(sortable(i.instance_number) for i in items),
            min(i.acquisition.dimension_order for i in items),
            key[4],
        )

    numbers = {}
    for members in by_b.values():
        for number, key in enumerate(sorted(members, key=acquired), start=1):
            numbers[key] = number
    return numbers


def diffusion_label(acquisition: Acquisition, direction: int | None) -> str:
    if acquisition.b_value is None:
        return "no b-value"
    text = f"b={acquisition.b_value:g}"
    if acquisition.b_value > 0 and acquisition.gradient is not None and is_isotropic(acquisition.gradient):
        text += ", isotropic"  # Philips' trace image: b > 0 with a zero direction
    elif acquisition.b_value > 0 and direction is not None:
        text += f", direction {direction}"
    return text


def is_isotropic(gradient: tuple[float, float, float] | None) -> bool:
    """No direction: none given, or the zero vector (a trace image)."""
    return gradient is None or all(abs(v) < 10**-GRADIENT_DECIMALS for v in gradient)


# --- time points ------------------------------------------------------------------------------

TIME_KEYS = (
    ("temporal_position", False),
    ("acquisition_number", False),
    ("trigger_time_ms", True),
    ("frame_reference_time_ms", False),
    ("acquisition_time_s", True),
)
"""What tells the repeats of a position apart in time, in order of preference, and whether the time
point is the value's rank among the frames at one position rather than the value itself. Trigger Time
is ranked: in a cine acquired slice by slice, the same cardiac phase has a slightly different trigger
time at each slice (and in an fMRI it gives each slice's timing, which Acquisition Number groups first).
Acquisition Time, the last resort, is ranked too: each slice of a 2D acquisition has its own."""


def split_time_points(items: list[FrameItem]) -> tuple[TimePoint, ...]:
    """One contrast's frames by time point, in acquisition order.

    Only frames that share positions are split in time (a CT acquired in two parts that do not overlap
    stays one volume). The first key of TIME_KEYS whose time points each hold a position once is used;
    when none does, the one that leaves the fewest positions held twice (the first of them in TIME_KEYS),
    and the stack refuses those positions, naming their images; when none varies, one time point
    (refused likewise).
    """
    clusters = position_clusters(items)
    if all(len(cluster) == 1 for cluster in clusters):
        return (time_point(1, items),)
    cluster_of = {id(item): number for number, cluster in enumerate(clusters) for item in cluster}
    fallback, fewest = None, None
    for name, ranked in TIME_KEYS:
        groups = time_groups(clusters, name, ranked)
        if groups is None:
            continue
        held_twice = sum(len(group) - len({cluster_of[id(item)] for item in group}) for group in groups)
        if held_twice == 0:
            return tuple(time_point(number, group) for number, group in enumerate(groups, start=1))
        if fewest is None or held_twice < fewest:
            fallback, fewest = groups, held_twice
    if fallback:
        return tuple(time_point(number, group) for number, group in enumerate(fallback, start=1))
    return (time_point(1, items),)


def time_groups(clusters: list[list[FrameItem]], name: str, ranked: bool) -> list[list[FrameItem]] | None:
    """The frames grouped by the header value `name` (or its rank at each position, ranks_at_positions),
    in the value's order; None when a frame lacks it, it does not vary, or its ranks cannot be told."""
    items = [item for cluster in clusters for item in cluster]
    values = [getattr(item.acquisition, name) for item in items]
    if None in values or len(set(values)) < 2:
        return None
    groups: dict = defaultdict(list)
    if ranked:
        ranks = ranks_at_positions(clusters, name)
        if ranks is None:
            return None
        for cluster, rank_of in zip(clusters, ranks):
            for item in cluster:
                groups[rank_of[getattr(item.acquisition, name)]].append(item)
    else:
        for item, value in zip(items, values):
            groups[value].append(item)
    return [groups[key] for key in sorted(groups)]


def ranks_at_positions(clusters: list[list[FrameItem]], name: str) -> list[dict] | None:
    """For each position, the time point (from 0) of each value `name` takes there: the value's rank
    among the position's values where it holds as many as the most any holds. A position holding
    fewer (an image missing) has each value placed at the time point whose value, over the positions
    that hold them all, is nearest (their median), so that a missing phase does not shift the later
    ones. Frames at one position with the same value share a time point (the stack refuses them).
    None when a position's values fall nearer the same time point, or out of their order."""
    distinct = [sorted({getattr(item.acquisition, name) for item in cluster}) for cluster in clusters]
    most = max(len(values) for values in distinct)
    full = [values for values in distinct if len(values) == most]
    typical = [sorted(values[rank] for values in full)[len(full) // 2] for rank in range(most)]
    ranks = []
    for values in distinct:
        if len(values) == most:
            ranks.append({value: rank for rank, value in enumerate(values)})
            continue
        placed = [min(range(most), key=lambda rank: (abs(value - typical[rank]), rank)) for value in values]
        if any(a >= b for a, b in zip(placed, placed[1:])):
            return None
        ranks.append(dict(zip(values, placed)))
    return ranks


def time_point(index: int, items: list[FrameItem]) -> TimePoint:
    def common(name: str):
        values = {getattr(item.acquisition, name) for item in items}
        return values.pop() if len(values) == 1 else None

    # A cine's phase may trigger a little later at one slice than at another: their mean.
    trigger_times = [item.acquisition.trigger_time_ms for item in items]
    trigger_time = None
    if None not in trigger_times:
        trigger_time = round(sum(trigger_times) / len(trigger_times), 3)
    return TimePoint(
        index=index,
        frames=tuple((item.image, item.frame) for item in items),
        temporal_position=common("temporal_position"),
        acquisition_number=common("acquisition_number"),
        trigger_time_ms=trigger_time,
        frame_reference_time_ms=common("frame_reference_time_ms"),
    )


def position_clusters(items: list[FrameItem]) -> list[list[FrameItem]]:
    """The frames grouped by position along the normal: positions within DUPLICATE_TOLERANCE of the
    median gap of the first of a group are one. Frames of unknown position are each a group of their own."""
    placed = sorted((item for item in items if item.along_mm is not None), key=lambda item: item.along_mm)
    unplaced = [[item] for item in items if item.along_mm is None]
    if not placed:
        return unplaced
    gaps = [b.along_mm - a.along_mm for a, b in zip(placed, placed[1:])]
    positive = sorted(gap for gap in gaps if gap > 0)
    tolerance = DUPLICATE_TOLERANCE * positive[len(positive) // 2] if positive else 0.0
    clusters = [[placed[0]]]
    for item in placed[1:]:
        if item.along_mm - clusters[-1][0].along_mm <= tolerance:
            clusters[-1].append(item)
        else:
            clusters.append([item])
    return clusters + unplaced


def sortable(value) -> tuple:
    """A sort key for header values that may be None (last) or mixed tuples of them."""
    if value is None:
        return (1,)
    if isinstance(value, tuple):
        return (0, tuple(sortable(v) for v in value))
    return (0, value)
