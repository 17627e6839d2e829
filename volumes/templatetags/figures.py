"""How figures are printed: as precise as they are meaningful, not as floats come.

A volume is given to 3 decimals of a millilitre (whole mm³) from 1 mL up, and to 3 significant
digits below; modality values (HU) to 1 decimal.
"""
import math

from django import template
from django.template.defaultfilters import floatformat

register = template.Library()

ONE_ML_IN_MM3 = 1000.0


@register.filter
def mm3(value) -> str:
    """143280.029 → '143,280'; 12.3456 → '12.3'."""
    if value is None:
        return ""
    value = float(value)
    if abs(value) >= ONE_ML_IN_MM3:
        return floatformat(value, "0g")
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


@register.filter
def ml(value_mm3) -> str:
    """A volume in mm³, printed in mL: 143280.029 → '143.280'; 12.3456 → '0.0123'."""
    if value_mm3 is None:
        return ""
    value = float(value_mm3) / ONE_ML_IN_MM3
    if abs(value) >= 1:
        return floatformat(value, "3g")
    return significant(value)


@register.filter
def modality_value(value) -> str:
    """A modality value (HU on CT) to 1 decimal, without a trailing '.0': 57.633 → '57.6', -26.0 → '-26'."""
    if value is None:
        return ""
    return floatformat(value, "-1g")


def significant(value: float, digits: int = 3) -> str:
    """`digits` significant digits, in plain decimals (no exponent): 0.000123 → '0.000123'."""
    if value == 0:
        return "0"
    return floatformat(value, f"-{significant_decimals(value, digits)}g")


def significant_decimals(value: float, digits: int = 3) -> int:
    """The decimals that give `value` `digits` significant digits (none for whole numbers past them)."""
    if value == 0:
        return 0
    return max(0, digits - 1 - math.floor(math.log10(abs(value))))
