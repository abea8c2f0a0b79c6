"""The hub's gRPC edge: servicers, error mapping, the server."""
