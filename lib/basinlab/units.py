"""Unit conversions used across basinlab, with their sources.

Canonical units: oil and water in bbl, gas in mcf (1,000 standard cubic feet),
BOE = oil + gas / 6 (6 mcf of gas ≈ 1 bbl of oil by energy content).
"""
from __future__ import annotations

#: barrels per cubic metre (API MPMS 11.5: 1 m³ = 6.28981 bbl)
BBL_PER_M3 = 6.28981
#: standard cubic feet per standard cubic metre of gas (15 °C, 101.325 kPa)
SCF_PER_SM3 = 35.3147
#: standard cubic feet per mcf
SCF_PER_MCF = 1000.0
#: mcf of gas per barrel of oil equivalent
MCF_PER_BOE = 6.0
