pytest_plugins = ["tests.localcluster.fixtures"]
