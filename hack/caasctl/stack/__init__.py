"""The real local stack: obtain, start, probe and stop the servers the platform runs on."""
