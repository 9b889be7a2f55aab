"""Portfolio stress tests over a scenario set, beside history and baselines.

- :mod:`~ganjobs.stress.measures`: VaR, ES and the P&L summary of one P&L vector;
- :mod:`~ganjobs.stress.accumulator`: streaming P&L, worst scenarios, reverse stress;
- :mod:`~ganjobs.stress.sources`: the scenario set, real history and baseline sources;
- :mod:`~ganjobs.stress.command`: ``ganjobs stress`` (validate, compute, publish);
- :mod:`~ganjobs.stress.report`: the ``stress.png`` figure.
"""
