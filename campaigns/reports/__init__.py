"""Campaign reports and the dashboard: figures read from rollups, statistics, exports."""
