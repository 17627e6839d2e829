"""A run of read files packed in a reading process and unpacked in the parent gives what was read."""
from __future__ import annotations

import pickle

import numpy as np

from tests.phantoms import SeriesSpec, write_series
from volumes.imaging.images import NotAnImage, StoredHistogram, copy_with
from volumes.imaging.packed_runs import pack_run, unpack_run
from volumes.imaging.reader import read_images, read_run
from volumes.imaging.sources import collect_paths


def described(outcome) -> tuple:
    """Everything an outcome holds that the measurement uses: the image (path, name and all), each
    histogram's values and counts with their types; or why the file was skipped."""
    if isinstance(outcome, NotAnImage):
        return ("skipped", str(outcome))
    histograms = None
    if outcome.histograms is not None:
        histograms = [
            (h.values.tolist(), h.values.dtype.str, h.counts.tolist(), h.counts.dtype.str) for h in outcome.histograms
        ]
    return repr(outcome), outcome.path, outcome.name, histograms


def sent(sources, outcomes):
    return unpack_run(sources, pickle.loads(pickle.dumps(pack_run(outcomes), protocol=pickle.HIGHEST_PROTOCOL)))


def test_a_packed_run_unpacks_to_the_outcomes_read(phantom_copy, tmp_path):
    write_series(tmp_path / "mr", SeriesSpec(bits_stored=12, signed=True))
    sources = collect_paths([phantom_copy, tmp_path / "mr"])
    outcomes = read_run(sources, histograms=True)
    skipped = [o for o in outcomes if isinstance(o, NotAnImage)]
    assert len(skipped) == 2 and len(outcomes) == len(sources)
    # Histograms that do not travel packed: none made, 64-bit or float values, several frames.
    images = [i for i, o in enumerate(outcomes) if not isinstance(o, NotAnImage)]
    outcomes[images[0]] = copy_with(outcomes[images[0]], histograms=None)
    wide = StoredHistogram(np.array([-3, 1 << 40]), np.array([2, 5]))
    outcomes[images[1]] = copy_with(outcomes[images[1]], histograms=(wide,))
    floats = StoredHistogram(np.array([0.5, 1.5]), np.array([1, 9]))
    outcomes[images[2]] = copy_with(outcomes[images[2]], histograms=(floats,))
    two = outcomes[images[3]].histograms * 2
    outcomes[images[3]] = copy_with(outcomes[images[3]], histograms=two)
    packed = pack_run(outcomes)
    assert packed.histograms_packed.count(0) == 2 + 3 and packed.histograms_packed[images[3]] == 2
    assert [described(o) for o in sent(sources, outcomes)] == [described(o) for o in outcomes]


def test_reading_in_two_processes_gives_the_images_and_histograms_of_one(phantom_copy):
    sources = collect_paths([phantom_copy])
    one = read_images(sources, processes=1, histograms=True)
    two = read_images(sources, processes=2, histograms=True)
    assert [described(image) for image in two.images] == [described(image) for image in one.images]
    assert len(two.images) == 54 and all(image.histograms for image in two.images)
    assert two.skipped == one.skipped
