"""The REST API shell (`meshctl serve`): FastAPI over one in-process RegistryManager."""

from reconciler.api.app import create_app

__all__ = ["create_app"]
