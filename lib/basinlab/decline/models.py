"""Decline-curve models: Arps family, modified hyperbolic, Duong, stretched exponential.

All models are **vectorised**: every parameter may be a numpy array, and
parameters broadcast against each other and against ``t`` with ordinary numpy
rules (e.g. ``qi`` of shape ``(n, 1)`` and ``t`` of shape ``(m,)`` evaluate to
``(n, m)``: ``n`` parameter sets at ``m`` times, in one call).

Units and conventions (see :mod:`basinlab.decline.conversions`):

* ``t`` -- time since the model's ``t = 0`` (the fit start), **days**, ``t >= 0``.
* ``qi`` -- rate at ``t = 0`` in **volume per day** (bbl/d, mcf/d).
* ``di``, ``dterm`` -- **secant-effective annual** declines, fraction per year
  (``dterm`` caps an exponential tail, where secant = tangent effective).
* ``b`` -- Arps exponent, dimensionless.
* :meth:`D` returns the instantaneous **nominal** decline ``-d ln q / dt`` in
  **1/day** (multiply by :data:`DAYS_PER_YEAR` for 1/year).
* :meth:`cum` returns the cumulative volume since ``t = 0`` in **volume**
  (bbl, mcf) -- closed forms throughout, no numerical quadrature.

References
----------
* Arps, J.J. 1945. Analysis of Decline Curves. Trans. AIME 160: 228-247. SPE-945228-G.
* Fetkovich, M.J. 1980. Decline Curve Analysis Using Type Curves. JPT 32(6). SPE-4629-PA.
* Robertson, S. 1988. Generalized Hyperbolic Equation. SPE-18731-MS (modified hyperbolic:
  a hyperbolic that switches to an exponential once its decline reaches ``dterm``).
* Duong, A.N. 2011. Rate-Decline Analysis for Fracture-Dominated Shale Reservoirs.
  SPE Res Eval & Eng 14(3): 377-387. SPE-137748-PA.
* Valko, P.P. 2009. Assigning Value to Stimulation in the Barnett Shale (stretched
  exponential, SEPD). SPE-119369-MS.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import gamma as _gamma
from scipy.special import gammainc as _gammainc

from .conversions import (
    DAYS_PER_YEAR,
    DEFAULT_DTERM,
    _series_expm1_over,
    _series_log1p_over,
    nominal_to_secant,
    secant_to_nominal,
    tangent_to_nominal,
)

__all__ = [
    "DeclineModel",
    "ArpsModel",
    "Exponential",
    "Hyperbolic",
    "Harmonic",
    "ModifiedHyperbolic",
    "Duong",
    "StretchedExponential",
    "arps_rate_cum",
    "MODEL_NAMES",
    "make_model",
]

FloatArray = NDArray[np.float64]
_T_FAR = 1e250  # stands in for "never" (an infinite switch time) inside the kernels


def _f(x: ArrayLike) -> FloatArray:
    return np.asarray(x, dtype=np.float64)


# ---------------------------------------------------------------------------
# Arps / modified-hyperbolic kernels on nominal-per-day declines
# ---------------------------------------------------------------------------


def _switch_time(d_nom: FloatArray, b: FloatArray, dt_nom: FloatArray) -> FloatArray:
    """Time (days) at which the hyperbolic decline ``D/(1+bDt)`` falls to ``dt_nom``.

    ``0`` when the initial decline is already at or below the terminal one (the
    terminal decline acts as a floor), "never" (:data:`_T_FAR`) when there is no
    terminal decline or the segment is exponential (``b = 0``) above it.
    """
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        active = dt_nom > 0.0
        above = d_nom > dt_nom
        hyper = b > 0.0
        safe_dt = np.where(active, dt_nom, 1.0)
        safe_d = np.where(d_nom > 0.0, d_nom, 1.0)
        safe_b = np.where(hyper, b, 1.0)
        ts = (1.0 / safe_dt - 1.0 / safe_d) / safe_b
        ts = np.where(hyper & above, ts, _T_FAR)
        ts = np.where(active & ~above, 0.0, ts)
        ts = np.where(active, ts, _T_FAR)
    return np.minimum(np.nan_to_num(ts, nan=_T_FAR, posinf=_T_FAR), _T_FAR)


def arps_rate_cum(
    qi: ArrayLike,
    d_nom: ArrayLike,
    b: ArrayLike,
    dt_nom: ArrayLike,
    t: ArrayLike,
    *,
    want_rate: bool = True,
    want_cum: bool = True,
) -> tuple[FloatArray | None, FloatArray | None]:
    """Rate and cumulative of a modified hyperbolic from *nominal per-day* declines.

    The low-level kernel behind every Arps model and the fitter.

    Parameters
    ----------
    qi : array_like
        Initial rate, volume/day.
    d_nom : array_like
        Initial nominal decline, 1/day (``>= 0``).
    b : array_like
        Arps exponent (``>= 0``); ``0`` is exponential, ``1`` harmonic.
    dt_nom : array_like
        Terminal nominal decline, 1/day; ``0`` disables the terminal segment.
    t : array_like
        Time since ``t = 0``, days (``>= 0``).

    Returns
    -------
    (rate, cum) : tuple of ndarray or None
        Rate (volume/day) and cumulative (volume); ``None`` when not requested.

    Notes
    -----
    With ``te = min(t, t_switch)`` and ``s = t - te``::

        L    = ln(1 + b D te) / b                      (-> D te as b -> 0)
        q    = qi exp(-L) exp(-Dterm s)
        N    = qi / D * (1 - exp(-(1 - b) L)) / (1 - b)  (-> qi/D L at b = 1)
             + q(te) (1 - exp(-Dterm s)) / Dterm       (-> q(te) s at Dterm = 0)

    so the exponential, harmonic, hyperbolic and modified-hyperbolic cases are one
    expression, evaluated with series expansions at the removable singularities.
    """
    qi_, d_, b_, dt_, t_ = _f(qi), _f(d_nom), _f(b), _f(dt_nom), _f(t)
    ts = _switch_time(d_, b_, dt_)
    te = np.minimum(t_, ts)
    s = t_ - te
    L = _series_log1p_over(d_ * te, b_)
    q_e = np.exp(-L)
    if qi_.ndim or qi_ != 1.0:
        q_e = qi_ * q_e
    rate = cum = None
    if want_rate:
        rate = q_e * np.exp(-dt_ * s)
    if want_cum:
        H = _series_expm1_over(L, b_ - 1.0)  # (1 - exp(-(1-b) L)) / (1-b)
        pos = d_ > 0.0
        if pos.all():
            hyp = H * (qi_ / d_)
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                hyp = np.where(pos, H * (qi_ / np.where(pos, d_, 1.0)), qi_ * te)
        if np.all(dt_ == 0.0):
            cum = hyp + q_e * s
        else:
            cum = hyp + q_e * _series_expm1_over(s, -dt_)
    return rate, cum


def _arps_time_at_rate(
    qi: FloatArray, d_nom: FloatArray, b: FloatArray, dt_nom: FloatArray, q: FloatArray
) -> FloatArray:
    """Inverse of the modified-hyperbolic rate (days); 0 for ``q >= qi``, inf if never."""
    ts = _switch_time(d_nom, b, dt_nom)
    q_sw, _ = arps_rate_cum(qi, d_nom, b, dt_nom, ts, want_cum=False)
    assert q_sw is not None
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        lnr = np.log(qi / q)
        lnr = np.where(q <= 0.0, np.inf, np.maximum(lnr, 0.0))
        lnr_f = np.where(np.isfinite(lnr), lnr, 0.0)
        pos = d_nom > 0.0
        t_h = _series_expm1_over(lnr_f, b) / np.where(pos, d_nom, 1.0)
        t_h = np.where(pos, t_h, np.where(lnr_f > 0, np.inf, 0.0))
        t_h = np.where(np.isfinite(lnr), t_h, np.inf)
        dt_pos = dt_nom > 0.0
        t_t = ts + np.log(q_sw / q) / np.where(dt_pos, dt_nom, 1.0)
        t_t = np.where(dt_pos & (q > 0.0), t_t, np.inf)
        out = np.where(q >= q_sw, t_h, t_t)
    return np.where(np.isnan(out), np.inf, out)


class DeclineModel:
    """Common interface of every decline model (vectorised over parameters and time)."""

    #: short machine name, used in fit outputs
    name: str = ""

    def rate(self, t: ArrayLike) -> FloatArray:  # pragma: no cover - abstract
        """Rate at time ``t`` (days), volume/day."""
        raise NotImplementedError

    def cum(self, t: ArrayLike) -> FloatArray:  # pragma: no cover - abstract
        """Cumulative volume produced from ``t = 0`` to ``t`` (days)."""
        raise NotImplementedError

    def D(self, t: ArrayLike) -> FloatArray:  # pragma: no cover - abstract
        """Instantaneous nominal decline ``-d ln q / dt`` at ``t`` (days), **1/day**."""
        raise NotImplementedError

    def time_at_rate(self, q: ArrayLike) -> FloatArray:  # pragma: no cover - abstract
        """Time (days) at which the rate falls to ``q`` (volume/day); ``inf`` if never."""
        raise NotImplementedError

    def interval_volume(self, t0: ArrayLike, t1: ArrayLike) -> FloatArray:
        """Volume produced between ``t0`` and ``t1`` (days): ``cum(t1) - cum(t0)``."""
        return self.cum(t1) - self.cum(t0)

    def eur(self, q_limit: ArrayLike = 0.0, t_max: ArrayLike = np.inf) -> FloatArray:
        """Estimated ultimate recovery from ``t = 0``, volume.

        Parameters
        ----------
        q_limit : array_like
            Economic-limit rate, volume/day; production stops when the rate falls
            below it (``0`` = never).
        t_max : array_like
            Time cap, days since ``t = 0`` (``inf`` = none).

        Returns
        -------
        ndarray
            ``cum(min(time_at_rate(q_limit), t_max))``; may be ``inf`` for a
            hyperbolic with ``b >= 1``, no terminal decline, no limit and no cap.
        """
        t_end = np.minimum(self.time_at_rate(q_limit), _f(t_max))
        with np.errstate(invalid="ignore", over="ignore"):
            return self.cum(t_end)

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({params})"

    def params(self) -> dict[str, Any]:  # pragma: no cover - abstract
        """The model's public parameters."""
        raise NotImplementedError


