"""Delivery: packing operations into request bodies, sending them under one rate limit with
retries, and the resumable run that drives it."""
