"""Reference and demo data shared by the services' seed commands: suppliers, REs, zones and a deterministic PDS generator."""
