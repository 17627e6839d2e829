"""The cyclic collector is paused inside the block and left as it was found after it."""
import gc

import pytest

from volumes.imaging.collector import collector_paused


def test_the_collector_is_paused_inside_and_enabled_again_after_even_on_an_error():
    assert gc.isenabled()
    with pytest.raises(ValueError):
        with collector_paused():
            assert not gc.isenabled()
            with collector_paused():  # nested: the inner pause leaves the enabling to the outer
                pass
            assert not gc.isenabled()
            raise ValueError("inside")
    assert gc.isenabled()


def test_a_collector_disabled_before_stays_disabled():
    gc.disable()
    try:
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()
