"""Model folders: writing them after training and loading them to sample paths.

A model folder holds

- ``generator.safetensors``: the generator's weights (safetensors: loading runs no code);
- ``model.json``: ``format`` (``ganjobs.model/1``), the resolved config and its version
  ``config_schema`` (absent: version 1, see :mod:`ganjobs.config.migrate`), preprocessing
  parameters, symbols, data record (input location and sha256, training window and holdout
  dates), code version, seed, final step, training metrics, ``created_at``;
- ``_SUCCESS``: written last; a folder without it is not a model.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from ganjobs.config import CONFIG_SCHEMA, GanConfig, config_from_dict
from ganjobs.core.seeds import check_seed
from ganjobs.errors import GanjobsError
from ganjobs.io.publisher import SUCCESS, Publisher
from ganjobs.io.storage import exists, join, read_bytes, read_json, sha256_bytes
from ganjobs.model.marginal import apply_body, fit_body
from ganjobs.model.networks import build_generator, draw_noise
from ganjobs.model.preprocess import Preprocessor

MODEL_FORMAT = "ganjobs.model/1"
MODEL_JSON = "model.json"
WEIGHTS_FILE = "generator.safetensors"


#: Paths and seed of the sample the output calibration is fitted on: fixed, so that the
#: calibration of given weights is reproducible.
CALIBRATION_PATHS = 4096
CALIBRATION_SEED = 20_181_228


CPU_CHUNK = 256  # paths per forward pass on a CPU


def make_generator(cfg: GanConfig, k: int) -> torch.nn.Module:
    """The generator of a configuration (conditional or not), weights not loaded."""
    if cfg.condition.enabled:
        from ganjobs.model.conditional_networks import ConditionalGenerator

        return ConditionalGenerator(cfg, k, cfg.data.window)
    return build_generator(cfg.model, k, cfg.data.window)


def _network_sample(g_model: torch.nn.Module, cfg: GanConfig, n: int, horizon: int,
                    seed: int, device: str = "cpu") -> torch.Tensor:
    """``(n, horizon, k)`` generator output in the networks' (standardised) space."""
    rng = torch.Generator(device="cpu")
    rng.manual_seed(int(seed))
    z = draw_noise(int(n), cfg.model.noise_dim, g_model.noise_length(int(horizon)), cfg.model,
                   rng, device="cpu")
    # On a CPU, whole-block activations (tens of MB) go to fresh mmap pages on every call
    # and page faulting costs more than the convolutions; the networks act on each path
    # alone, so chunks give the same values, 2-3x faster.
    chunk = CPU_CHUNK if torch.device(device).type == "cpu" else int(n)
    with torch.inference_mode():
        return torch.cat([g_model(z[i:i + chunk].to(device))[:, : int(horizon)].float()
                          for i in range(0, int(n), chunk)])


