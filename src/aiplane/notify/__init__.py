"""Notifications: signed payloads delivered to destinations (webhooks; a recording fake)."""
