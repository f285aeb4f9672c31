"""The ASGI entry point gunicorn's workers import: settings come from RUNPLANE_* variables."""

from runplane.app import create_app

app = create_app()
