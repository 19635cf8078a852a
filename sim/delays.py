"""Delays: the network's draws (sim/draws.py) and the exact quantiles behind `rtt` (sim/timing.py).

`draw_delays` is what the network samples (numpy, imported when it draws). `DelayLaw` is the
same distribution in closed form (CDF, density, quantile) and `sum_quantile` the quantile of a
round trip, out plus back, found by integrating one leg's density against the other's CDF and
finding the root: pure Python, so that `consim validate` needs neither the kernel nor numpy.
tests/test_delay_quantiles.py checks every law against large samples of the network's draws.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np


def draw_delays(spec: Any, gen: np.random.Generator, count: int) -> np.ndarray:
    """`count` delays in ms of a non-constant delay spec: the network's draws, and the timing checks' estimate of them."""
    import numpy as np

    match spec.dist:
        case "uniform":
            return gen.uniform(spec.low, spec.high, count)
        case "normal":
            return np.maximum(gen.normal(spec.mean, spec.std, count), 0.0)
        case "lognormal":
            # The C library's exp, not numpy's: where the processor has AVX-512, np.exp runs numpy's
            # own vector code, which differs from the C library's exp in the last bit for about one
            # draw in twenty, and the same scenario and seed gave other journals on such a machine.
            normals = gen.normal(0.0, spec.sigma, count).tolist()
            return spec.median * np.fromiter(map(math.exp, normals), float, count)
        case "exponential":
            return spec.min + gen.exponential(spec.mean, count)
        case "pareto":
            return spec.scale * (1.0 + gen.pareto(spec.shape, count))
    raise ValueError(f"unknown delay distribution {spec.dist!r}")


# --- the largest draw: a law whose draws can overflow is refused at load ----------------------------

NORMAL_DRAW_MAX = 12.23
"""No standard normal draw of numpy's `Generator` is larger in size (12.226, rounded up).

