"""Rate limits and quotas per key: token buckets and daily counters, in memory or in Redis."""
