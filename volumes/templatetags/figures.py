"""The figures' template filters ({% load figures %}): volumes/figures.py, as the command prints them."""
from django import template

from .. import figures

register = template.Library()
register.filter("mm3", figures.mm3)
register.filter("ml", figures.ml)
register.filter("modality_value", figures.modality_value)
