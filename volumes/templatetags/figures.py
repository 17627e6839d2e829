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
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    return floatformat(value, f"-{decimals}g")
