"""The commands. Each module registers its commands on ``common.app`` when
imported; keep their top-level imports light (typer and mlgate's own light modules only)."""
