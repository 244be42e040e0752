"""The operator's picture styles, from a TOML file (PICTURE_STYLES_FILE):

    [[style]]
    name = "ink"                        # what players pick
    prompt = "ink wash drawing, monochrome"
    negative = "color photo, 3d render"
    lora = "ink_style.safetensors"      # optional, in ComfyUI's models/loras
    lora_strength = 0.8                 # optional, -5..5 (default 1)
    vae = "vae-ft-mse.safetensors"      # optional, in ComfyUI's models/vae
    workflow = "sd15_lora"              # optional: a workflow with lora/vae bindings

A style of a built-in's name replaces it. Every value is bounded: a file that breaks a
bound stops start-up with one line saying where.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from storycraft_bot.core.errors import SettingsError
from storycraft_bot.core.models import PictureStyle
from storycraft_bot.core.styles import StyleBook

_FILE_NAME = r"^[\w.\-/ ]*$"  # a ComfyUI file name, relative to its model folder


class _Style(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=40, pattern=r"^[\w\- ]+$")
    prompt: str = Field(min_length=1, max_length=200)
    negative: str = Field("", max_length=200)
    lora: str = Field("", max_length=200, pattern=_FILE_NAME)
    lora_strength: float = Field(1.0, ge=-5.0, le=5.0)
    vae: str = Field("", max_length=200, pattern=_FILE_NAME)
    workflow: str = Field("", max_length=100, pattern=r"^[\w\-]*$")

    @field_validator("lora", "vae")
    @classmethod
    def _inside_its_folder(cls, name: str) -> str:
        if ".." in name or name.startswith("/"):
            raise ValueError("must name a file inside ComfyUI's model folder")
        return name


class _StyleFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    style: list[_Style] = Field(default_factory=list, max_length=50)


def load_style_book(path: Path | None) -> StyleBook:
    """The built-in styles with the file's over them (just the built-ins without a file)."""
    if path is None:
        return StyleBook()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        parsed = _StyleFile.model_validate(raw)
    except OSError as err:
        raise SettingsError(f"PICTURE_STYLES_FILE {path} cannot be read: {err}") from None
    except tomllib.TOMLDecodeError as err:
        raise SettingsError(f"PICTURE_STYLES_FILE {path} is not TOML: {err}") from None
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise SettingsError(f"PICTURE_STYLES_FILE {path}: {where}: {first['msg']}") from None
    return StyleBook.with_operator_styles(
        PictureStyle(
            s.name.strip().casefold(),
            s.prompt.strip(),
            s.negative.strip(),
            s.lora,
            s.lora_strength,
            s.vae,
            s.workflow,
        )
        for s in parsed.style
    )
