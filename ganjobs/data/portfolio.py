"""Portfolio files (YAML) for ``ganjobs stress``.

A portfolio is a set of linear positions, one notional per symbol, in the base currency::

    name: balanced-book
    base_value: 1000000        # optional, value of the whole book in the base currency (> 0);
                               # default the gross notional (sum of |notional|)
    currency: USD              # optional label, only reported
    positions:                 # symbol -> notional (negative = short); at least one
      SPX: 600000
      NDX: 300000
      WTI: -100000
    horizons: [1, 10, 20]      # optional, days; default [1, 10, H] (H = the set's horizon)
    loss_threshold: 50000      # optional, a positive loss amount in the base currency;
                               # default 10% of the gross notional (sum of |notional|)
    worst_k: 10                # optional, how many worst scenarios to report (default 10)

``base_value`` scales the P&L reported as a fraction of the book. Without it the book is
taken to be worth its gross notional, and :attr:`Portfolio.base_value_source` and
:attr:`Portfolio.notes` say so, for the stress results to record.

Unknown keys, non-numeric or non-finite values and empty files are refused with a
:class:`~ganjobs.errors.GanjobsError` that names the file and the problem.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ganjobs.errors import GanjobsError
from ganjobs.io.storage import read_bytes

#: Default loss threshold as a fraction of the gross notional Σ|notional|.
DEFAULT_THRESHOLD_FRACTION = 0.10
DEFAULT_WORST_K = 10
#: Default horizons in days; the set's horizon H is appended (:meth:`Portfolio.resolve_horizons`).
DEFAULT_HORIZONS = (1, 10)

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads ``1e6`` as a number.

    PyYAML follows YAML 1.1, where a float needs a dot (``1.0e6``) and ``1e6`` is a string;
    YAML 1.2 and every other reader take it as a number, and so do portfolio authors.
    """


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


class Portfolio(BaseModel):
    """A validated portfolio of linear positions.

    Attributes
    ----------
    name : str
        Label used in reports.
    base_value : float
        Value of the book in the base currency, > 0; P&L is also reported as a fraction of it.
        The gross notional when the file has none (see :attr:`base_value_source`).
    currency : str or None
        Label of the base currency, only reported.
    positions : dict of str to float
        Notional per symbol in the base currency; negative means short.
    horizons : list of int or None
        Horizons in days (steps); None means ``[1, 10, H]`` capped at the set's horizon H.
    loss_threshold : float or None
        Positive loss amount for the exceedance probability and the reverse stress;
        None means 10% of the gross notional.
    worst_k : int
        Number of worst scenarios reported per horizon.
    """

    # strict: a notional written as a string ("1e6") or a bool is a mistake, not a number.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    name: str = Field(min_length=1)
    # None only until validated: _default_base_value fills it in (an explicit null is refused).
    base_value: FiniteFloat = Field(default=None, gt=0)  # type: ignore[assignment]
    currency: str | None = None
    positions: dict[str, FiniteFloat] = Field(min_length=1)
    horizons: list[Annotated[int, Field(ge=1)]] | None = Field(default=None, min_length=1)
    loss_threshold: FiniteFloat | None = Field(default=None, gt=0)
    worst_k: int = Field(default=DEFAULT_WORST_K, ge=1, le=1000)

    @field_validator("positions")
    @classmethod
    def _symbols_named(cls, value: dict[str, float]) -> dict[str, float]:
        for sym in value:
            if not sym.strip():
                raise ValueError("a symbol name is empty")
        if not any(v != 0 for v in value.values()):
            raise ValueError("all notionals are zero")
        return value

    @model_validator(mode="after")
    def _default_base_value(self) -> Portfolio:
        if self.base_value is None:
            gross = self.gross_notional
            if not math.isfinite(gross):
                raise ValueError("base_value not given and the gross notional is not finite")
            # Frozen model: set once, here, while it is being validated.
            object.__setattr__(self, "base_value", gross)
        return self

    @property
    def base_value_source(self) -> Literal["file", "gross_notional"]:
        """Where :attr:`base_value` came from: the file, or the gross notional by default."""
        return "file" if "base_value" in self.model_fields_set else "gross_notional"

    @property
    def notes(self) -> list[str]:
        """Human notes on defaults that change the numbers; empty when none applies."""
        if self.base_value_source == "file":
            return []
        return [f"base_value not given: the gross notional {self.base_value:,.2f} "
                f"(sum of |notional|) is used as the value of the book"]

    @property
    def symbols(self) -> list[str]:
        """Symbols in file order."""
        return list(self.positions)

    @property
    def gross_notional(self) -> float:
        """Σ|notional| over the positions."""
        return float(sum(abs(v) for v in self.positions.values()))

    @property
    def threshold(self) -> float:
        """The loss threshold in use: the file's, else 10% of the gross notional."""
        if self.loss_threshold is not None:
            return float(self.loss_threshold)
        return DEFAULT_THRESHOLD_FRACTION * self.gross_notional

    def resolve_horizons(self, set_horizon: int, source: str = "portfolio") -> list[int]:
        """Horizons to evaluate against a scenario set of horizon ``set_horizon``.

        Parameters
        ----------
        set_horizon : int
            Steps per scenario in the set (H).
        source : str
            Name of the portfolio file, for the error message.

        Returns
        -------
        list of int
            Sorted, unique horizons, all ≤ H. The default is ``[1, 10, H]`` with the entries
            above H dropped (a 5-day set gives ``[1, 5]``).

        Raises
        ------
        GanjobsError
            When an explicit horizon is longer than the set.
        """
        if self.horizons is None:
            return sorted({h for h in (*DEFAULT_HORIZONS, set_horizon) if h <= set_horizon})
        too_long = sorted({h for h in self.horizons if h > set_horizon})
        if too_long:
            raise GanjobsError(
                f"{source}: horizon(s) {', '.join(map(str, too_long))} longer than the "
                f"scenario set's horizon {set_horizon}"
            )
        return sorted(set(self.horizons))