class ArpsModel(DeclineModel):
    """Arps decline with an optional terminal exponential (the modified hyperbolic).

    Parameters
    ----------
    qi : array_like
        Initial rate at ``t = 0``, volume/day.
    di : array_like
        Initial decline, secant-effective, fraction per year (``0 <= di < 1``);
        ``0`` is a constant rate.
    b : array_like
        Arps exponent, dimensionless (``>= 0``).
    dterm : array_like
        Terminal decline, effective fraction per year (exponential, so secant ==
        tangent); ``0`` disables the terminal segment.  The terminal decline is a
        *floor*: once the hyperbolic's nominal decline ``D/(1 + bDt)`` reaches the
        terminal nominal decline the rate continues exponentially; if ``di`` is
        already at or below ``dterm`` the model is exponential at ``dterm`` from
        ``t = 0``.
    """

    name = "arps"

    def __init__(
        self, qi: ArrayLike, di: ArrayLike, b: ArrayLike = 0.0, dterm: ArrayLike = 0.0
    ) -> None:
        self.qi = _f(qi)
        self.di = _f(di)
        self.b = _f(b)
        self.dterm = _f(dterm)
        if np.any(self.b < 0.0):
            raise ValueError("b must be >= 0")
        if np.any((self.di < 0.0) | (self.di >= 1.0)) or np.any(
            (self.dterm < 0.0) | (self.dterm >= 1.0)
        ):
            raise ValueError("di and dterm are effective declines in [0, 1) per year")
        #: initial nominal decline, 1/day
        self.d_nominal = secant_to_nominal(self.di, self.b) / DAYS_PER_YEAR
        #: terminal nominal decline, 1/day
        self.dterm_nominal = tangent_to_nominal(self.dterm) / DAYS_PER_YEAR

    @property
    def t_switch(self) -> FloatArray:
        """Time of the switch to the terminal exponential, days (``inf`` = never)."""
        ts = _switch_time(self.d_nominal, self.b, self.dterm_nominal)
        return np.where(ts >= _T_FAR, np.inf, ts)

    def rate(self, t: ArrayLike) -> FloatArray:
        r, _ = arps_rate_cum(
            self.qi, self.d_nominal, self.b, self.dterm_nominal, t, want_cum=False
        )
        assert r is not None
        return r

    def cum(self, t: ArrayLike) -> FloatArray:
        _, c = arps_rate_cum(
            self.qi, self.d_nominal, self.b, self.dterm_nominal, t, want_rate=False
        )
        assert c is not None
        return c

    def D(self, t: ArrayLike) -> FloatArray:
        """Instantaneous nominal decline at ``t`` (days), **1/day**.

        ``max(D / (1 + b D t), Dterm)``: the hyperbolic decline floored at the
        terminal one.
        """
        t_ = _f(t)
        d_h = self.d_nominal / (1.0 + self.b * self.d_nominal * t_)
        return np.maximum(d_h, self.dterm_nominal)

    def D_secant(self, t: ArrayLike) -> FloatArray:
        """Instantaneous decline at ``t`` (days) as a secant-effective annual fraction."""
        t_ = _f(t)
        in_term = self.D(t_) <= self.dterm_nominal
        b_now = np.where(in_term, 0.0, self.b)
        return nominal_to_secant(self.D(t_) * DAYS_PER_YEAR, b_now)

    def time_at_rate(self, q: ArrayLike) -> FloatArray:
        qi, d, b, dt, q_ = np.broadcast_arrays(
            self.qi, self.d_nominal, self.b, self.dterm_nominal, _f(q)
        )
        return _arps_time_at_rate(qi, d, b, dt, q_)

    def params(self) -> dict[str, Any]:
        return {"qi": self.qi, "di": self.di, "b": self.b, "dterm": self.dterm}


