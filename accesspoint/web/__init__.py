"""The node's HTTP face: one ASGI application (see `app.create_app`)."""
