"""OKG's autoscaling hook: KEDA's external scaler, served by every agent replica from its caches.

`changes` wakes the streams that follow a set; `service` answers KEDA's calls with the formulas
of `agent.core.autoscale`; `server` runs them as a gRPC server with health and reflection.
"""
