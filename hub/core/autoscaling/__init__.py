"""Fleet autoscaling, pure: policies (buffer, schedule, chain, the webhook's review), how a
decided total splits over clusters, and the limits on how fast it moves. No I/O here; the
runtime that calls these lives in hub.federation.autoscaler."""
