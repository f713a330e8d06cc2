"""Keras comes in through `hpsearch.train.keras_import`: what it loaded is frozen out of the garbage
collector's passes, and the collector is on for everything made after it."""

from __future__ import annotations

import gc
import importlib


def test_keras_import_freezes_what_it_loaded_and_leaves_the_collector_on() -> None:
    importlib.import_module("hpsearch.train.objective")  # what a worker imports to train
    assert gc.isenabled()
    assert gc.get_freeze_count() > 100_000, gc.get_freeze_count()  # a backend's modules: about 400,000 objects

    class Node:
        partner: object = None

    first, second = Node(), Node()
    first.partner, second.partner = second, first  # a cycle made after the import, as a trial makes them
    del first, second
    assert gc.collect() >= 2
