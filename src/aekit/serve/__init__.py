"""aekit over HTTP: a FastAPI app over the tasks, and the static web viewer it serves.

::

    from aekit.serve import create_app
    app = create_app({"conv": aekit.load("runs/conv32")})      # then: uvicorn.run(app)

``aekit serve RUN`` and ``aekit view RUN`` start it from the command line. Endpoints are listed
in :data:`aekit.serve.endpoints.ENDPOINTS` (one entry each); limits in :class:`Limits`.
"""

from .app import create_app
from .endpoints import ENDPOINTS, Call, Endpoint
from .inputs import Limits, RequestError

__all__ = ["ENDPOINTS", "Call", "Endpoint", "Limits", "RequestError", "create_app"]