class Exponential(ArpsModel):
    """Arps exponential decline (``b = 0``), Arps (1945).

    ``q = qi exp(-D t)``, ``D = -ln(1 - di) / 365.25`` per day.

    Parameters
    ----------
    qi : array_like
        Initial rate, volume/day.
    di : array_like
        Effective annual decline, fraction per year (secant == tangent for b = 0).
    """

    name = "exponential"

    def __init__(self, qi: ArrayLike, di: ArrayLike) -> None:
        super().__init__(qi, di, 0.0, 0.0)

    def params(self) -> dict[str, Any]:
        return {"qi": self.qi, "di": self.di}


class Hyperbolic(ArpsModel):
    """Arps hyperbolic decline, Arps (1945).

    ``q = qi (1 + b D t) ** (-1/b)`` with ``D`` the nominal decline per day from
    the secant-effective ``di``.  ``b -> 0`` and ``b = 1`` are handled by their
    limits (exponential, harmonic).

    Parameters
    ----------
    qi : array_like
        Initial rate, volume/day.
    di : array_like
        Initial secant-effective decline, fraction per year.
    b : array_like
        Arps exponent (dimensionless, ``>= 0``).
    """

    name = "hyperbolic"

    def __init__(self, qi: ArrayLike, di: ArrayLike, b: ArrayLike) -> None:
        super().__init__(qi, di, b, 0.0)

    def params(self) -> dict[str, Any]:
        return {"qi": self.qi, "di": self.di, "b": self.b}


