"""The agent's pure decisions: frozen views in, plans out, no I/O.

Modules, one job each: `model` (the views and enums), `wire` (label and annotation keys),
`intstr` (int-or-percent values), `revision`, `scaling`, `state`, `updates`,
`status`, `autoscale`.
"""
