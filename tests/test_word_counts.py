"""Counting pixel words: both ways give np.unique's answer, and the way is chosen by measuring it."""
import numpy as np
import pytest

from volumes.imaging import word_counts
from volumes.imaging.word_counts import (
    BINCOUNT,
    SORTING,
    choose_word_counting,
    count_words_by_bincount,
    count_words_by_sorting,
    forced_word_counting,
    measure_word_counting,
    synthetic_ct_words,
)


def pixel_word_samples() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(4)
    ct_like = np.clip(rng.normal(1024, 300, 512 * 512), 0, 4095).astype(np.uint16)
    ct_like[:60_000] = 0  # padding outside the reconstruction circle: one long run
    return {
        "ct-like": ct_like,
        "synthetic CT frame of the measurement": synthetic_ct_words(),
        "every 16-bit word": rng.integers(0, 1 << 16, 300_000, dtype=np.uint16),
        "both ends only": np.array([65535, 0, 65535, 0, 0], dtype=np.uint16),
        "one value": np.full(1000, 7, dtype=np.uint16),
        "one pixel": np.array([42], dtype=np.uint16),
        "8-bit": rng.integers(0, 256, 10_000, dtype=np.uint8),
    }


@pytest.mark.parametrize("name", pixel_word_samples())
@pytest.mark.parametrize("count", [count_words_by_bincount, count_words_by_sorting,
                                   forced_word_counting(BINCOUNT).count, forced_word_counting(SORTING).count])
def test_every_way_of_counting_words_gives_what_np_unique_gives(name, count):
    words = pixel_word_samples()[name]
    expected_words, expected_counts = np.unique(words, return_counts=True)
    present, counts = count(words.copy())
    assert present.tolist() == expected_words.tolist() and counts.tolist() == expected_counts.tolist()


def test_counting_read_only_words_by_sorting_leaves_them_as_they_were():
    words = pixel_word_samples()["ct-like"]
    before = words.copy()
    words.setflags(write=False)
    present, counts = count_words_by_sorting(words)
    assert (words == before).all() and counts.sum() == words.size and present.tolist() == np.unique(before).tolist()


def test_the_measured_choice_follows_its_own_figures():
    counting = measure_word_counting(rounds=2)
    assert counting.bincount_ms > 0 and counting.sorting_ms > 0
    sorting_wins = counting.sorting_ms * word_counts.SORTING_MARGIN <= counting.bincount_ms
    assert counting.method == (SORTING if sorting_wins else BINCOUNT)
    assert f"sorting {counting.sorting_ms:.2f} ms, bincount {counting.bincount_ms:.2f} ms" in counting.reason


@pytest.mark.parametrize("sorting_ms, method", [(0.2, SORTING), (0.29, SORTING), (0.3, BINCOUNT), (6.0, BINCOUNT)])
def test_sorting_is_chosen_only_when_it_measures_the_margin_faster(sorting_ms, method):
    counting = choose_word_counting(bincount_s=0.35e-3, sorting_s=sorting_ms * 1e-3)
    assert counting.method == method and "sorting" in counting.reason and "bincount 0.35 ms" in counting.reason


def test_the_synthetic_frame_looks_like_a_ct_slice():
    words = synthetic_ct_words()
    assert words.dtype == np.uint16 and words.size == 512 * 512 and words.max() < 4096
    assert 300 < len(np.unique(words)) < 4096
    air, tissue = np.count_nonzero(words < 200), np.count_nonzero((words > 900) & (words < 1200))
    assert air > 50_000 and tissue > 50_000


def test_an_unknown_way_of_counting_is_refused():
    with pytest.raises(ValueError, match="no way of counting words called 'radix'"):
        forced_word_counting("radix")
