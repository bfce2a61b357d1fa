"""Storage backends: one package per database, each implementing the ports of swarm/ports.py."""