class Harmonic(ArpsModel):
    """Arps harmonic decline (``b = 1``), Arps (1945): ``q = qi / (1 + D t)``.

    Parameters
    ----------
    qi : array_like
        Initial rate, volume/day.
    di : array_like
        Initial secant-effective decline (at ``b = 1``), fraction per year.
    """

    name = "harmonic"

    def __init__(self, qi: ArrayLike, di: ArrayLike) -> None:
        super().__init__(qi, di, 1.0, 0.0)

    def params(self) -> dict[str, Any]:
        return {"qi": self.qi, "di": self.di}


class ModifiedHyperbolic(ArpsModel):
    """Modified hyperbolic (Robertson 1988, SPE-18731-MS).

    An Arps hyperbolic whose instantaneous nominal decline ``D/(1 + b D t)``
    falls until it equals the terminal decline, from where the rate declines
    exponentially at ``dterm``.  Rate and cumulative are continuous at the switch
    time :attr:`t_switch`; both pieces are closed forms.

    Parameters
    ----------
    qi : array_like
        Initial rate, volume/day.
    di : array_like
        Initial secant-effective decline, fraction per year.
    b : array_like
        Arps exponent (dimensionless, ``>= 0``).
    dterm : array_like, default :data:`DEFAULT_DTERM` (0.06)
        Terminal effective decline, fraction per year (exponential segment, so the
        secant and tangent conventions agree -- same as petbox-dca ``MH.Dterm``).
    """

    name = "modified_hyperbolic"

    def __init__(
        self, qi: ArrayLike, di: ArrayLike, b: ArrayLike, dterm: ArrayLike = DEFAULT_DTERM
    ) -> None:
        super().__init__(qi, di, b, dterm)


