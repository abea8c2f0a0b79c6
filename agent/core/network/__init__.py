"""Network plugins, the agent's pure planning: the host-port and load-balancer port tables,
the Services and custom resources the plugins write, and the statuses they read back. The
parameters (`networkConf` parsed into frozen confs) are OKG's model, in `okg.network`."""
