"""Fetching: a polite HTTP client, an on-disk cache, a network guard, and image decoding."""
