"""The backtest report's tables: test results per target and horizon, zones over time.

Plain HTML with a CSS class per verdict (pass, fail, best loss, Basel zone), so the page
stays small and every number in it is text a reader can copy. Every string from the data
goes through :func:`html.escape`; nulls and non-finite numbers show as "–".
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ganjobs.evaluate.report import _e

#: Significance level of every pass/fail colour on the page.
SIGNIFICANCE = 0.05
#: Severity order of the Basel zones (worst last).
ZONES = ("green", "yellow", "red")
NULL = "–"


# --------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------


def num(value: Any) -> float | None:
    """A finite float, or None for null, NaN and anything that is not a number."""
    if value is None or isinstance(value, bool):
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if np.isfinite(v) else None


def _fmt_p(value: Any) -> str:
    v = num(value)
    if v is None:
        return NULL
    return "<0.001" if v < 0.001 else f"{v:.3f}"


def _fmt_loss(value: Any) -> str:
    # Four significant digits: tick losses are ~1e-4, FZ0 losses are ~-3; both compare
    # down a column.
    v = num(value)
    return NULL if v is None else f"{v:.4g}"


def fmt_value(value: Any) -> str:
    """Any summary value as plain text: numbers tidied, lists joined, objects as JSON."""
    if value is None:
        return NULL
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        # Four significant digits, but no exponent for large counts or durations.
        return f"{value:.0f}" if abs(value) >= 1e4 else _fmt_loss(value)
    if isinstance(value, (list, tuple)) and all(not isinstance(v, (dict, list)) for v in value):
        return ", ".join(fmt_value(v) for v in value) or NULL
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def _count(value: Any, word: str) -> str:
    """``1 exception``, ``3 exceptions``, ``– exceptions``."""
    return f"{fmt_value(value)} {word}" + ("" if value == 1 else "s")


def _level_name(level: float) -> str:
    return f"{100 * level:g}%"


def rows_by_key(results: Sequence[Mapping[str, Any]]) -> dict[tuple, Mapping[str, Any]]:
    """Result rows by (model, target, horizon, level); levels rounded so 0.975 matches."""
    out = {}
    for row in results:
        level = num(row.get("level"))
        horizon = num(row.get("horizon"))
        if level is None or horizon is None:
            continue
        out[(str(row.get("model")), str(row.get("target")), int(horizon),
             round(level, 6))] = row
    return out


# --------------------------------------------------------------------------------------------
# Results table
# --------------------------------------------------------------------------------------------


def _cell(text: str, cls: str = "", title: str = "") -> str:
    c = f" class=\"{cls}\"" if cls else ""
    t = f" title=\"{_e(title)}\"" if title else ""
    return f"<td{c}{t}>{_e(text)}</td>"


def _p_cell(value: Any) -> str:
    v = num(value)
    cls = "" if v is None else "pass" if v >= SIGNIFICANCE else "fail"
    return _cell(_fmt_p(v), cls)


def worst_zone(zones: Any) -> tuple[str | None, int, int]:
    """Worst zone of a row's blocks, how many blocks are in it and how many have a zone."""
    named = [z.get("zone") for z in zones or [] if isinstance(z, Mapping)
             and z.get("zone") in ZONES]
    if not named:
        return None, 0, 0
    worst = max(named, key=ZONES.index)
    return worst, named.count(worst), len(named)


def _zone_cell(row: Mapping[str, Any]) -> str:
    worst, count, total = worst_zone(row.get("zones"))
    if worst is None:
        return _cell(NULL)
    return _cell(f"{worst} ({count}/{total})", f"zone-{worst}",
                 f"{count} of {total} blocks of 250 days in the {worst} zone")


def _dm_cell(row: Mapping[str, Any], p_key: str, loss_key: str,
             ref_row: Mapping[str, Any] | None) -> str:
    """DM p-value against the reference, coloured by who wins when the gap is significant."""
    p = num(row.get(p_key))
    if p is None:
        return _cell(NULL)
    loss, ref = num(row.get(loss_key)), num((ref_row or {}).get(loss_key))
    if p >= SIGNIFICANCE or loss is None or ref is None or loss == ref:
        return _cell(_fmt_p(p), title="no significant difference at 5%")
    better = loss < ref
    return _cell(f"{_fmt_p(p)} ({'better' if better else 'worse'})",
                 "pass" if better else "fail",
                 "significantly " + ("lower" if better else "higher") + " loss than the "
                 "reference at 5%")


