"""Streams of records: the inference log that endpoints write and drift monitors read; a
local log when embedded, NATS JetStream in production."""