class Duong(DeclineModel):
    """Duong (2011) model for fracture-dominated flow, SPE-137748-PA.

    ``q(t) = q1 t**(-m) exp(a / (1 - m) (t**(1 - m) - 1))`` and the exact
    cumulative ``N(t) = q1 / a exp(a / (1 - m) (t**(1 - m) - 1))`` (so
    ``q / N = a t**-m``, Duong's diagnostic).  Same convention as petbox-dca.

    Parameters
    ----------
    qi : array_like
        Rate at ``t = 1 day`` (Duong's ``q1``), volume/day.  The rate at ``t = 0``
        is 0 (the limit for ``m > 1``), so ``rate(0) != qi`` for this model.
    a : array_like
        Intercept of the ``q/N`` vs ``t`` log-log line, 1/day**(1-m); ``a > 0``.
    m : array_like
        Slope of that line, dimensionless; ``m > 1`` (the usual 1.0-1.5), which
        makes ``N(0) = 0`` and the EUR finite only with a limit or cap.
    """

    name = "duong"

    def __init__(self, qi: ArrayLike, a: ArrayLike, m: ArrayLike) -> None:
        self.qi, self.a, self.m = _f(qi), _f(a), _f(m)
        if np.any(self.m <= 1.0) or np.any(self.a <= 0.0):
            raise ValueError("Duong requires a > 0 and m > 1")

    def _arg(self, t: FloatArray) -> FloatArray:
        safe_t = np.where(t > 0.0, t, 1.0)
        val = self.a / (1.0 - self.m) * np.expm1((1.0 - self.m) * np.log(safe_t))
        return np.where(t > 0.0, val, -np.inf)

    def rate(self, t: ArrayLike) -> FloatArray:
        t_ = _f(t)
        safe_t = np.where(t_ > 0.0, t_, 1.0)
        with np.errstate(over="ignore", under="ignore"):
            r = self.qi * np.exp(self._arg(t_) - self.m * np.log(safe_t))
        return np.where(t_ > 0.0, r, 0.0)

    def cum(self, t: ArrayLike) -> FloatArray:
        t_ = _f(t)
        with np.errstate(over="ignore", under="ignore"):
            return self.qi / self.a * np.exp(self._arg(t_))

    def D(self, t: ArrayLike) -> FloatArray:
        """Nominal decline ``m/t - a t**-m``, **1/day** (negative while the rate rises)."""
        t_ = _f(t)
        with np.errstate(divide="ignore"):
            return self.m / t_ - self.a * t_ ** (-self.m)

    def time_at_rate(self, q: ArrayLike, *, t_hi: float = 1e7, iterations: int = 80) -> FloatArray:
        """Time (days) after the rate peak at which the rate falls to ``q``.

        The Duong rate rises to a peak at ``t_peak = (m / a) ** (1 / (1 - m))``
        and declines monotonically after it; this solves on the declining branch
        by vectorised bisection in ``ln t`` (``inf`` if the rate is still above
        ``q`` at ``t_hi`` days, ``t_peak`` if the peak rate is already below ``q``).
        """
        q_ = _f(q)
        shape = np.broadcast_shapes(self.qi.shape, self.a.shape, self.m.shape, q_.shape)
        t_peak = np.broadcast_to((self.m / self.a) ** (1.0 / (1.0 - self.m)), shape)
        lo = np.log(np.maximum(t_peak, 1e-12))
        hi = np.full(shape, np.log(t_hi))
        target = np.log(np.broadcast_to(np.maximum(q_, 1e-300), shape))
        for _ in range(iterations):
            mid = 0.5 * (lo + hi)
            above = np.log(np.maximum(self.rate(np.exp(mid)), 1e-300)) > target
            lo = np.where(above, mid, lo)
            hi = np.where(above, hi, mid)
        out = np.exp(0.5 * (lo + hi))
        out = np.where(self.rate(t_hi) > q_, np.inf, out)
        return np.where(self.rate(t_peak) <= q_, t_peak, out)

    def params(self) -> dict[str, Any]:
        return {"qi": self.qi, "a": self.a, "m": self.m}


