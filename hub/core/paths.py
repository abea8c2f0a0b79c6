"""Field paths in the form users write them; defined once in `okg.paths`."""

from okg.paths import child, entry, item, key, under

__all__ = ["child", "entry", "item", "key", "under"]
