"""The web UI and REST API (`swarm ui`): submit goals, watch runs live, inspect nodes, scrub history, decide approvals.

`server.UIServer` serves it on uvicorn; `app` is the Starlette application (routes, the Guard);
`openapi` its OpenAPI document; `graph` turns node states into the graph the page draws; `events`
streams the store's new events to open pages; `auth` decides who may use it; `queries` and
`actions` are what the API reads and changes.
"""

from swarm.ui.server import UIServer

__all__ = ["UIServer"]