def fit_calibration(cfg: GanConfig, generator_state: dict[str, torch.Tensor], k: int,
                    target: np.ndarray | None = None) -> dict[str, Any]:
    """Affine output map that gives the trained generator the training data's first two
    moments in the networks' space.

    The generator's mean ``m`` and covariance ``L_g L_g'`` are measured on
    :data:`CALIBRATION_PATHS` paths of one training window drawn with
    :data:`CALIBRATION_SEED`; :meth:`GanModel.sample` then maps ``y`` to
    ``(y - m) L_g^-T L_t^T`` where ``L_t L_t'`` is the correlation matrix of the
    (standardised) training data ``target`` (identity when it is not given, or ``k == 1``).
    With ``cfg.preprocess.calibrate_body`` and a ``target``, the same sample, mapped, also
    fits each symbol's monotone body map onto ``target`` (``body``; see
    :mod:`ganjobs.model.marginal`), applied after the affine map. No path is rejected or clipped.
    """
    g_model = build_generator(cfg.model, k, cfg.data.window)
    g_model.load_state_dict(generator_state, strict=True)
    g_model.eval().requires_grad_(False)
    y = _network_sample(g_model, cfg, CALIBRATION_PATHS, cfg.data.window, CALIBRATION_SEED)
    flat = y.double().reshape(-1, k).numpy()
    if not np.all(np.isfinite(flat)):
        raise GanjobsError("output calibration impossible: the generator's output is not "
                           "finite")
    corr = np.eye(k) if target is None else np.corrcoef(np.asarray(target, float).T).reshape(k, k)
    try:
        l_gen = np.linalg.cholesky(np.cov(flat.T).reshape(k, k))
        l_tgt = np.linalg.cholesky(corr)
    except np.linalg.LinAlgError:
        raise GanjobsError("output calibration impossible: the generator's output (or the "
                           "training data) is degenerate across symbols") from None
    matrix = np.linalg.solve(l_gen.T, l_tgt.T)  # (y - m) @ matrix == (y - m) L_g^-T L_t^T
    mean = flat.mean(axis=0)
    cal = {"kind": "affine", "mean": mean.tolist(), "matrix": matrix.tolist(),
           "target_corr": corr.tolist(), "paths": CALIBRATION_PATHS,
           "horizon": cfg.data.window, "seed": CALIBRATION_SEED}
    if cfg.preprocess.calibrate_body and target is not None:
        cal["body"] = fit_body((flat - mean) @ matrix, np.asarray(target, float),
                               tails=cfg.preprocess.body_tails)
    return cal


def write_model_folder(out: str, *, cfg: GanConfig, generator_state: dict[str, torch.Tensor],
                       preprocessor: Preprocessor, symbols: list[str],
                       data_record: dict[str, Any], step: int, metrics: dict[str, Any],
                       training: dict[str, Any], created_at: str,
                       calibration: dict[str, Any] | None = None) -> dict[str, Any]:
    """Publish a model folder atomically (weights, then ``model.json``, then ``_SUCCESS``).

    Returns
    -------
    dict
        The written ``model.json`` content.
    """
    from ganjobs.core.version import code_version

    tensors = {k: v.detach().to("cpu").contiguous() for k, v in generator_state.items()}
    blob = save_safetensors(tensors, metadata={"format": MODEL_FORMAT})
    probe = make_generator(cfg, len(symbols))
    meta = {
        "format": MODEL_FORMAT,
        "created_at": created_at,
        "code_version": code_version(),
        "symbols": list(symbols),
        "return_kind": "log",
        "seed": cfg.train.seed,
        "steps": int(step),
        "architecture": {
            "arch": cfg.model.arch,
            "k": len(symbols),
            "window": cfg.data.window,
            "receptive_field": int(probe.receptive_field),
            "parameters": int(sum(t.numel() for t in tensors.values())),
        },
        "config_schema": CONFIG_SCHEMA,
        "config": cfg.model_dump(),
        "preprocess": preprocessor.to_dict(),
        "calibration": calibration or {"kind": "none"},
        "data": data_record,
        "weights": weights_record(blob),
        "training": training,
        "metrics": metrics,
    }
    return publish_model(out, blob, meta)


def weights_record(blob: bytes) -> dict[str, Any]:
    """``model.json``'s record of the weights file: name, sha256 (checked on load), size."""
    return {"name": WEIGHTS_FILE, "sha256": sha256_bytes(blob), "bytes": len(blob)}


def publish_model(out: str, blob: bytes, meta: dict[str, Any]) -> dict[str, Any]:
    """Publish a model folder atomically: the weights, then ``model.json``, then
    ``_SUCCESS`` (a market or a table model alike); returns ``model.json``'s content."""
    with Publisher(out, overwrite=True) as publisher:
        publisher.write_part(WEIGHTS_FILE, blob, rows=0)
        return publisher.commit(meta, name=MODEL_JSON)


