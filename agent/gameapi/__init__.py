"""The game's own HTTP endpoint: its counters and lists, written to its GameServer."""
