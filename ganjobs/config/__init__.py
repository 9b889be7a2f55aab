"""The one configuration tree of GAN training, its named presets and every default.

A model folder records the fully resolved tree (``GanConfig.model_dump()``) with its version
(``config_schema``), so a model can be rebuilt and a run repeated from ``model.json`` alone.
Nothing else in the package holds a training default: other modules read them from here.

- :mod:`~ganjobs.config.schema`: the sections and their fields;
- :mod:`~ganjobs.config.presets`: named presets, YAML files shipped with the package;
- :mod:`~ganjobs.config.overrides`: dotted overrides (``model.noise_halflives=[20,80,320]``);
- :mod:`~ganjobs.config.migrate`: versions of the recorded tree;
- :mod:`~ganjobs.config.resolve`: building a configuration from those.
"""

from ganjobs.config.migrate import CONFIG_SCHEMA, migrate
from ganjobs.config.overrides import (
    OverrideError,
    check_key,
    check_overrides,
    parse_overrides,
    parse_value,
)
from ganjobs.config.presets import PRESETS
from ganjobs.config.resolve import config_from_dict, resolve_config
from ganjobs.config.schema import (
    FIELD_SECTIONS,
    QUANTGAN_RECEPTIVE_FIELD,
    SECTIONS,
    ConditionConfig,
    DataConfig,
    GanConfig,
    LossConfig,
    ModelConfig,
    OptimConfig,
    PreprocessConfig,
    TrainConfig,
)

__all__ = [
    "CONFIG_SCHEMA",
    "FIELD_SECTIONS",
    "PRESETS",
    "QUANTGAN_RECEPTIVE_FIELD",
    "SECTIONS",
    "ConditionConfig",
    "DataConfig",
    "GanConfig",
    "LossConfig",
    "ModelConfig",
    "OptimConfig",
    "OverrideError",
    "PreprocessConfig",
    "TrainConfig",
    "check_key",
    "check_overrides",
    "config_from_dict",
    "migrate",
    "parse_overrides",
    "parse_value",
    "resolve_config",
]
