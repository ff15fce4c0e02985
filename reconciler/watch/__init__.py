"""The GitOps loop: a controller that keeps the live registries at the manifests (a
directory, or a git branch), reports drift, and reverts it when asked to self-heal.

`watch.controller.Controller` runs it; `watch.status` reads what it last did (without
importing the controller: `meshctl status` stays light)."""

DEFAULT_INTERVAL = 60.0  # seconds between full resyncs (and git fetches)
DEFAULT_DEBOUNCE = 0.1  # seconds to wait after a file event for more