def _es_cell(row: Mapping[str, Any]) -> str:
    test = row.get("es_test")
    if not isinstance(test, Mapping):
        return _cell(NULL)
    p, z2, reject = num(test.get("p")), num(test.get("z2")), test.get("reject_5pct")
    if p is not None:
        failed = p < SIGNIFICANCE
    elif isinstance(reject, bool):
        failed = reject
    else:
        return _cell(NULL)
    text = _fmt_p(p) + (f" (Z2 {z2:.2f})" if z2 is not None else "")
    title = ("Z2 below its 5% critical value" if reject is True
             else "Z2 within its 5% critical value" if reject is False else "")
    return _cell(text, "fail" if failed else "pass", title)


def _exceptions_cell(row: Mapping[str, Any]) -> str:
    exc, exp, n = row.get("exceptions"), num(row.get("expected")), row.get("n")
    text = f"{fmt_value(exc)} / {NULL if exp is None else f'{exp:.1f}'}"
    rate = num(row.get("exception_rate"))
    title = (f"{_count(exc, 'exception')} in {_count(n, 'forecast')}"
             + (f" ({100 * rate:.2f}%)" if rate is not None else ""))
    cov_n, level = num(row.get("coverage_n")), num(row.get("level"))
    if row.get("coverage_sample") == "non-overlapping" and cov_n is not None:
        # The coverage tests beside this cell count only the non-overlapping windows.
        expected = "" if level is None else f", {cov_n * (1 - level):.1f} expected"
        title += (f"; the tests use {_count(row.get('coverage_exceptions'), 'exception')} in "
                  f"{_count(int(cov_n), 'non-overlapping window')}{expected}")
    return _cell(text, title=title)


#: Columns of one level: header, tooltip, and how a cell is drawn from (row, reference row).
def _columns(with_zones: bool, with_es: bool) -> list[tuple[str, str, str]]:
    cols = [("exceptions / expected", "losses beyond the VaR, and how many the level "
             "implies", "exceptions"),
            ("Kupiec p", "right number of exceptions (pass: p ≥ 0.05)", "kupiec_p"),
            ("CC p", "Christoffersen conditional coverage: right number and not clustered "
             "(pass: p ≥ 0.05)", "cc_p")]
    if with_zones:
        cols.append(("worst zone", "worst Basel traffic-light zone over 250-day blocks "
                     "(blocks in it / blocks)", "zones"))
    cols += [("tick loss", "quantile (tick) loss of the VaR: lower is better", "tick_loss"),
             ("DM p", "Diebold–Mariano test of the tick loss against the reference",
              "dm_tick_p")]
    if with_es:
        cols += [("FZ0 loss", "joint VaR and ES loss (Fissler–Ziegel FZ0): lower is better",
                  "fz0_loss"),
                 ("DM p (FZ0)", "Diebold–Mariano test of the FZ0 loss against the "
                  "reference", "dm_fz0_p"),
                 ("ES test p", "Acerbi–Szekely test that ES is not underestimated "
                  "(pass: p ≥ 0.05)", "es_test")]
    return cols


def _best(rows: Mapping[str, Mapping[str, Any]], key: str) -> set[str]:
    vals = {m: num(r.get(key)) for m, r in rows.items()}
    ok = {m: v for m, v in vals.items() if v is not None}
    if not ok:
        return set()
    low = min(ok.values())
    return {m for m, v in ok.items() if np.isclose(v, low, rtol=1e-12, atol=0.0)}


def _draw(key: str, row: Mapping[str, Any] | None, ref: Mapping[str, Any] | None,
          best: set[str], model: str) -> str:
    if row is None:
        return _cell(NULL)
    if key == "exceptions":
        return _exceptions_cell(row)
    if key in ("kupiec_p", "cc_p"):
        return _p_cell(row.get(key))
    if key == "zones":
        return _zone_cell(row)
    if key in ("tick_loss", "fz0_loss"):
        return _cell(_fmt_loss(row.get(key)), "best" if model in best else "")
    if key == "dm_tick_p":
        return _dm_cell(row, key, "tick_loss", ref)
    if key == "dm_fz0_p":
        return _dm_cell(row, key, "fz0_loss", ref)
    return _es_cell(row)


