"""Transports: how a call's audio reaches the media service (Twilio Media Streams today)."""
