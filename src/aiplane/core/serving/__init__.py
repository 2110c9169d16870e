"""Serving, pure: endpoints (what is served where, to whom), the routing table the gateway
reads, the loads it reports, access, autoscaling decisions."""
