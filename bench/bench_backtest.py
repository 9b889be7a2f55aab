"""``make bench-backtest``: the out-of-sample VaR/ES backtest on the bundled data.

Forecasts from 2007-01-03 to the end of the bundled prices (S&P 500, NASDAQ 100, WTI and an
equal-weight book of the three), every model trained on the days before each refit date;
prints the bars side by side for every model and writes the result file
``bench/results/backtest-<date>.json``. Options: ``--refit-every``, ``--n``, ``--steps``,
``--start``, ``--end`` (a shorter run for a try: ``--end 2008-12-31``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from ganjobs.backtest.command import run_backtest

EQUAL_WEIGHT = """name: equal-weight
positions:
  SPX: 1000000
  NDX: 1000000
  WTI: 1000000
"""
RESULTS = Path(__file__).parent / "results"


def _row(rows: list[dict[str, Any]], model: str, target: str, h: int,
         level: float) -> dict[str, Any] | None:
    for r in rows:
        if (r["model"], r["target"], r["horizon"], r["level"]) == (model, target, h, level):
            return r
    return None


def _worst(zones: list[dict[str, Any]] | None) -> str:
    order = {"green": 0, "yellow": 1, "red": 2}
    found = [z["zone"] for z in zones or [] if z.get("zone")]
    return max(found, key=order.get) if found else "–"


def _f(v: Any, spec: str = ".3f") -> str:
    return "–" if v is None else format(v, spec)


def bars(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Each bar of the backtest for ganjobs, per target: value, FHS's, met."""
    rows, out = summary["results"], []
    for t in summary["targets"]:
        g1, f1 = _row(rows, "ganjobs", t, 1, 0.99), _row(rows, "fhs", t, 1, 0.99)
        g975, f975 = _row(rows, "ganjobs", t, 1, 0.975), _row(rows, "fhs", t, 1, 0.975)
        g10 = _row(rows, "ganjobs", t, 10, 0.99)
        checks = [
            ("1d VaR99 Kupiec p >= 0.05", g1["kupiec_p"], None, g1["kupiec_p"] >= 0.05),
            ("1d VaR99 cond. coverage p >= 0.05", g1["cc_p"], None, g1["cc_p"] >= 0.05),
            ("1d VaR99 no red 250-day block", _worst(g1["zones"]), None,
             _worst(g1["zones"]) != "red"),
            ("1d VaR99 tick loss <= FHS", g1["tick_loss"], f1["tick_loss"],
             g1["tick_loss"] <= f1["tick_loss"]),
            ("1d FZ0 (VaR/ES 97.5) <= FHS", g975["fz0_loss"], f975["fz0_loss"],
             g975["fz0_loss"] <= f975["fz0_loss"]),
        ]
        if g10 is not None:
            checks.append(("10d VaR99 Kupiec p >= 0.05 (non-overlapping)", g10["kupiec_p"],
                           None, g10["kupiec_p"] >= 0.05))
        out += [{"target": t, "bar": b, "ganjobs": v, "fhs": ref, "met": bool(ok)}
                for b, v, ref, ok in checks]
    return out


def print_table(summary: dict[str, Any]) -> None:
    rows = summary["results"]
    for h in summary["horizons"]:
        for t in summary["targets"]:
            print(f"\n{t}, {h}-day ({summary['start']} to {summary['end']})")
            print(f"{'model':<22} {'exc/exp 99':>11} {'kupiec':>7} {'cc':>7} {'zone':>6} "
                  f"{'tick 99':>9} {'FZ0 97.5':>9} {'ES p':>6} {'DM tick':>8}")
            for m in summary["models"]:
                r, r2 = _row(rows, m, t, h, 0.99), _row(rows, m, t, h, 0.975)
                if r is None:
                    continue
                es_p = (r2.get("es_test") or {}).get("p") if r2 else None
                print(f"{m:<22} {r['exceptions']:>5}/{r['expected']:<5.1f} "
                      f"{_f(r['kupiec_p']):>7} {_f(r['cc_p']):>7} {_worst(r['zones']):>6} "
                      f"{_f(r['tick_loss'], '.5f'):>9} "
                      f"{_f(r2.get('fz0_loss') if r2 else None, '.4f'):>9} "
                      f"{_f(es_p, '.2f'):>6} {_f(r['dm_tick_p']):>8}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--start", default="2007-01-03")
    ap.add_argument("--end", default=None)
    ap.add_argument("--refit-every", default="250")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--preset", default="daily")
    ap.add_argument("--out", default=None, help="where to publish (default: a temp folder)")
    ap.add_argument("--json", default=None, help="result file (default: bench/results/...)")
    args = ap.parse_args(argv)
    from ganjobs.data.sample import write_sample_data

    tmp = Path(tempfile.mkdtemp(prefix="bench-backtest-"))
    write_sample_data(str(tmp / "prices"))
    (tmp / "book.yaml").write_text(EQUAL_WEIGHT)
    every = None if args.refit_every == "never" else int(args.refit_every)
    t0 = time.perf_counter()
    summary = run_backtest(str(tmp / "prices"), args.out or str(tmp / "out"), args.start,
                           args.end, refit_every=every, n=args.n, horizons=(1, 10),
                           portfolio=str(tmp / "book.yaml"), preset=args.preset,
                           steps=args.steps, overwrite=True)
    wall = time.perf_counter() - t0
    print_table(summary)
    result = {"date": dt.date.today().isoformat(), "command": "make bench-backtest",
              "options": vars(args), "wall_seconds": round(wall, 1),
              "timing": summary["timing"], "origins": summary["origins"],
              "refit_dates": summary["refit_dates"], "bars": bars(summary),
              "results": summary["results"], "code_version": summary["code_version"]}
    print("\nbars (ganjobs):")
    for b in result["bars"]:
        print(f"  {'met ' if b['met'] else 'MISS'} {b['target']:<13} {b['bar']:<46} "
              f"{b['ganjobs']}  (fhs {b['fhs']})")
    tp = summary["timing"].get("ganjobs_origin_path_steps_per_s")
    print(f"\nganjobs conditional sampling: {_f(tp, ',.0f')} origin x path x step per s; "
          f"whole run {wall / 60:.1f} min; report: {args.out or tmp / 'out'}/report.html")
    path = Path(args.json) if args.json else RESULTS / f"backtest-{result['date']}.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
