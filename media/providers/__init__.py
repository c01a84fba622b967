"""Pipecat services from an assistant config, one module per vendor, and ring-time warm-up.

Entry points: ``factory.build_services``, ``keys.resolve_keys``, ``warm.warm_up`` /
``warm.realtime_greeting`` and ``greeting.greeting_stream``. How to add a provider and how to make
one warmable at ring time: ``media.providers.base``. Nothing is imported here (Pipecat loads on use).
"""
