"""The bundled demo author and a local copy of the sites she publishes on."""
