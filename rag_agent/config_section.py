"""The base of every config section: a pydantic model whose errors are one-line `ConfigError`s.

A section knows where it sits in the tree (`section_path`, e.g. "training.embedder"), so every
refused value names its dotted key, the value, what was expected and the fix, whether it came
from ragloop.toml, `--set` or Python (`EmbedderTrainConfig(lr=0)`, `cfg.training.embedder.lr = 0`).
Numeric ranges come from rag_agent.config_bounds (by dotted key, then by name and type).
Fields are documented by the docstring under each one (`use_attribute_docstrings`), which pydantic
keeps as the field's description.
"""

from __future__ import annotations

import typing
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo, field_validator

from rag_agent.errors import ConfigError

_TYPE_WORDS = {"int": int, "float": float, "bool": bool, "string": str}


class Section(BaseModel):
    """A typed, validated config section; construct, assign and `updated(...)` all validate."""

    model_config = ConfigDict(
        extra="forbid",  # a misspelt key is an error, never silently ignored
        validate_assignment=True,  # `cfg.x.y = v` is checked like `--set x.y=v`
        coerce_numbers_to_str=True,  # TOML `dev_split = 5` or `--set` text both give a str field its text
        use_attribute_docstrings=True,
        revalidate_instances="never",
    )
    section_path: ClassVar[str] = ""

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise config_error(exc, type(self)) from None

    def __setattr__(self, name: str, value: Any) -> None:
        try:
            super().__setattr__(name, value)
        except ValidationError as exc:
            raise config_error(exc, type(self)) from None

    def updated(self, **changes: Any):
        """A validated copy with `changes` (call-site overrides such as a bench's `max_steps=`);
        `model_copy(update=...)` alone would skip validation."""
        return type(self)(**{**self.model_dump(), **changes})

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump()

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_as_number(cls, value: Any, info: ValidationInfo) -> Any:
        kind = cls.model_fields[info.field_name].annotation
        if isinstance(value, bool) and kind in (int, float):
            raise ValueError(f"a value of type {kind.__name__}")  # TOML `true` is not a count
        return value

    @field_validator("*", mode="after")
    @classmethod
    def _in_range(cls, value: Any, info: ValidationInfo) -> Any:
        from rag_agent.config_bounds import check_number

        kind = cls.model_fields[info.field_name].annotation
        if kind in (int, float) and not isinstance(value, bool):
            expected = check_number(dotted(cls, info.field_name), value, kind)
            if expected:
                raise ValueError(expected)
        return value

    @classmethod
    def leaf_keys(cls, prefix: str = "") -> list[str]:
        """Dotted names of every setting under this section (nested sections expanded)."""
        out = []
        for name, info in cls.model_fields.items():
            kind = info.annotation
            if isinstance(kind, type) and issubclass(kind, Section):
                out += kind.leaf_keys(f"{prefix}{name}.")
            else:
                out.append(f"{prefix}{name}")
        return out


def dotted(section: type[Section], name: str) -> str:
    return f"{section.section_path}.{name}" if section.section_path else name


def config_error(exc: ValidationError, section: type[Section]) -> ConfigError:
    """The first problem of a pydantic error as (dotted key=value, expected, fix)."""
    err = exc.errors(include_url=False)[0]
    loc = [str(part) for part in err["loc"]]
    owner = section
    for part in loc[:-1]:  # errors inside a nested section: find that section's class
        kind = owner.model_fields[part].annotation if part in owner.model_fields else None
        owner = kind if isinstance(kind, type) and issubclass(kind, Section) else owner
    key = dotted(owner, loc[-1]) if loc else section.section_path
    value = err.get("input")
    kind = err["type"]
    if kind == "extra_forbidden":
        from rag_agent.config_bounds import nearest_keys

        known = [dotted(owner, k) for k in owner.leaf_keys()]
        return ConfigError(key, "a known config key", f"did you mean {', '.join(nearest_keys(key, known))}?")
    if kind == "literal_error":
        allowed = typing.get_args(owner.model_fields[loc[-1]].annotation)
        return ConfigError(f"{key}={value!r}", f"one of {', '.join(map(str, allowed))}", f"set {key} to one of those")
    if kind == "value_error":
        expected = str(err["ctx"]["error"])
        if expected.startswith("a value of type"):
            return ConfigError(f"{key}={value!r}", expected, f"set {key} to {expected[len('a value of type '):]}")
        return ConfigError(f"{key}={value!r}", expected, f"set {key} to {expected}")
    word = next((w for w in _TYPE_WORDS if kind.startswith(w)), None)
    name = _TYPE_WORDS[word].__name__ if word else str(owner.model_fields[loc[-1]].annotation)
    return ConfigError(f"{key}={value!r}", f"a value of type {name}", f"set {key} to a {name}")


def to_toml(data: dict[str, Any], commented: bool = False) -> str:
    """Write nested dicts as TOML tables (`[training.embedder]`); tomllib only reads, and no TOML
    writer is installed. `commented`: every value commented out (the file documents the defaults)."""
    mark = "# " if commented else ""
    blocks: list[str] = []

    def table(name: str, values: dict[str, Any]) -> None:
        lines = [f"{mark}{k} = {_toml_value(v)}" for k, v in values.items() if not isinstance(v, dict)]
        if lines:  # a table holding only sub-tables (`[training]`) needs no header of its own
            blocks.append("\n".join(([f"[{name}]"] if name else []) + lines))
        for k, v in values.items():
            if isinstance(v, dict):
                table(f"{name}.{k}" if name else k, v)

    table("", data)
    header = "# ragloop workspace config: uncomment a line to pin a value (commented lines follow the defaults).\n" if commented else ""
    return header + "\n\n".join(blocks) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'
