"""Built-in node scripts. Each module is a pluggy plugin, registered like any script the swarm writes."""
