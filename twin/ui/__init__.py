"""The NiceGUI web UI (`twin ui`): it talks to the twin's HTTP API and to Prefect's API only."""