Its ziggurat (random_standard_normal) draws beyond its base strip from the tail as r + x, with
r = 3.654 and x accepted only when x^2 < -2 log(1 - U) for a 53-bit uniform U, so x^2 < 2 * 53 ln 2."""
EXPONENTIAL_DRAW_MAX = 44.44
"""No standard exponential draw of numpy's `Generator` is larger (44.434, rounded up): its ziggurat's
tail gives r - log(1 - U), with r = 7.697 and -log(1 - U) at most 53 ln 2 for a 53-bit uniform U."""
_LOG_MAX = math.log(sys.float_info.max)


def overflow(spec: Any) -> tuple[str, str] | None:
    """The field of a delay spec, and the problem, when its largest possible draw is infinite (None: every draw is finite).

    An infinite draw is no delay: `math.exp` raises mid-run on a lognormal's, and the exact
    quantiles behind `rtt` chased an infinite bound without end. The bounds are those of the
    generator's draws (NORMAL_DRAW_MAX, EXPONENTIAL_DRAW_MAX), so nothing that can run is refused.
    """
    match spec.dist:
        case "normal" if spec.mean + NORMAL_DRAW_MAX * spec.std >= sys.float_info.max:
            most = (sys.float_info.max - spec.mean) / NORMAL_DRAW_MAX
            return "std", _too_big(spec.std, f"mean + {NORMAL_DRAW_MAX} * std", f"at most {most:.3g} ms here")
        case "lognormal" if spec.sigma * NORMAL_DRAW_MAX + max(0.0, _log(spec.median)) >= _LOG_MAX:
            most = (_LOG_MAX - max(0.0, _log(spec.median))) / NORMAL_DRAW_MAX
            return "sigma", _too_big(spec.sigma, f"median * exp({NORMAL_DRAW_MAX} * sigma)", f"at most {most:.3g} here")
        case "exponential" if spec.min + EXPONENTIAL_DRAW_MAX * spec.mean >= sys.float_info.max:
            most = (sys.float_info.max - spec.min) / EXPONENTIAL_DRAW_MAX
            return "mean", _too_big(spec.mean, f"min + {EXPONENTIAL_DRAW_MAX} * mean", f"at most {most:.3g} ms here")
        case "pareto" if EXPONENTIAL_DRAW_MAX / spec.shape + max(0.0, _log(spec.scale)) >= _LOG_MAX:
            least = EXPONENTIAL_DRAW_MAX / (_LOG_MAX - max(0.0, _log(spec.scale)))
            return "shape", _too_big(spec.shape, f"scale * exp({EXPONENTIAL_DRAW_MAX} / shape)", f"at least {least:.3g} here")
    return None


def _log(value: float) -> float:
    return math.log(value) if value > 0 else -math.inf


def _too_big(value: float, largest: str, bound: str) -> str:
    return f"{value:g} lets a delay overflow to infinity (the largest draw is {largest}, which must stay below 1.8e308 ms: {bound})"


# --- exact quantiles (what `rtt` and the one-way delay of sim/timing.py are) ----------------------

_SQRT2 = math.sqrt(2.0)
_SQRT2PI = math.sqrt(2.0 * math.pi)


def _upper_normal(z: float) -> float:
    """P(Z > z) for a standard normal Z (through erfc, accurate far into either tail)."""
    return 0.5 * math.erfc(z / _SQRT2)


def normal_quantile(p: float) -> float:
    """The standard normal's quantile at `p`, to double precision, in pure Python.

    Starts from Abramowitz and Stegun's 26.2.23 (error below 4.5e-4) and refines with Newton's
    method on the upper tail, which erfc gives to full relative precision.
    """
    if p <= 0.0:
        return -math.inf
    if p >= 1.0:
        return math.inf
    if p == 0.5:
        return 0.0
    tail = min(p, 1.0 - p)
    t = math.sqrt(-2.0 * math.log(tail))
    z = t - (2.515517 + 0.802853 * t + 0.010328 * t * t) / (1.0 + 1.432788 * t + 0.189269 * t * t + 0.001308 * t**3)
    for _ in range(4):
        density = math.exp(-0.5 * z * z) / _SQRT2PI
        if density == 0.0:
            break
        z += (_upper_normal(z) - tail) / density
    return z if p > 0.5 else -z


@dataclass(frozen=True)
class DelayLaw:
    """The distribution of one delay spec: its CDF, quantile function, and where its CDF is not smooth.

    A spec whose spread is zero (uniform low = high, std 0, sigma 0, mean 0) is its constant.
    """

    dist: str
    a: float
    b: float = 0.0

    @classmethod
    def of(cls, spec: Any) -> DelayLaw:
        """The law of a delay spec (sim/scenario_parts.py), in ms."""
        match spec.dist:
            case "constant":
                return cls("constant", float(spec.value))
            case "uniform" if spec.high > spec.low:
                return cls("uniform", float(spec.low), float(spec.high))
            case "uniform":
                return cls("constant", float(spec.low))
            case "normal" if spec.std > 0:
                return cls("normal", float(spec.mean), float(spec.std))
            case "normal":
                return cls("constant", max(float(spec.mean), 0.0))
            case "lognormal" if spec.sigma > 0 and spec.median > 0:
                return cls("lognormal", float(spec.median), float(spec.sigma))
            case "lognormal":
                return cls("constant", float(spec.median))
            case "exponential" if spec.mean > 0:
                return cls("exponential", float(spec.mean), float(spec.min))
            case "exponential":
                return cls("constant", float(spec.min))
            case "pareto" if spec.scale > 0:
                return cls("pareto", float(spec.scale), float(spec.shape))
            case "pareto":
                return cls("constant", 0.0)
        raise ValueError(f"unknown delay distribution {spec.dist!r}")

    @property
    def low(self) -> float:
        """The least delay the law gives (its support starts there)."""
        match self.dist:
            case "constant" | "uniform" | "pareto":
                return self.a
            case "exponential":
                return self.b
        return 0.0  # normal (clipped at 0) and lognormal

    @property
    def breaks(self) -> tuple[float, ...]:
        """The delays at which the CDF jumps or bends."""
        match self.dist:
            case "uniform":
                return (self.a, self.b)
            case "normal" | "lognormal":
                return (0.0,)
        return (self.low,)

    def cdf(self, x: float) -> float:
        """P(delay <= x)."""
        if x < self.low:
            return 0.0
        a, b = self.a, self.b
        match self.dist:
            case "constant":
                return 1.0
            case "uniform":
                return min(1.0, (x - a) / (b - a))
            case "normal":  # negative draws are clipped to 0: an atom there
                return 1.0 - _upper_normal((x - a) / b)
            case "lognormal":
                return 1.0 - _upper_normal(math.log(x / a) / b) if x > 0 else 0.0
            case "exponential":
                return -math.expm1(-(x - b) / a)
        return 1.0 - (a / x) ** b  # pareto

    @property
    def atom(self) -> float:
        """The probability of a delay of exactly 0 (a normal's negative draws, clipped), else 0."""
        return _upper_normal(self.a / self.b) if self.dist == "normal" else 0.0

    def density(self, x: float) -> float:
        """The density of the law's continuous part at x (0 outside its support; not for a constant)."""
        if x < self.low or (x <= 0.0 and self.dist in ("normal", "lognormal")):
            return 0.0
        a, b = self.a, self.b
        match self.dist:
            case "uniform":
                return 1.0 / (b - a) if x <= b else 0.0
            case "normal":
                z = (x - a) / b
                return math.exp(-0.5 * z * z) / (b * _SQRT2PI)
            case "lognormal":
                z = math.log(x / a) / b
                return math.exp(-0.5 * z * z) / (x * b * _SQRT2PI)
            case "exponential":
                return math.exp(-(x - b) / a) / a
            case "pareto":
                return b * a**b / x ** (b + 1.0)
        raise ValueError("a constant delay has no density")

    def quantile(self, u: float) -> float:
        """The least x with P(delay <= x) >= u, for u in (0, 1)."""
        a, b = self.a, self.b
        match self.dist:
            case "constant":
                return a
            case "uniform":
                return a + u * (b - a)
            case "normal":
                return max(0.0, a + b * normal_quantile(u))
            case "lognormal":
                return a * math.exp(b * normal_quantile(u))
            case "exponential":
                return b - a * math.log1p(-u)
        return a * (1.0 - u) ** (-1.0 / b)  # pareto


def _legendre(n: int) -> tuple[tuple[float, float], ...]:
    """Gauss-Legendre nodes and weights on [-1, 1] (Newton's method on P_n from the usual cosine guesses)."""
    rule = []
    for i in range(1, n + 1):
        x = math.cos(math.pi * (i - 0.25) / (n + 0.5))
        for _ in range(100):
            p0, p1 = 1.0, x
            for k in range(2, n + 1):
                p0, p1 = p1, ((2 * k - 1) * x * p1 - (k - 1) * p0) / k
            slope = n * (x * p1 - p0) / (x * x - 1.0)
            step = p1 / slope
            x -= step
            if abs(step) < 1e-16:
                break
        rule.append((x, 2.0 / ((1.0 - x * x) * slope * slope)))
    return tuple(rule)


_RULE = _legendre(10)


def _gauss(f: Any, lo: float, hi: float) -> float:
    mid, half = 0.5 * (lo + hi), 0.5 * (hi - lo)
    return half * sum(w * f(mid + half * x) for x, w in _RULE)


def _integrate(f: Any, lo: float, hi: float, tol: float, whole: float | None = None, depth: int = 0) -> float:
    """The integral of f over [lo, hi]: 10-point Gauss-Legendre, halving where it disagrees with its halves."""
    if whole is None:
        whole = _gauss(f, lo, hi)
    mid = 0.5 * (lo + hi)
    left, right = _gauss(f, lo, mid), _gauss(f, mid, hi)
    if abs(left + right - whole) <= tol or depth >= 30:
        return left + right
    return _integrate(f, lo, mid, tol / 2, left, depth + 1) + _integrate(f, mid, hi, tol / 2, right, depth + 1)


def sum_cdf(x: DelayLaw, y: DelayLaw, s: float, tol: float = 1e-10) -> float:
    """P(X + Y <= s) for independent X and Y: the integral of X's density times F_Y(s - x).

    Over X's support up to s - min Y (beyond it Y would have to be below its least value), split
    where either law's CDF jumps or bends, so that each piece is smooth; X's atom (a normal
    clipped at 0) adds its mass times F_Y(s - 0).
    """
    if x.dist == "constant":
        return y.cdf(s - x.a)
    if y.dist == "constant":
        return x.cdf(s - y.a)
    top = s - y.low
    if top < x.low:
        return 0.0
    cuts = {x.low, top}
    cuts.update(b for b in x.breaks)
    cuts.update(s - b for b in y.breaks)
    edges = sorted(c for c in cuts if x.low <= c <= top)

    def integrand(v: float) -> float:
        return x.density(v) * y.cdf(s - v)

    atom = x.atom * y.cdf(s) if x.atom else 0.0
    return atom + sum(_integrate(integrand, lo, hi, tol) for lo, hi in zip(edges, edges[1:], strict=False) if hi > lo)


def sum_quantile(x: DelayLaw, y: DelayLaw, q: float) -> float:
    """The q-quantile of X + Y for independent X and Y (a round trip: out and back), in ms.

    Exact up to floating point: a root of `sum_cdf` between two bounds that hold for any laws.
    """
    if x.dist == "constant":
        return x.a + y.quantile(q)
    if y.dist == "constant":
        return y.a + x.quantile(q)
    # F(lo) <= q: X + Y <= Q_X(q) + min Y needs X <= Q_X(q). F(hi) >= q: each leg is past its
    # (1 + q) / 2 quantile with probability at most (1 - q) / 2.
    lo = max(x.quantile(q) + y.low, y.quantile(q) + x.low)
    wide = (1.0 + q) / 2.0
    hi = x.quantile(wide) + y.quantile(wide)
    # The root is sought in log(1 - F(s)), which is close to linear in a tail, so that regula
    # falsi (Illinois variant: each step keeps the root bracketed) takes a handful of steps.
    goal = math.log1p(-q)

    def gap(s: float) -> float:
        return goal - math.log(max(1.0 - sum_cdf(x, y, s), 1e-300))

    f_lo, f_hi = gap(lo), gap(hi)
    if f_lo >= 0.0:
        return lo
    side = 0
    for _ in range(200):
        if hi - lo <= 1e-9 * hi:  # far below the three significant figures that rtt keeps
            break
        s = (lo * f_hi - hi * f_lo) / (f_hi - f_lo)
        if not lo < s < hi:
            s = 0.5 * (lo + hi)
        f = gap(s)
        if f >= 0.0:
            hi, f_hi = s, f
            if side == -1:
                f_lo /= 2.0
            side = -1
        else:
            lo, f_lo = s, f
            if side == 1:
                f_hi /= 2.0
            side = 1
    return hi
