"""The crontab: cron times, entries, the marker block, the store and its lock."""
