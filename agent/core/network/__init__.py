"""Network plugins, the pure part: `networkConf` parsing and validation, the host-port
allocator, and the shapes of the objects and statuses the plugins write."""
