"""Run files through the imaging pipeline as the services do: read_images (histograms made while
reading) → split_into_volumes → histogram_volume → measure_histogram. Tests use it on the series they write."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from volumes.imaging.grouping import split_into_volumes
from volumes.imaging.histograms import MeasurementError, histogram_volume
from volumes.imaging.measure import SeriesMeasurement, measure_histogram
from volumes.imaging.reader import read_images
from volumes.imaging.sources import collect_paths
from volumes.imaging.thresholds import ThresholdRequest


@dataclass(frozen=True)
class Outcome:
    """Every volume's measurement, and the files left out with their reasons (name → reason)."""

    results: list[SeriesMeasurement]
    skipped: dict[str, str]
    refused: dict[str, str] = field(default_factory=dict)  # volume description → why it was not measured

    @property
    def only(self) -> SeriesMeasurement:
        assert len(self.results) == 1, [r.description for r in self.results]
        return self.results[0]


def measure(paths, mode: str = "normalized", value: float | None = 0.5) -> Outcome:
    """Measure files and folders at one threshold; `paths` is one path or a list of them."""
    paths = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
    read = read_images(collect_paths(paths), histograms=True)
    images = read.images
    skipped = {Path(s.name).name: s.reason for s in read.skipped}
    request = ThresholdRequest(mode=mode, value=value)
    outcome = Outcome(results=[], skipped=skipped)
    for volume in split_into_volumes(images):
        try:
            outcome.results.append(measure_histogram(histogram_volume(volume), request)[0])
        except MeasurementError as error:
            outcome.refused[volume.description] = str(error)
    return outcome
