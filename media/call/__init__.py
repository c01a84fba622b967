"""One live call: a small coordinator (``session``) composing parts that each do one job."""
