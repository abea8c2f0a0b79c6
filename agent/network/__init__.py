"""Network plugins at run time: what each `networkType` writes (pod fields, Services) and
reads back (addresses, readiness). The pure parts live in `agent.core.network`
(planning: ports, bodies, statuses) and `okg.network` (the parameters)."""
