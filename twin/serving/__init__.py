"""The twin over HTTP: request/response schemas, the Serve deployments and their app."""
