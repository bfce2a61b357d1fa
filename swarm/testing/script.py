"""The scripted model's script: JSONL lines saying what to answer, parsed and checked."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# "hang": never answers (until the client hangs up or the server stops); "trickle": answers one
# byte every trickle_s seconds; "timeout": answers 504 after TIMEOUT_FAULT_DELAY_S (or delay_s).
FAULTS = ("429", "500", "malformed", "cutoff", "timeout", "hang", "trickle")
KEYS = ("reply", "match", "repeat", "fault", "retry_after", "retry_after_form", "delay_s", "trickle_s",
        "finish_reason", "usage")
USAGE_KEYS = ("prompt_tokens", "completion_tokens")
RETRY_AFTER_FORMS = ("seconds", "http-date")
FINISH_REASONS = ("stop", "length", "content_filter")
TIMEOUT_FAULT_DELAY_S = 30.0
TRICKLE_S = 2.0
TRICKLED_REPLY = "a reply sent one byte at a time"  # a "trickle" line's reply when it gives none


class ScriptError(ValueError):
    """A script (file or line) is not valid; the message says where and what is wrong."""


@dataclass(frozen=True)
class ScriptLine:
    """One parsed script line: when it applies and how the model answers."""

    index: int
    where: str
    reply: str | None = None
    match: re.Pattern[str] | None = None
    repeat: bool = False
    fault: str | None = None
    retry_after: float = 1.0
    retry_after_form: str = "seconds"
    delay_s: float | None = None
    trickle_s: float = TRICKLE_S
    finish_reason: str = "stop"
    usage: dict[str, int] | None = None

    def matches(self, last_user: str) -> bool:
        """True when this line may answer a request whose last user message is `last_user`."""
        return self.match is None or self.match.search(last_user) is not None

    @property
    def wait_s(self) -> float | None:
        """Seconds to sleep before answering, or None to use the server's default."""
        if self.delay_s is None and self.fault == "timeout":
            return TIMEOUT_FAULT_DELAY_S
        return self.delay_s

    @property
    def hangs(self) -> bool:
        """True when the line never answers: its request waits until the client or the server gives up."""
        return self.fault == "hang"


def load_script(source: str | os.PathLike[str] | Iterable[Mapping[str, Any] | ScriptLine]) -> list[ScriptLine]:
    """Parse a script from a JSONL file path or from a list of dicts; raise ScriptError if invalid."""
    if isinstance(source, (str, os.PathLike)):
        return _load_file(Path(source))
    lines = []
    for index, item in enumerate(source):
        if isinstance(item, ScriptLine):
            lines.append(dataclasses.replace(item, index=index))
        else:
            lines.append(parse_line(item, index=index, where=f"script[{index}]"))
    return lines


def parse_line(obj: Any, *, index: int, where: str) -> ScriptLine:
    """Check one decoded script line and turn it into a ScriptLine."""
    if not isinstance(obj, Mapping):
        raise ScriptError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    unknown = [key for key in obj if key not in KEYS]
    if unknown:
        raise ScriptError(f"{where}: unknown key {unknown[0]!r}; allowed keys are {', '.join(KEYS)}")
    fault = _fault(obj.get("fault"), where)
    return ScriptLine(
        index=index,
        where=where,
        reply=_reply(obj.get("reply"), fault, where),
        match=_match(obj.get("match"), where),
        repeat=_repeat(obj.get("repeat", False), where),
        fault=fault,
        retry_after=_retry_after(obj, fault, where),
        retry_after_form=_word(obj, "retry_after_form", RETRY_AFTER_FORMS, "seconds", fault == "429",
                               '"fault": "429"', where),
        delay_s=None if obj.get("delay_s") is None else _seconds(obj["delay_s"], "delay_s", where),
        trickle_s=_trickle_s(obj, fault, where),
        finish_reason=_word(obj, "finish_reason", FINISH_REASONS, "stop", obj.get("reply") is not None,
                            'a "reply"', where),
        usage=_usage(obj.get("usage"), where),
    )


def _load_file(path: Path) -> list[ScriptLine]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScriptError(f"script file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScriptError(f"cannot read script file {path}: {exc}") from None
    lines = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        where = f"{path} line {lineno}"
        try:
            obj = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise ScriptError(f"{where}: invalid JSON: {exc.msg} (column {exc.colno})") from None
        lines.append(parse_line(obj, index=len(lines), where=where))
    return lines


def _fault(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if value not in FAULTS:
        raise ScriptError(f"{where}: \"fault\" must be one of {', '.join(FAULTS)}; got {value!r}")
    return value


def _reply(value: Any, fault: str | None, where: str) -> str | None:
    if value is None:
        if fault is None:
            raise ScriptError(f"{where}: missing \"reply\" (every line needs a reply unless it has a \"fault\")")
        return None
    return value if isinstance(value, str) else json.dumps(value)


def _match(value: Any, where: str) -> re.Pattern[str] | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ScriptError(f"{where}: \"match\" must be a regex string; got {type(value).__name__}")
    try:
        return re.compile(value, re.DOTALL)
    except re.error as exc:
        raise ScriptError(f"{where}: bad regex in \"match\" {value!r}: {exc}") from None


def _repeat(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise ScriptError(f"{where}: \"repeat\" must be true or false; got {value!r}")
    return value


def _retry_after(obj: Mapping[str, Any], fault: str | None, where: str) -> float:
    if obj.get("retry_after") is None:
        return 1.0
    if fault != "429":
        raise ScriptError(f"{where}: \"retry_after\" only applies to \"fault\": \"429\"")
    return _seconds(obj["retry_after"], "retry_after", where)


def _word(obj: Mapping[str, Any], key: str, words: tuple[str, ...], default: str, applies: bool, needs: str,
          where: str) -> str:
    value = obj.get(key)
    if value is None:
        return default
    if not applies:
        raise ScriptError(f"{where}: \"{key}\" only applies to a line with {needs}")
    if value not in words:
        raise ScriptError(f"{where}: \"{key}\" must be one of {', '.join(words)}; got {value!r}")
    return value


def _trickle_s(obj: Mapping[str, Any], fault: str | None, where: str) -> float:
    if obj.get("trickle_s") is None:
        return TRICKLE_S
    if fault != "trickle":
        raise ScriptError(f"{where}: \"trickle_s\" only applies to \"fault\": \"trickle\"")
    return _seconds(obj["trickle_s"], "trickle_s", where)


def _seconds(value: Any, key: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ScriptError(f"{where}: \"{key}\" must be a number of seconds >= 0; got {value!r}")
    return float(value)


def _usage(value: Any, where: str) -> dict[str, int] | None:
    if value is None:
        return None
    shape = '{"prompt_tokens": int, "completion_tokens": int}'
    if not isinstance(value, Mapping) or sorted(value) != sorted(USAGE_KEYS):
        raise ScriptError(f"{where}: \"usage\" must be {shape}; got {json.dumps(value)}")
    for key in USAGE_KEYS:
        count = value[key]
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ScriptError(f"{where}: \"usage\".{key} must be an integer >= 0; got {count!r}")
    return {key: value[key] for key in USAGE_KEYS}
