"""Step Functions task functions (Chalice lambda_functions) live on this blueprint."""

from chalice import Blueprint

bp = Blueprint(__name__)
