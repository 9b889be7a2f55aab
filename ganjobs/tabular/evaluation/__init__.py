"""Evaluation of a synthetic table against the real one: fidelity, utility and privacy.

One module per concept: the numeric encoding shared by classifiers and distances
(:mod:`.encode`), the baseline generators (:mod:`.baselines`), the three metric families
(:mod:`.fidelity`, :mod:`.utility`, :mod:`.privacy`), the quality bars (:mod:`.bars`), all of
them over several synthetic tables (:mod:`.frames`), the HTML report (:mod:`.report`) and the
``evaluate-table`` command (:mod:`.command`). The metrics are defined in
``docs/table-evaluation.md``.
"""
