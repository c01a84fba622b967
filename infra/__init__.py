"""The CDK app that deploys the platform (``infra/app.py``), its configuration and stacks."""
