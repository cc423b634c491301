"""Parameter presets shipped as TOML files (one file per preset)."""
