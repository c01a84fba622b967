"""Chalice app: registers blueprints and observability middleware, nothing else."""

from chalice import Chalice, ConvertToMiddleware

from chalicelib.api import assistants, docs, orgs, templates
from chalicelib.observability import logger, tracer

app = Chalice(app_name="voice-platform", configure_logs=False)
app.register_middleware(ConvertToMiddleware(logger.inject_lambda_context(clear_state=True)))
app.register_middleware(ConvertToMiddleware(tracer.capture_lambda_handler))

for blueprint in (orgs.bp, assistants.bp, templates.bp, docs.bp):
    app.register_blueprint(blueprint)
