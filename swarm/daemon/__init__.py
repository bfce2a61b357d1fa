"""The daemon: goals dropped into a watched folder become runs, several at once, surviving crashes and restarts.

`service.Daemon` the loop, `goalfile` what a goal file may hold (pure), `folder` the moves on disk
and the watcher, `ledger` the goal ↔ run record in the store, `report` the result and error files,
`pidfile` the running daemon's pidfile, `eventlog` its JSON-lines log. The CLI is `swarm/cli/daemon.py`.
"""
