"""swarm.toml and its SWARM_<SECTION>_<KEY> overrides, read and checked by pydantic-settings.

The settings stay plain dataclasses in swarm/config.py, cheap to import (`swarm --help` and the node scripts
never load pydantic); this module, imported only when a configuration is loaded or its schema made, turns
each into a pydantic model carrying config.py's bounds and words (BOUNDS, ONE_OF). Values from swarm.toml
are checked strictly (2.5 is not a whole number, '5' is not a number); values from the environment are text,
parsed by the setting's type first (pydantic-settings does that for strict models), lists comma-separated,
tables as JSON. The first failed check becomes one ConfigError naming the key or the variable, what it
takes, and where to fix it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Annotated, Any, Literal, get_origin, get_type_hints

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, create_model
from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsConfigDict

from swarm.config_plain import RAW, origin, variable, variables  # noqa: F401 — origin: taken from here too
from swarm.settings import BOUNDS, ONE_OF, SECTIONS
from swarm.errors import ConfigError

CASE_INSENSITIVE = {("store", "synchronous")}  # 'normal' is NORMAL, as SQLite takes it
PRICES = "a table of model -> {input = USD, output = USD}"
WANTED = {bool: "true or false", int: "a whole number", float: "a number", str: "a string",
          list: "a list of strings", dict: PRICES}


def _bounds() -> dict[tuple[str, str], dict[str, float]]:
    return {(section, key): bounds for section, keys, bounds in BOUNDS for key in keys}


def _empty_is_none(value):
    return None if value == "" else value


def _upper(value):
    return value.upper() if isinstance(value, str) else value


def section_model(section: str, cls: type) -> type[BaseModel]:
    """The pydantic model of one section: its dataclass's keys, types and defaults, with bounds and words."""
    hints, bounds = get_type_hints(cls), _bounds()
    words = {(s, key): choices for s, key, choices in ONE_OF}
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        kind, extra = hints[f.name], dict(bounds.get((section, f.name), {}))
        if (section, f.name) in RAW:
            kind = Any
        elif (section, f.name) in words:
            kind = Literal[words[section, f.name]]
            if (section, f.name) in CASE_INSENSITIVE:
                kind = Annotated[kind, BeforeValidator(_upper)]
        elif kind is float:
            extra["allow_inf_nan"] = False  # nan passes every bound (all comparisons are false); inf means nothing
        elif kind == str | None:
            kind = Annotated[kind, BeforeValidator(_empty_is_none)]  # SWARM_MODEL_BASE_URL= means "none"
        if f.default_factory is not dataclasses.MISSING:
            extra["default_factory"] = f.default_factory
        else:
            extra["default"] = f.default
        fields[f.name] = (kind, Field(**extra))
    return create_model(cls.__name__, __config__=ConfigDict(strict=True, extra="forbid"), **fields)


class _Settings(BaseSettings):
    model_config = SettingsConfigDict(strict=True, extra="forbid", env_prefix="SWARM_", env_nested_delimiter="_",
                                      env_nested_max_split=1)

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings):
        return (init_settings,)  # the environment comes from load_config's `env`, through Environment below


SECTION_MODELS = {name: section_model(name, cls) for name, cls in SECTIONS.items()}
SwarmToml = create_model("SwarmToml", __base__=_Settings,
                         **{name: (model, Field(default_factory=model)) for name, model in SECTION_MODELS.items()})


class Environment(EnvSettingsSource):
    """pydantic-settings' reading of SWARM_<SECTION>_<KEY>, from the mapping given instead of os.environ."""

    def __init__(self, env: Mapping[str, str]) -> None:
        super().__init__(SwarmToml)
        self.env_vars = {name.lower(): value for name, value in variables(env).items()}

    def decode_complex_value(self, field_name, field, value):
        if field is not None and get_origin(field.annotation) is list:  # SWARM_PYTHON_AUTHORIZED_IMPORTS=math,json
            return [item.strip() for item in value.split(",") if item.strip()]
        try:
            return super().decode_complex_value(field_name, field, value)  # a table: JSON
        except ValueError:  # left as text: the check then says what the variable must hold
            return value


def read(raw: dict[str, dict], env: Mapping[str, str], source: str) -> tuple[dict[str, dict[str, Any]], set]:
    """swarm.toml's tables overridden by the environment, checked: (the values by section, the keys set)."""
    data = {section: dict(values) for section, values in raw.items()}
    for section, values in Environment(env)().items():
        data.setdefault(section, {}).update(values)
    try:
        settings = SwarmToml(**data)
    except ValidationError as exc:
        raise problem(exc.errors()[0], data, env, source) from None
    values = {name: {key: getattr(getattr(settings, name), key) for key in model.model_fields}
              for name, model in SECTION_MODELS.items()}
    return values, {(section, key) for section, given in data.items() for key in given}


def problem(error: dict, data: dict, env: Mapping[str, str], source: str) -> ConfigError:
    """pydantic's first error as one line: what is wrong, what the setting takes, where to fix it."""
    section, *rest = error["loc"]
    sections = ", ".join(f"[{s}]" for s in SECTIONS)
    if not rest:
        return ConfigError(f"{source}: unknown section [{section}]; remove it, or use one of {sections}")
    key = rest[0]
    where, from_env = origin(section, key, env, source)
    keys = [f.name for f in dataclasses.fields(SECTIONS[section])]
    if error["type"] == "extra_forbidden":
        return ConfigError(f"{where}: unknown setting; remove it, or use one of the keys of [{section}]: {', '.join(keys)}")
    value = data[section][key]
    if must := _must(section, key, error["type"]):
        at = "" if source == "defaults" else f"{source}: "
        shown = f"{value:g}" if isinstance(value, float) else (repr(value) if isinstance(value, str) else str(value))
        return ConfigError(f"{at}[{section}].{key} must be {must} (got {shown}); "
                           f"fix it in swarm.toml or ${variable(section, key)}")
    hint = get_type_hints(SECTIONS[section])[key]
    wanted = "a finite number" if error["type"] == "finite_number" else WANTED.get(get_origin(hint) or hint, "a string")
    fix = "fix or unset the environment variable" if from_env else "fix it in the file"
    return ConfigError(f"{where}: expected {wanted}, got {value!r}; {fix}")


def _must(section: str, key: str, kind: str) -> str | None:
    """What a value of the right type but out of bounds, or not one of the words, must be; None for other errors."""
    if kind == "literal_error":
        return "one of " + ", ".join(next(words for s, k, words in ONE_OF if (s, k) == (section, key)))
    if kind not in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        return None
    bounds = _bounds()[section, key]
    if "ge" in bounds and "le" in bounds:
        return f"{bounds['ge']}..{bounds['le']}"
    return f"{bounds['ge']} or more" if "ge" in bounds else f"more than {bounds['gt']}"
