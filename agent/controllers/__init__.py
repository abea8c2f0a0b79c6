"""Controllers: translate observed objects into core views, and core plans into writes.

`queue` (one worker per key, dedup, settle barriers), `views` (objects → core views),
`gameserverset` (the GameServerSet reconciler), `manager` (caches + queue + leadership).
"""
