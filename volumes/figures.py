"""How figures are printed: as precise as they are meaningful, not as floats come.

A volume is given to 3 decimals of a millilitre (whole mm³) from 1 mL up, and to 3 significant
digits below; modality values (HU) to 1 decimal. Printed as Django's floatformat prints them (half
up, thousands separated by commas), without its locale machinery: `manage.py measure` prints these
figures without loading the apps, which floatformat needs, nor the template engine (the templates'
filters are these functions: templatetags/figures.py).
"""
import math
from decimal import ROUND_HALF_UP, Decimal


ONE_ML_IN_MM3 = 1000.0


def mm3(value) -> str:
    """143280.029 → '143,280'; 12.3456 → '12.3'."""
    if value is None:
        return ""
    value = float(value)
    if abs(value) >= ONE_ML_IN_MM3:
        return fixed(value, 0)
    return significant(value)


def mm3_decimals(value_mm3: float) -> int:
    """The decimals a volume in mm³ is given to: none from 1 mL up (3 decimals of a mL), else 3 significant digits."""
    return 0 if abs(value_mm3) >= ONE_ML_IN_MM3 else significant_decimals(value_mm3)


def plain_figures(volume_mm3, threshold_modality) -> tuple[str, str, str]:
    """(mm³, mL, modality value) as a spreadsheet should read them: the page's precision, no thousands
    separators, trailing zeros kept; '' for what is unknown. 143280.029, -26 → '143280', '143.280', '-26.0'."""
    if volume_mm3 is None:
        mm3_text = ml_text = ""
    else:
        decimals = mm3_decimals(float(volume_mm3))
        mm3_text = f"{float(volume_mm3):.{decimals}f}"
        ml_text = f"{float(volume_mm3) / ONE_ML_IN_MM3:.{decimals + 3}f}"
    return mm3_text, ml_text, "" if threshold_modality is None else f"{float(threshold_modality):.1f}"


def ml(value_mm3) -> str:
    """A volume in mm³, printed in mL: 143280.029 → '143.280'; 12.3456 → '0.0123'."""
    if value_mm3 is None:
        return ""
    value = float(value_mm3) / ONE_ML_IN_MM3
    if abs(value) >= 1:
        return fixed(value, 3)
    return significant(value)


def modality_value(value) -> str:
    """A modality value (HU on CT) to 1 decimal, without a trailing '.0': 57.633 → '57.6', -26.0 → '-26'."""
    if value is None:
        return ""
    return fixed(value, 1, whole_without_decimals=True)


def significant(value: float, digits: int = 3) -> str:
    """`digits` significant digits, in plain decimals (no exponent): 0.000123 → '0.000123'."""
    if value == 0:
        return "0"
    return fixed(value, significant_decimals(value, digits), whole_without_decimals=True)


def significant_decimals(value: float, digits: int = 3) -> int:
    """The decimals that give `value` `digits` significant digits (none for whole numbers past them)."""
    if value == 0:
        return 0
    return max(0, digits - 1 - math.floor(math.log10(abs(value))))


def fixed(value, decimals: int, whole_without_decimals: bool = False) -> str:
    """`value` to `decimals` decimals, rounded half up, thousands separated by commas; with
    `whole_without_decimals`, a whole number without them (floatformat's "-Ng"): 26.0 → '26'."""
    number = Decimal(repr(float(value)))
    if whole_without_decimals and number == number.to_integral_value():
        decimals = 0
    rounded = number.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
    return f"{abs(rounded) if rounded == 0 else rounded:,.{decimals}f}"
