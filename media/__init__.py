"""The media service: Twilio Media Streams in, a Pipecat pipeline per call, results to the control plane."""
