"""The hub's pure core: validation, placement and the document helpers they share. No I/O.

Modules, one job each: `errors` (FieldError, ValidationError), `paths` (field paths), `names`
(Kubernetes naming rules), `documents` (message <-> document), `merge_patch` (RFC 7386),
`selectors` (label selectors), `values` (int-or-percent and priorities), `network_types`,
`pod_template`, `service_qualities` and `template_validation` (the GameServerSet template),
`validation` (Fleet and Cluster), `conditions`, `apportion` (integer shares), `placement` and
`allocation` (which server a match gets), `server_refs` (game servers by CLUSTER/NAME),
`limits` (what an agent may send).
"""
