"""The GitOps loop: a controller that keeps the live registries at the manifests (a
directory, or a git branch), reports drift, and reverts it when asked to self-heal.

`watch.controller.Controller` runs it; `watch.status` reads what it last did (without
importing the controller: `meshctl status` stays light)."""
