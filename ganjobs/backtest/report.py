"""The backtest's HTML page: how each model's VaR and ES forecasts fared against history.

One self-contained page for a risk manager: what was tested and how to read it, the result
at a glance, a results table per target and horizon, the realized returns against every
model's 99% VaR, the Basel traffic-light zones over time, and where the data came from.
Every string from the forecasts or the summary goes through :func:`html.escape` (names and
URLs come from users); nothing time-dependent is generated here, so the same inputs give
the same bytes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from ganjobs.backtest import figures
from ganjobs.backtest.tables import (
    NULL,
    SIGNIFICANCE,
    fmt_value,
    num,
    results_table,
    rows_by_key,
    worst_zone,
    zones_table,
)
from ganjobs.evaluate.report import CSS as _BASE_CSS
from ganjobs.evaluate.report import _e

CSS = _BASE_CSS + """
td.pass{background:#dcf2dc}td.fail{background:#f7d0d0}
td.best{background:#d3e4fa;font-weight:bold}
td.zone-green{background:#7cc47c}td.zone-yellow{background:#f2d05e}
td.zone-red{background:#e06666;color:#fff}td.zone-none{background:#e4e4e4}
td.partial{opacity:.55;border-style:dashed}
table.zones td{text-align:center;min-width:2.2em;padding:3px 4px}
table.zones th{font-size:.8em;font-weight:normal}
th.group{text-align:center}
.ref{color:#666;font-weight:normal}
"""

HOW_TO_READ = (
    ("Exception", "a day whose realized loss was larger than the model's VaR forecast for "
                  "it. A 99% VaR should be exceeded on about 1% of days, a 97.5% VaR on "
                  "about 2.5%."),
    ("Kupiec p", "does the model have the right number of exceptions? A p-value below 0.05 "
                 "(red) says the count is too far from the expected one, too many or too "
                 "few."),
    ("CC p (Christoffersen)", "are the exceptions the right number and not clustered in "
                              "time? A VaR that adapts too slowly to a crisis fails here "
                              "even with the right total."),
    ("Worst zone (traffic light)", "the Basel zone of each block of 250 days for the 99% "
                                   "1-day VaR: green 0–4 exceptions, yellow 5–9, red 10 or "
                                   "more. The worst block is shown, with how many blocks "
                                   "were in that zone."),
    ("Tick and FZ0 losses", "scores of the whole forecast history, lower is better (the "
                            "best per column is highlighted in blue). The tick loss scores "
                            "the VaR; the FZ0 loss scores VaR and ES together."),
    ("DM p", "Diebold–Mariano test of whether the loss differs from the reference model's "
             "by more than chance. Below 0.05 the difference is significant, marked "
             "'better' (green) or 'worse' (red)."),
    ("ES test p", "Acerbi–Szekely test of the 97.5% expected shortfall: below 0.05 (red) "
                  "the losses beyond the VaR were larger than the ES forecast allows."),
)


def _ordered(declared: Any, seen: Sequence[Any]) -> list:
    """The declared order, then anything seen in the data but not declared."""
    first = list(declared or [])
    return first + [x for x in dict.fromkeys(seen) if x not in first]


def _horizons_text(horizons: Sequence[int]) -> str:
    if not horizons:
        return NULL
    days = [str(h) for h in horizons]
    return (" and ".join([", ".join(days[:-1]), days[-1]]) if len(days) > 1 else days[0]) + (
        " trading day" + ("" if days == ["1"] else "s"))


def _intro(summary: Mapping[str, Any], n_dates: int, models: Sequence[str],
           targets: Sequence[str], horizons: Sequence[int], reference: str) -> list[str]:
    refit = num(summary.get("refit_every"))
    cadence = (f"refitted every {int(refit)} trading days" if refit is not None
               else "no periodic refit")
    return [
        "<p>This page checks how well each model's Value-at-Risk (VaR) and Expected "
        "Shortfall (ES) forecasts would have held up in the past. On every day of the period "
        "each model forecast the 99% and 97.5% VaR and the 97.5% ES of the return over the "
        f"next {_e(_horizons_text(horizons))}, using only the data up to that day; the "
        "forecasts are then compared with the returns that followed.</p>",
        f"<p class=\"sub\">Forecasts made on {_e(n_dates)} trading days from "
        f"<b>{_e(fmt_value(summary.get('start')))}</b> to "
        f"<b>{_e(fmt_value(summary.get('end')))}</b>; {_e(cadence)}; each forecast from "
        f"{_e(fmt_value(summary.get('n_paths')))} scenario paths.</p>",
        "<ul><li>Models: " + ", ".join(
            f"<b>{_e(m)}</b>" + (" (the reference)" if m == reference else "")
            for m in models) + "</li>"
        f"<li>Targets: {_e(', '.join(targets) or NULL)}</li>"
        f"<li>Horizons: {_e(', '.join(f'{h}-day' for h in horizons) or NULL)}</li></ul>",
        "<h2>How to read this</h2><p>Coloured cells are pass (green) or fail (red) at the "
        "5% significance level. Hover over a column header or a cell for details.</p>"
        "<dl class=\"defs\">" + "".join(f"<dt>{_e(a)}</dt><dd>{_e(b)}</dd>"
                                         for a, b in HOW_TO_READ) + "</dl>",
    ]


def _failures(rows: Sequence[Mapping[str, Any]]) -> list[str] | None:
    """Names of the tests a model failed at 5% over its rows; None when none was run."""
    failed, ran = [], False
    for row in rows:
        level = f"{100 * (num(row.get('level')) or 0):g}%"
        es = row.get("es_test") if isinstance(row.get("es_test"), Mapping) else {}
        for name, p in (("Kupiec", row.get("kupiec_p")), ("CC", row.get("cc_p")),
                        ("ES test", es.get("p"))):
            if num(p) is not None:
                ran = True
                if num(p) < SIGNIFICANCE:
                    failed.append(f"{name} {level}")
        if worst_zone(row.get("zones"))[0] == "red":
            failed.append(f"red zone {level}")
    return failed if ran else None


def _is_99(row: Mapping[str, Any]) -> bool:
    level = num(row.get("level"))
    return level is not None and round(level, 6) == 0.99


def _glance(by_key: Mapping[tuple, Mapping[str, Any]], models: Sequence[str],
            targets: Sequence[str], horizons: Sequence[int]) -> str:
    """Per target and horizon: which models passed every test, which had the lowest losses."""
    items = []
    for t in targets:
        for h in horizons:
            rows = {m: [r for k, r in by_key.items() if k[:3] == (m, t, h)] for m in models}
            rows = {m: r for m, r in rows.items() if r}
            if not rows:
                continue
            verdicts = {m: _failures(r) for m, r in rows.items()}
            passed = [m for m, f in verdicts.items() if f == []]
            best = []
            for key, label in (("tick_loss", "99% tick loss"), ("fz0_loss", "FZ0 loss")):
                vals = {m: num(r.get(key)) for m, rs in rows.items() for r in rs
                        if key in r and (key != "tick_loss" or _is_99(r))}
                vals = {m: v for m, v in vals.items() if v is not None}
                if vals:
                    best.append(f"lowest {label}: <b>{_e(min(vals, key=vals.get))}</b>")
            failed = [f"{_e(m)} ({_e(', '.join(f))})" for m, f in verdicts.items() if f]
            items.append(
                f"<li><b>{_e(t)}</b>, {_e(h)}-day: passed every test: "
                + (", ".join(f"<b>{_e(m)}</b>" for m in passed) or "none")
                + ("; " + "; ".join(best) if best else "") + "."
                + (f"<br><span class=\"sub\">Failed: {'; '.join(failed)}.</span>"
                   if failed else "") + "</li>")
    if not items:
        return ""
    return ("<h2>At a glance</h2><p class=\"sub\">Passed = Kupiec, Christoffersen (CC) and ES "
            "test p ≥ 0.05 at both levels and no red traffic-light block.</p><ul>"
            + "".join(items) + "</ul>")


def _flat(prefix: str, value: Any) -> list[tuple[str, Any]]:
    """Nested dicts as (dotted key, leaf) pairs, in their own order."""
    if isinstance(value, Mapping) and value:
        out = []
        for k, v in value.items():
            out += _flat(f"{prefix}.{k}" if prefix else str(k), v)
        return out
    return [(prefix, value)]


def _provenance(summary: Mapping[str, Any]) -> str:
    parts = ["<h2>Data and provenance</h2>"]
    for title, key in (("Data", "data"), ("Timing", "timing")):
        section = summary.get(key)
        if isinstance(section, Mapping) and section:
            parts.append(f"<h3>{_e(title)}</h3><table class=\"metrics\"><tbody>" + "".join(
                f"<tr><th>{_e(k)}</th><td>{_e(fmt_value(v))}</td></tr>"
                for k, v in _flat("", section)) + "</tbody></table>")
    ident = [("format", summary.get("format")), ("seed", summary.get("seed")),
             ("reference model", summary.get("reference_model"))]
    parts.append("<p class=\"sub\">" + " · ".join(
        f"{_e(k)} {_e(fmt_value(v))}" for k, v in ident) + "</p>")
    return "\n".join(parts)


def _horizon_note(by_key: Mapping[tuple, Mapping[str, Any]], target: str,
                  horizon: int) -> str:
    samples = {r.get("coverage_sample") for k, r in by_key.items()
               if k[1] == target and k[2] == horizon}
    if "non-overlapping" not in samples:
        return ""
    return (f"<p class=\"sub\">Kupiec and Christoffersen tests at this horizon use "
            f"non-overlapping {_e(horizon)}-day windows: overlapping windows share days, so "
            "their exceptions would cluster by construction. The exceptions column counts "
            "every forecast; hover over it for the counts the tests used.</p>")


def _figures(frame: pd.DataFrame, targets: Sequence[str], horizons: Sequence[int],
             models: Sequence[str]) -> list[str]:
    """The VaR figure of every target, at the 1-day horizon (else the shortest one)."""
    if not horizons:
        return []
    h = 1 if 1 in horizons else horizons[0]
    parts = [f"<h2>Where each model failed: {_e(h)}-day 99% VaR</h2>"]
    for target in targets:
        sel = frame[(frame["target"] == target) & (frame["horizon"] == h)]
        if len(sel):
            parts.append(f"<h3>{_e(target)}</h3>"
                         + figures.var_exceptions(target, h, sel, models))
    return parts if len(parts) > 1 else []


def _zones(by_key: Mapping[tuple, Mapping[str, Any]], targets: Sequence[str],
           models: Sequence[str]) -> list[str]:
    tables = [(t, zones_table(by_key, t, models)) for t in targets]
    tables = [(t, z) for t, z in tables if z]
    if not tables:
        return []
    return (["<h2>Traffic-light zones over time: 1-day 99% VaR</h2><p class=\"sub\">Each "
             "block is 250 trading days, labelled by the month it starts; the number is its "
             "exceptions (green 0–4, yellow 5–9, red 10 or more). A faded, dashed block is "
             "shorter than 250 days.</p>"]
            + [f"<h3>{_e(t)}</h3>{z}" for t, z in tables])


def render_backtest_report(forecasts: pd.DataFrame, summary: Mapping[str, Any]) -> str:
    """The HTML page of a backtest: results tables, VaR figures, zones, provenance.

    Parameters
    ----------
    forecasts : DataFrame
        One row per (model, target, horizon, date): ``date`` (forecast origin), ``target``,
        ``horizon``, ``model``, ``var_99``, ``var_975``, ``es_975`` (positive losses in
        simple-return units) and ``realized`` (the realized return over the horizon, NaN
        where the data end).
    summary : mapping
        The backtest summary (``backtest.json``): period, models, targets, horizons,
        ``reference_model``, ``data``, ``timing`` and the ``results`` rows of the tests.
        Any value may be null; nulls are shown as "–".

    Returns
    -------
    str
        A complete, self-contained HTML document; the same inputs give the same bytes.
    """
    by_key = rows_by_key([r for r in summary.get("results") or [] if isinstance(r, Mapping)])
    frame = forecasts.copy()
    frame["date"] = pd.to_datetime(frame["date"])
    for col in ("model", "target"):
        frame[col] = frame[col].astype(str)
    models = [str(m) for m in _ordered(summary.get("models"),
                                       [k[0] for k in by_key] + list(frame["model"]))]
    targets = [str(t) for t in _ordered(summary.get("targets"),
                                        [k[1] for k in by_key] + list(frame["target"]))]
    horizons = sorted({int(h) for h in _ordered(summary.get("horizons"),
                                                [k[2] for k in by_key] + list(frame["horizon"]))
                       if num(h) is not None})
    reference = str(summary.get("reference_model") or "fhs")
    title = "VaR and ES backtest"

    parts = ["<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
             f"<title>{_e(title)}</title><style>{CSS}</style></head><body>",
             f"<h1>{_e(title)}</h1>"]
    parts += _intro(summary, frame["date"].nunique(), models, targets, horizons, reference)
    parts.append(_glance(by_key, models, targets, horizons))
    parts.append("<h2>Results</h2><p class=\"sub\">Diebold–Mariano (DM) tests compare with "
                 f"<b>{_e(reference)}</b>.</p>")
    for target in targets:
        for h in horizons:
            parts.append(f"<h3>{_e(target)} · {_e(h)}-day horizon</h3>"
                         + _horizon_note(by_key, target, h)
                         + results_table(by_key, target, h, models, reference))
    parts += _figures(frame, targets, horizons, models)
    parts += _zones(by_key, targets, models)
    parts.append(_provenance(summary))
    parts.append("</body></html>")
    return "\n".join(parts)
