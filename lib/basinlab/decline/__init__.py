"""Decline-curve analysis: Arps / modified hyperbolic / Duong / SEPD models,
batched robust fitting of whole production tables, forecasts and type curves;
:func:`forecast_wells` (the engineer's rules: last decline segment, recency
weighting, anchoring, uptime, economic limits, ratios, P10/P90) and
:func:`backtest` (forecast as of a past month, scored against what followed).

Conventions: time in days, rates in volume/day, ``di``/``dterm`` secant-effective
annual fractions, 365.25 days/year (petbox-dca / ComboCurve conventions); see
:mod:`basinlab.decline.conversions`.
"""

from .backtest import BacktestResult, backtest, field_lookback
from .conversions import (
    B_MAX,
    B_MIN,
    DAYS_PER_MONTH,
    DAYS_PER_YEAR,
    DEFAULT_DTERM,
    nominal_to_secant,
    nominal_to_tangent,
    secant_to_nominal,
    secant_to_tangent,
    tangent_to_nominal,
    tangent_to_secant,
)
from .engine import ForecastConfig, ForecastResult, forecast_wells
from .fitting import DEFAULT_Q_LIMITS, PHASE_UNITS, STATUSES, FitConfig, FitResult, fit, fit_wells
from .forecast import forecast
from .models import (
    ArpsModel,
    DeclineModel,
    Duong,
    Exponential,
    Harmonic,
    Hyperbolic,
    ModifiedHyperbolic,
    StretchedExponential,
    make_model,
)
from .ratios import RatioTrendRules
from .typecurves import type_curves

__all__ = [
    "B_MAX", "B_MIN", "DAYS_PER_MONTH", "DAYS_PER_YEAR", "DEFAULT_DTERM", "DEFAULT_Q_LIMITS",
    "PHASE_UNITS", "STATUSES",
    "nominal_to_secant", "nominal_to_tangent", "secant_to_nominal", "secant_to_tangent",
    "tangent_to_nominal", "tangent_to_secant",
    "FitConfig", "FitResult", "fit", "fit_wells", "forecast", "type_curves",
    "ForecastConfig", "ForecastResult", "forecast_wells", "RatioTrendRules",
    "BacktestResult", "backtest", "field_lookback",
    "ArpsModel", "DeclineModel", "Duong", "Exponential", "Harmonic", "Hyperbolic",
    "ModifiedHyperbolic", "StretchedExponential", "make_model",
]
