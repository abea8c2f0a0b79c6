"""The hub's security material: its certificate authority, agent identities and user tokens.

Pure of gRPC and of the store: the API layer (``hub.api.auth``) turns these into credentials
and checks.
"""
