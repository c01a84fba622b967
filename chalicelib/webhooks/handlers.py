"""Webhook retry consumer (Chalice on_sqs_message) lives on this blueprint."""

from chalice import Blueprint

bp = Blueprint(__name__)
