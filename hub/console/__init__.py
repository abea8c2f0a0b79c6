"""The hub's web console: a read-only page on its own port, fed live by the API's watches.

``server`` serves the page, its assets and a server-sent-events stream (with the API's bearer
tokens); ``feed`` runs one set of watches for every open page; ``views`` turns the API's
messages into the small JSON documents the page renders.
"""