@dataclass
class GanModel:
    """A trained generator with its preprocessing, ready to sample log-return paths.

    Attributes
    ----------
    url : str
    meta : dict
        ``model.json``.
    config : GanConfig
    symbols : list of str
    fingerprint : str
        sha256 of the weights file.
    preprocessor : Preprocessor
    """

    url: str
    meta: dict[str, Any]
    config: GanConfig
    symbols: list[str]
    fingerprint: str
    preprocessor: Preprocessor
    state: dict[str, torch.Tensor] = field(repr=False)
    _modules: dict[str, torch.nn.Module] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def k(self) -> int:
        return len(self.symbols)

    @property
    def conditional(self) -> bool:
        """Whether the generator reads the market's state at an origin."""
        return bool(self.config.condition.enabled)

    def generator(self, device: str = "cpu") -> torch.nn.Module:
        """The generator in eval mode on ``device`` (built once per device)."""
        key = str(torch.device(device))
        with self._lock:
            if key not in self._modules:
                g = make_generator(self.config, self.k)
                g.load_state_dict(self.state, strict=True)
                self._modules[key] = g.to(key).eval().requires_grad_(False)
            return self._modules[key]

    def sample(self, n: int, horizon: int, seed: int, device: str = "cpu") -> np.ndarray:
        """Draw ``n`` joint paths of ``horizon`` daily log returns.

        Deterministic for the same ``(n, horizon, seed)``: the noise is drawn on the CPU from a
        ``torch.Generator`` seeded with ``seed`` and then moved to ``device``. No path is
        rejected or clipped.

        Returns
        -------
        ndarray, shape (n, horizon, k), float32
            Log returns, preprocessing inverted.
        """
        for name, value in (("n", n), ("horizon", horizon)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise GanjobsError(f"{name} must be a positive integer, got {value!r}")
        seed = check_seed(seed, "seed")
        if self.conditional:
            raise GanjobsError(f"{self.url}: a conditional model samples from a market state "
                               "(give prices, or ask for unconditional paths)")
        y = _network_sample(self.generator(device), self.config, n, horizon, seed, device)
        y = y.cpu().numpy()
        cal = self.meta.get("calibration") or {"kind": "none"}
        if cal.get("kind") == "affine":
            y = (y - np.asarray(cal["mean"], dtype=np.float32)) @ np.asarray(
                cal["matrix"], dtype=np.float32)
            if "body" in cal:
                y = apply_body(y, cal["body"])
        return self.preprocessor.inverse(y).astype(np.float32)


def load_model(url: str) -> GanModel:
    """Open the model folder at ``url``.

    Raises
    ------
    GanjobsError
        ``url`` is not a complete model folder (no ``_SUCCESS`` or ``model.json``), has an
        unknown format, or its weights do not match ``model.json``.
    """
    if not exists(join(url, SUCCESS)):
        raise GanjobsError(f"{url}: not a model folder (no {SUCCESS}: absent or unfinished)")
    if not exists(join(url, MODEL_JSON)):
        raise GanjobsError(f"{url}: not a model folder (no {MODEL_JSON})")
    meta = read_json(join(url, MODEL_JSON))
    if meta.get("format") != MODEL_FORMAT:
        raise GanjobsError(f"{url}: {MODEL_JSON} has format {meta.get('format')!r}, "
                           f"expected {MODEL_FORMAT}")
    weights = meta.get("weights", {})
    blob = read_bytes(join(url, weights.get("name", WEIGHTS_FILE)))
    fingerprint = sha256_bytes(blob)
    if weights.get("sha256") and weights["sha256"] != fingerprint:
        raise GanjobsError(f"{url}: weights do not match the sha256 recorded in {MODEL_JSON}")
    try:
        state = load_safetensors(blob)
    except Exception as exc:  # safetensors raises its own error types
        raise GanjobsError(f"{url}: unreadable weights ({type(exc).__name__})") from None
    # Models written before the tree had a version record none: version 1.
    config = config_from_dict(meta["config"], schema=meta.get("config_schema", 1))
    return GanModel(url=url, meta=meta, config=config,
                    symbols=list(meta["symbols"]), fingerprint=fingerprint,
                    preprocessor=Preprocessor.from_dict(meta["preprocess"]), state=state)
