"""The core: story rules, events and ports. It knows no vendor and no platform."""
