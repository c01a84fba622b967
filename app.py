"""Chalice app: registers blueprints and observability middleware, nothing else."""

from chalice.app import Chalice, ConvertToMiddleware

from chalicelib.api import (
    assistants,
    byok,
    calls,
    campaigns,
    console,
    docs,
    domains,
    evals,
    numbers,
    orgs,
    scheduled,
    sip_trunks,
    templates,
    twilio_callbacks,
    usage,
    voices,
)
from chalicelib.observability import get_tracer, logger, metrics, tracing_enabled
from chalicelib.webhooks import handlers as webhook_handlers
from chalicelib.workflows import tasks as workflow_tasks

app = Chalice(app_name="voice-platform", configure_logs=False)
app.register_middleware(ConvertToMiddleware(logger.inject_lambda_context(clear_state=True)))
app.register_middleware(ConvertToMiddleware(metrics.log_metrics))
if tracing_enabled():
    app.register_middleware(ConvertToMiddleware(get_tracer().capture_lambda_handler))

for module in (orgs, assistants, templates, numbers, sip_trunks, byok, voices, domains, usage, calls,
               twilio_callbacks, campaigns, evals, docs, console, scheduled, webhook_handlers,
               workflow_tasks):
    app.register_blueprint(module.bp)