def results_table(by_key: Mapping[tuple, Mapping[str, Any]], target: str, horizon: int,
                  models: Sequence[str], reference: str) -> str:
    """One target and horizon: a row per model, a group of columns per level.

    Parameters
    ----------
    by_key : mapping
        Result rows keyed by (model, target, horizon, rounded level).
    target : str
    horizon : int
    models : sequence of str
        Row order; models without any row here are left out.
    reference : str
        The model the Diebold–Mariano tests compare against.

    Returns
    -------
    str
        An HTML ``<table>``, or a sentence when there is nothing to show.
    """
    levels = sorted({k[3] for k in by_key if k[1] == target and k[2] == horizon},
                    reverse=True)
    shown = [m for m in models if any((m, target, horizon, lv) in by_key for lv in levels)]
    if not shown:
        return "<p>No results for this target and horizon.</p>"
    head1, head2, body_cols = ["<th rowspan=\"2\">model</th>",
                               "<th rowspan=\"2\">forecasts</th>"], [], []
    for lv in levels:
        rows = [by_key.get((m, target, horizon, lv)) for m in shown]
        rows = [r for r in rows if r is not None]
        cols = _columns(any(r.get("zones") for r in rows),
                        any("es_test" in r or "fz0_loss" in r for r in rows))
        head1.append(f"<th class=\"group\" colspan=\"{len(cols)}\">{_e(_level_name(lv))}</th>")
        head2 += [f"<th title=\"{_e(tip)}\">{_e(name)}</th>" for name, tip, _ in cols]
        body_cols.append((lv, cols))
    body = []
    for m in shown:
        first = next(by_key[(m, target, horizon, lv)] for lv in levels
                     if (m, target, horizon, lv) in by_key)
        label = _e(m) + (" <span class=\"ref\">(reference)</span>" if m == reference else "")
        cells = [f"<td>{label}</td>", _cell(fmt_value(first.get("n")))]
        for lv, cols in body_cols:
            here = {mm: by_key[(mm, target, horizon, lv)] for mm in shown
                    if (mm, target, horizon, lv) in by_key}
            row, ref = here.get(m), here.get(reference)
            for _, _, key in cols:
                best = _best(here, key) if key in ("tick_loss", "fz0_loss") else set()
                cells.append(_draw(key, row, ref, best, m))
        body.append("<tr>" + "".join(cells) + "</tr>")
    return ("<table class=\"metrics\"><thead><tr>" + "".join(head1) + "</tr><tr>"
            + "".join(head2) + "</tr></thead><tbody>" + "\n".join(body) + "</tbody></table>")


# --------------------------------------------------------------------------------------------
# Traffic-light zones
# --------------------------------------------------------------------------------------------


def zones_table(by_key: Mapping[tuple, Mapping[str, Any]], target: str,
                models: Sequence[str], horizon: int = 1, level: float = 0.99) -> str:
    """A row of coloured blocks per model: the Basel zone of each 250-day block.

    Each cell holds the block's exception count; a block shorter than 250 days is drawn
    faded with a dashed border. Blocks are matched across models by their dates.

    Returns
    -------
    str
        An HTML ``<table>``, or an empty string when no model has zones.
    """
    rows = {m: by_key[(m, target, horizon, round(level, 6))] for m in models
            if (m, target, horizon, round(level, 6)) in by_key}
    blocks = {m: [z for z in (r.get("zones") or []) if isinstance(z, Mapping)]
              for m, r in rows.items()}
    blocks = {m: b for m, b in blocks.items() if b}
    if not blocks:
        return ""
    spans = sorted({(str(z.get("start")), str(z.get("end"))) for b in blocks.values()
                    for z in b})
    head = "".join(f"<th title=\"{_e(s)} … {_e(e)}\">{_e(s[:7])}</th>" for s, e in spans)
    body = []
    for m, b in blocks.items():
        at = {(str(z.get("start")), str(z.get("end"))): z for z in b}
        cells = [f"<td>{_e(m)}</td>"]
        for span in spans:
            z = at.get(span)
            if z is None:
                cells.append("<td></td>")
                continue
            zone = z.get("zone") if z.get("zone") in ZONES else None
            cls = f"zone-{zone or 'none'}" + ("" if z.get("complete", True) else " partial")
            title = (f"{span[0]} … {span[1]}: {_count(z.get('exceptions'), 'exception')} in "
                     f"{_count(z.get('n'), 'day')}, {zone or 'no'} zone"
                     + ("" if z.get("complete", True) else " (incomplete block)"))
            cells.append(_cell(fmt_value(z.get("exceptions")), cls, title))
        body.append("<tr>" + "".join(cells) + "</tr>")
    return ("<table class=\"zones\"><thead><tr><th>model</th>" + head + "</tr></thead><tbody>"
            + "\n".join(body) + "</tbody></table>")
