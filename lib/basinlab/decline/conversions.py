"""Decline-rate conventions, unit constants and vectorised conversions.

Conventions (the same as petbox-dca and ComboCurve):

* time ``t`` in **days**; rates in **volume per day** (bbl/d for oil and water,
  mcf/d for gas); :data:`DAYS_PER_YEAR` = 365.25.
* ``di`` and ``dterm`` are **secant-effective annual declines** (fraction per
  year, e.g. ``0.65``).  For an exponential segment (``b = 0``) the secant- and
  tangent-effective declines coincide, so ``dterm`` (which caps the tail of a
  modified hyperbolic with an *exponential* segment) is unambiguous.
* The *nominal* decline ``D = -d ln q / dt`` is what the rate equations use.

Definitions (Arps 1945, "Analysis of Decline Curves", Trans. AIME 160, 228-247;
Fetkovich 1980, JPT 32(6), SPE-4629-PA):

* secant effective, ``b > 0``: ``d_sec = 1 - (1 + b D_nom) ** (-1/b)``, i.e. the
  fractional rate drop over the first year of a hyperbolic with exponent ``b``;
  as ``b -> 0`` it tends to the tangent effective decline.
* tangent effective: ``d_tan = 1 - exp(-D_nom)``.

Every function is a numpy ufunc-style composition: arguments broadcast, scalars
in give 0-d arrays out (use ``float()`` if a Python scalar is needed).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "DAYS_PER_YEAR",
    "DAYS_PER_MONTH",
    "MONTHS_PER_YEAR",
    "DEFAULT_DTERM",
    "B_MAX",
    "B_MIN",
    "B_EPS",
    "secant_to_nominal",
    "nominal_to_secant",
    "tangent_to_nominal",
    "nominal_to_tangent",
    "secant_to_tangent",
    "tangent_to_secant",
]

#: Days per year used by all annual declines (Julian year, as petbox-dca).
DAYS_PER_YEAR: float = 365.25
#: Months per year.
MONTHS_PER_YEAR: int = 12
#: Average days per month, 365.25 / 12.
DAYS_PER_MONTH: float = DAYS_PER_YEAR / MONTHS_PER_YEAR
#: Default terminal decline of the modified hyperbolic, secant (= tangent) effective per year.
DEFAULT_DTERM: float = 0.06
#: Upper bound of the Arps exponent accepted by the fitter (transient linear flow, b = 2).
B_MAX: float = 2.0
#: Lower bound of the Arps exponent (exponential decline).
B_MIN: float = 0.0
#: |b| below which the exponential limit of the hyperbolic expressions is used.
B_EPS: float = 1e-8

# Effective declines are clipped just below 100 %/yr: a 100 % decline is an
# infinite nominal decline.
_EFF_MAX = 1.0 - 1e-15


_B_TINY = 1e-200  # below this |b| the b -> 0 limit is used (avoids 0/0 and denormals)


def _series_expm1_over(x: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    """``expm1(b x) / b`` with its ``b -> 0`` limit ``x`` (no division by zero).

    ``expm1`` keeps full relative precision for small ``b x``, so the only special
    case is ``b`` (numerically) zero.
    """
    b = np.asarray(b, dtype=np.float64)
    tiny = np.abs(b) < _B_TINY
    with np.errstate(over="ignore", invalid="ignore"):
        if not tiny.any():
            return np.expm1(b * x) / b
        safe = np.where(tiny, 1.0, b)
        return np.where(tiny, x, np.expm1(safe * x) / safe)


def _series_log1p_over(x: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    """``log1p(b x) / b`` with its ``b -> 0`` limit ``x``."""
    b = np.asarray(b, dtype=np.float64)
    tiny = np.abs(b) < _B_TINY
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if not tiny.any():
            return np.log1p(b * x) / b
        safe = np.where(tiny, 1.0, b)
        return np.where(tiny, x, np.log1p(safe * x) / safe)


def tangent_to_nominal(d_tan: ArrayLike) -> NDArray[np.float64]:
    """Tangent-effective annual decline -> nominal annual decline.

    Parameters
    ----------
    d_tan : array_like
        Tangent effective decline, fraction per year, ``< 1`` (negative inclines).

    Returns
    -------
    ndarray
        Nominal decline, 1/year: ``-ln(1 - d_tan)``.
    """
    d = np.minimum(np.asarray(d_tan, dtype=np.float64), _EFF_MAX)
    return -np.log1p(-d)


def nominal_to_tangent(d_nom: ArrayLike) -> NDArray[np.float64]:
    """Nominal annual decline (1/year) -> tangent-effective annual decline (fraction/year).

    ``d_tan = 1 - exp(-d_nom)``.
    """
    return -np.expm1(-np.asarray(d_nom, dtype=np.float64))


def secant_to_nominal(d_sec: ArrayLike, b: ArrayLike) -> NDArray[np.float64]:
    """Secant-effective annual decline -> nominal annual decline (Arps 1945).

    Parameters
    ----------
    d_sec : array_like
        Secant effective decline, fraction per year, in ``[0, 1)``.
    b : array_like
        Arps exponent (dimensionless, ``>= 0``); ``b = 0`` gives the tangent
        (exponential) relation.

    Returns
    -------
    ndarray
        Nominal decline, 1/year: ``((1 - d_sec) ** -b - 1) / b``.
    """
    d = np.minimum(np.asarray(d_sec, dtype=np.float64), _EFF_MAX)
    b_ = np.asarray(b, dtype=np.float64)
    x = -np.log1p(-d)  # the tangent-nominal value, the b -> 0 limit
    return _series_expm1_over(x, b_)


def nominal_to_secant(d_nom: ArrayLike, b: ArrayLike) -> NDArray[np.float64]:
    """Nominal annual decline (1/year) -> secant-effective annual decline (fraction/year).

    ``d_sec = 1 - (1 + b d_nom) ** (-1/b)``; tends to ``1 - exp(-d_nom)`` as ``b -> 0``.
    """
    dn = np.asarray(d_nom, dtype=np.float64)
    b_ = np.asarray(b, dtype=np.float64)
    return -np.expm1(-_series_log1p_over(dn, b_))


def secant_to_tangent(d_sec: ArrayLike, b: ArrayLike) -> NDArray[np.float64]:
    """Secant-effective (at exponent ``b``) -> tangent-effective annual decline."""
    return nominal_to_tangent(secant_to_nominal(d_sec, b))


def tangent_to_secant(d_tan: ArrayLike, b: ArrayLike) -> NDArray[np.float64]:
    """Tangent-effective -> secant-effective (at exponent ``b``) annual decline."""
    return nominal_to_secant(tangent_to_nominal(d_tan), b)
