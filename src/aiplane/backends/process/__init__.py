"""Replicas as supervised local processes: what the ``local`` and ``emulated`` backends share.

Kept free of imports: ``supervise`` starts once per replica and must stay light.
"""