class StretchedExponential(DeclineModel):
    """Stretched-exponential production decline (SEPD), Valko (2009), SPE-119369-MS.

    ``q(t) = qi exp(-(t / tau) ** n)``,
    ``N(t) = qi tau / n Gamma(1/n) P(1/n, (t/tau)**n)`` (``P`` the regularised
    lower incomplete gamma), so the EUR without limit is ``qi tau / n Gamma(1/n)``.

    Parameters
    ----------
    qi : array_like
        Initial rate, volume/day.
    tau : array_like
        Characteristic time, **days** (``> 0``).
    n : array_like
        Stretching exponent, dimensionless, ``0 < n <= 1`` (``n = 1`` is exponential).
    """

    name = "stretched_exponential"

    def __init__(self, qi: ArrayLike, tau: ArrayLike, n: ArrayLike) -> None:
        self.qi, self.tau, self.n = _f(qi), _f(tau), _f(n)
        if np.any(self.tau <= 0.0) or np.any((self.n <= 0.0) | (self.n > 1.0)):
            raise ValueError("SEPD requires tau > 0 and 0 < n <= 1")

    def rate(self, t: ArrayLike) -> FloatArray:
        t_ = np.maximum(_f(t), 0.0)
        return self.qi * np.exp(-((t_ / self.tau) ** self.n))

    def cum(self, t: ArrayLike) -> FloatArray:
        t_ = np.maximum(_f(t), 0.0)
        inv_n = 1.0 / self.n
        return self.qi * self.tau * inv_n * _gamma(inv_n) * _gammainc(inv_n, (t_ / self.tau) ** self.n)

    def D(self, t: ArrayLike) -> FloatArray:
        """Nominal decline ``n / tau (t / tau) ** (n - 1)``, **1/day** (``inf`` at ``t = 0`` for ``n < 1``)."""
        t_ = _f(t)
        with np.errstate(divide="ignore"):
            return self.n / self.tau * (t_ / self.tau) ** (self.n - 1.0)

    def time_at_rate(self, q: ArrayLike) -> FloatArray:
        q_ = _f(q)
        with np.errstate(divide="ignore", invalid="ignore"):
            lnr = np.log(self.qi / q_)
        lnr = np.where(q_ <= 0.0, np.inf, np.maximum(lnr, 0.0))
        return self.tau * lnr ** (1.0 / self.n)

    def params(self) -> dict[str, Any]:
        return {"qi": self.qi, "tau": self.tau, "n": self.n}


#: Model names accepted by the fitter and :func:`make_model`.
MODEL_NAMES: tuple[str, ...] = ("modified_hyperbolic", "hyperbolic", "exponential", "harmonic")


def make_model(name: str, qi: ArrayLike, di: ArrayLike, b: ArrayLike, dterm: ArrayLike) -> ArpsModel:
    """Build the Arps-family model named in a fit result from its parameter columns.

    All Arps-family fits are expressed as ``(qi, di, b, dterm)``: an exponential
    has ``b = 0``, a harmonic ``b = 1``, plain hyperbolic ``dterm = 0``.
    """
    if name not in MODEL_NAMES:
        raise ValueError(f"unknown Arps model {name!r}; expected one of {MODEL_NAMES}")
    return ArpsModel(qi, di, b, dterm)
