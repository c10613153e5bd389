"""The web UI: its sources in ``web/`` (React and Vite; ``make`` builds them into ``web/dist/``, packaged with the
wheel) and where the server finds the build (``kms_backend.server.ui`` serves it at ``/ui``)."""

from pathlib import Path

#: The built application (``npm run build`` in ``web/``).
DIST = Path(__file__).resolve().parent / "web" / "dist"

__all__ = ["DIST"]
