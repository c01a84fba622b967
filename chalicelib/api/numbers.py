"""Placeholder: filled by the feature that owns this resource group."""

from chalice import Blueprint

bp = Blueprint(__name__)
