"""Parsing of human-friendly units: durations ("150ms", "2s", "8rtt", "max(300ms, 8rtt)") and rates ("200/s")."""

from __future__ import annotations

import math
import re
from types import MappingProxyType

_DURATION_RE = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(us|µs|ms|s|m|min|h)?\s*$")
_DURATION_SCALE_MS = MappingProxyType({"us": 1e-3, "µs": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "min": 60_000.0, "h": 3_600_000.0})
_RTT_RE = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*rtt\s*$")
_MAX_RE = re.compile(r"^\s*max\s*\((.*)\)\s*$")
_RATE_RE = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*/\s*(ms|s|m|min|h)\s*$")
_SIZE_RE = re.compile(r"^\s*(\d+\.?\d*)\s*(B|KB|MB|GB|Kbit|Mbit|Gbit)?\s*(/s)?\s*$", re.IGNORECASE)
_SIZE_SCALE = MappingProxyType({"b": 1.0, "kb": 1e3, "mb": 1e6, "gb": 1e9, "kbit": 125.0, "mbit": 125e3, "gbit": 125e6})


class NotFiniteError(ValueError):
    """A quantity that is infinite or not a number: '1e400ms', YAML's .inf or .nan, a size past the largest float."""


def _finite(number: float, value: object) -> float:
    """`number`, parsed from `value`, if it is finite.

    An infinite duration never ends a run (nor a timer), and an infinite or NaN rate, size or
    bandwidth makes every later sum infinite or NaN; no setting means that, so it is refused where it is read.
    """
    if not math.isfinite(number):
        raise NotFiniteError(f"must be finite (got {_shown(value)})")
    return number


def _number(text: object, value: object) -> float:
    """`float(text)`, refusing what overflows: an integer past the largest float raises OverflowError there."""
    try:
        return _finite(float(text), value)  # type: ignore[arg-type]
    except OverflowError:
        raise NotFiniteError(f"must be finite (got {_shown(value)})") from None


def _shown(value: object) -> str:
    text = repr(value.strip() if isinstance(value, str) else value)
    return text if len(text) <= 40 else f"{text[:20]}...{text[-10:]} ({len(text)} characters)"


def parse_duration(value: object, rtt: float | None = None) -> float:
    """Parse a duration into milliseconds; bare numbers are milliseconds.

    Besides absolute units, a duration may be relative to the network: "8rtt" is eight times
    `rtt` (the scenario's round trip, see sim/timing.py), and "max(300ms, 8rtt)" the largest
    of several durations.

    Raises:
        ValueError: if the value is not a number or a number with a unit (us, ms, s, m, h, rtt),
            or uses rtt where no round trip is known (`rtt` is None).
        NotFiniteError: (a ValueError) if it is infinite or NaN, written so or overflowing ('1e400ms').

    """
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as '150ms' or '2s', got {value!r}")
    if isinstance(value, int | float):
        return _number(value, value)
    if isinstance(value, str):
        match = _DURATION_RE.match(value)
        if match:
            return _finite(_number(match.group(1), value) * _DURATION_SCALE_MS[match.group(2) or "ms"], value)
        match = _RTT_RE.match(value)
        if match:
            if rtt is None:
                raise ValueError(f"{value.strip()!r}: 'rtt' is known only in protocol and workload settings")
            return _finite(_number(match.group(1), value) * rtt, value)
        match = _MAX_RE.match(value)
        if match and match.group(1).strip():
            return max(parse_duration(part, rtt) for part in match.group(1).split(","))
    raise ValueError(f"expected a duration such as '150ms', '2s' or '8rtt', got {value!r}")


def parse_scenario_duration(value: object, rtt: float | None = None) -> float:
    """Parse a duration written in a scenario: a non-zero number needs its unit ('10ms', '2s').

    A bare `duration: 10` used to mean 10 ms and quietly run nothing; 0 needs no unit.

    Raises:
        ValueError: for a bare non-zero number, or anything `parse_duration` refuses.

    """
    bare = isinstance(value, int | float) and not isinstance(value, bool)
    if isinstance(value, str):
        match = _DURATION_RE.match(value)
        bare = match is not None and match.group(2) is None
    ms = parse_duration(value, rtt)
    if bare and ms != 0:
        number = value.strip() if isinstance(value, str) else _shortest(float(value))
        raise ValueError(f"a duration needs a unit: '{number}ms' or '{number}s' (got {value!r})")
    return ms


def parse_rate(value: object) -> float:
    """Parse a rate into events per second; bare numbers are per second.

    Raises:
        ValueError: if the value is not a number or 'N/s', 'N/ms', 'N/min', 'N/h'.
        NotFiniteError: (a ValueError) if it is infinite or NaN ('1e400/s').

    """
    if isinstance(value, bool):
        raise ValueError(f"expected a rate such as '200/s', got {value!r}")
    if isinstance(value, int | float):
        return _number(value, value)
    if isinstance(value, str):
        match = _RATE_RE.match(value)
        if match:
            per_ms = _DURATION_SCALE_MS[match.group(2)]
            return _finite(_number(match.group(1), value) * 1000.0 / per_ms, value)
    raise ValueError(f"expected a rate such as '200/s', got {value!r}")


def parse_bandwidth(value: object) -> float:
    """Parse a bandwidth into bytes per second; bare numbers are bytes per second.

    A bare number stays accepted: a saved run's scenario.yaml writes the bandwidth that way.

    Raises:
        ValueError: if the value is not a number or a size per second ('10MB/s', '1Gbit/s'); a size
            without '/s' ('10MB') is refused, as it is not a rate.
        NotFiniteError: (a ValueError) if it is infinite or NaN (a number too long for a float).

    """
    if isinstance(value, bool):
        raise ValueError(f"expected a bandwidth such as '10MB/s', got {value!r}")
    if isinstance(value, int | float):
        return _number(value, value)
    if isinstance(value, str):
        match = _SIZE_RE.match(value)
        if match and match.group(2) and not match.group(3):
            raise ValueError(f"{value.strip()!r} needs a rate unit such as {value.strip()}/s")
        if match:
            return _finite(_number(match.group(1), value) * _SIZE_SCALE[(match.group(2) or "B").lower()], value)
    raise ValueError(f"expected a bandwidth such as '10MB/s' or '1Gbit/s', got {value!r}")


def parse_size(value: object) -> int:
    """Parse a size into bytes ('4KB', '1MB', or a bare number of bytes).

    Raises:
        ValueError: if the value is not a whole number of bytes or a size such as '4KB'.
        NotFiniteError: (a ValueError) if it is past the largest float (every byte count is summed as one).

    """
    if isinstance(value, int) and not isinstance(value, bool):
        _number(value, value)
        return value
    if isinstance(value, str) and "/" not in value:
        match = _SIZE_RE.match(value)
        if match:
            return round(_finite(_number(match.group(1), value) * _SIZE_SCALE[(match.group(2) or "B").lower()], value))
    raise ValueError(f"expected a size such as '4KB' or '1MB', got {value!r}")


def format_ms(ms: float) -> str:
    """Format milliseconds compactly and exactly: parse_duration(format_ms(x)) == x."""
    if ms >= 1000 and ms % 1000 == 0:
        return f"{_shortest(ms / 1000)}s"
    return f"{_shortest(ms)}ms"


def _shortest(value: float) -> str:
    # repr is the shortest text that reads back as the same float; "1500.0" reads better as "1500".
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text
