"""Command groups beyond ``check``. Each module registers its commands on ``cli.app`` when
imported; keep their top-level imports light (typer and mlgate's own light modules only)."""
