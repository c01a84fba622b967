"""Control-plane code of the voice-agent platform (shipped to Lambda by Chalice)."""
