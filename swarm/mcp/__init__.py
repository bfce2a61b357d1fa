"""Tools from MCP servers ([mcp.servers] in swarm.toml), offered as node scripts of the catalogue.

- settings.py: the [mcp] settings, checked (standard library only: loading the config imports no SDK);
- client.py:   one session per server on an asyncio loop of its own thread, started at its first use,
               started again when the server died; the official `mcp` SDK is the client;
- scripts.py:  each allowed tool as a node script `mcp_{server}_{tool}` (routing finds it by retrieval),
               from what the server listed (kept next to the store, so a known server is not started
               until a call needs it);
- call.py:     what one call does: arguments checked against the tool's input schema, [approvals], the call,
               the record in the history (a `tool_calls` event), and a fork's replay of a recorded call;
- errors.py:   what goes wrong, said clearly.

`attach(engine)` registers the tools with the engine's catalogue; the engine closes the client.
"""

from __future__ import annotations

PLUGIN_NAME = "mcp"


def attach(engine):
    """Register the tools of every configured server with the engine's catalogue; returns the client (None: no server)."""
    servers = engine.config.mcp.configured()
    if not servers:
        return None
    from swarm.mcp.client import McpClient
    from swarm.mcp.scripts import LISTINGS_FILE, McpPlugin
    from swarm.store import folder

    plugin = McpPlugin(None, folder(engine.config) / LISTINGS_FILE, engine.catalogue)  # next to the store (or swarm.toml)
    client = McpClient(servers, engine.config, on_tools=plugin.listed)
    plugin.client = client
    try:
        plugin.load()
        earlier = engine.catalogue.pm.get_plugin(PLUGIN_NAME)  # a catalogue shared with an engine before this one
        if earlier is not None:
            engine.catalogue.pm.unregister(earlier)
        engine.catalogue.register(plugin, name=PLUGIN_NAME)
        plugin.registered = True
    except BaseException:
        client.close()
        raise
    return client