def _format_errors(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        loc = ".".join(str(x) for x in err["loc"] if x != "[key]") or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif err["type"] == "missing":
            msg = "required key missing"
        elif "input" in err and not isinstance(err["input"], dict | list):
            msg = f"{msg} (got {err['input']!r})"
        parts.append(f"{loc}: {msg}")
    more = len(exc.errors()) - 3
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts)


def parse_portfolio(text: str | bytes, source: str = "portfolio") -> Portfolio:
    """Parse and validate portfolio YAML.

    Parameters
    ----------
    text : str or bytes
        YAML document.
    source : str
        Name of the file, used in error messages.

    Raises
    ------
    GanjobsError
        Empty or malformed YAML, a document that is not a mapping, unknown keys, missing
        keys, non-numeric or non-finite numbers.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise GanjobsError(f"{source}: not a UTF-8 text file") from exc
    if not text.strip():
        raise GanjobsError(f"{source}: empty portfolio file")
    try:
        doc: Any = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise GanjobsError(f"{source}: malformed YAML{where}: {problem}") from exc
    if doc is None:
        raise GanjobsError(f"{source}: empty portfolio file")
    if not isinstance(doc, dict):
        raise GanjobsError(f"{source}: a portfolio must be a YAML mapping with name and "
                           f"positions, not a {type(doc).__name__}")
    try:
        port = Portfolio.model_validate(doc)
    except ValidationError as exc:
        raise GanjobsError(f"{source}: invalid portfolio: {_format_errors(exc)}") from exc
    # Guard the default threshold too: it is derived, so check it is usable here.
    if not math.isfinite(port.threshold) or port.threshold <= 0:
        raise GanjobsError(f"{source}: loss threshold must be a positive amount")
    return port


def load_portfolio(url: str) -> Portfolio:
    """Read a portfolio YAML file from any location (path, ``file://``, ``s3://``).

    Raises
    ------
    GanjobsError
        When the file cannot be read or is not a valid portfolio (see :func:`parse_portfolio`).
    """
    return parse_portfolio(read_bytes(url), source=url)
