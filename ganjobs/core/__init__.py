"""Concepts every part of ganjobs shares, each defined once: risk measures, windows, the
training/holdout split, seeds and the code version."""
