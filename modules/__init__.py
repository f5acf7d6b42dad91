"""Switchboard internal systems; no web imports here."""
