"""Sampling settings of a conversation and the named presets people start from."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace

from models.generation import GenerationSettings

CUSTOM = "Custom"


@dataclass(frozen=True)
class ChatSettings:
    """How a conversation samples its replies. `preset` names the preset whose sampling values
    these are, or "Custom"; it follows the values and is never set by hand."""

    preset: str = field(default="Balanced", init=False)
    temperature: float = 0.7
    top_p: float = 0.9
    top_k: int = 40
    max_new_tokens: int = 512
    repetition_penalty: float = 1.1
    seed: int | None = None

    def __post_init__(self):
        object.__setattr__(self, "preset", matching_preset(self))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict | None) -> "ChatSettings":
        """Tolerant of older and newer files: unknown keys are ignored, missing ones take defaults,
        values of the wrong type fall back to the default."""
        defaults = cls()
        values = {}
        for f in fields(cls):
            if not data or f.name not in data:
                continue
            value, default = data[f.name], getattr(defaults, f.name)
            try:
                if f.name == "seed":
                    values[f.name] = None if value in (None, "") else int(value)
                elif f.name == "preset":
                    continue  # follows from the values
                else:
                    values[f.name] = type(default)(value)
            except (TypeError, ValueError):
                continue
        return cls(**values).checked()

    def checked(self) -> "ChatSettings":
        """The same settings with every value brought into its valid range."""
        return replace(
            self,
            temperature=min(max(self.temperature, 0.0), 5.0),
            top_p=min(max(self.top_p, 0.01), 1.0),
            top_k=max(int(self.top_k), 0),
            max_new_tokens=max(int(self.max_new_tokens), 1),
            repetition_penalty=min(max(self.repetition_penalty, 0.5), 3.0),
        )

    def with_values(self, **changes) -> "ChatSettings":
        """Change some values; the preset name becomes "Custom" unless the result equals a preset."""
        return replace(self, **changes).checked()

    def generation(self) -> GenerationSettings:
        return GenerationSettings(
            temperature=self.temperature, top_p=self.top_p, top_k=self.top_k,
            max_new_tokens=self.max_new_tokens, repetition_penalty=self.repetition_penalty, seed=self.seed,
        )


# Sampling values of each preset; max new tokens and seed are the user's own.
PRESETS: dict[str, dict] = {
    # Low temperature, narrow sampling: factual answers, code, extraction.
    "Precise": dict(temperature=0.2, top_p=0.8, top_k=20, repetition_penalty=1.1),
    "Balanced": dict(temperature=0.7, top_p=0.9, top_k=40, repetition_penalty=1.1),
    # Flatter distribution, wider nucleus: brainstorming and stories.
    "Creative": dict(temperature=1.0, top_p=0.95, top_k=100, repetition_penalty=1.05),
}
DEFAULT_PRESET = "Balanced"

_SAMPLING = ("temperature", "top_p", "top_k", "repetition_penalty")


def preset(name: str, base: ChatSettings | None = None) -> ChatSettings:
    """The preset's sampling values; max new tokens and seed are kept from `base`."""
    if name not in PRESETS:
        raise ValueError(f"no preset named {name!r} (choose one of {', '.join(PRESETS)})")
    return replace(base or ChatSettings(), **PRESETS[name])


def matching_preset(settings: ChatSettings) -> str:
    for name, values in PRESETS.items():
        if all(abs(float(getattr(settings, k)) - float(values[k])) < 1e-9 for k in _SAMPLING):
            return name
    return CUSTOM
