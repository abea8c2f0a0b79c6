"""The agent's link to the hub: desired sets down, status up, over one gRPC stream."""
