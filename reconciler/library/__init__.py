"""The `RegistryManager` library: upstream's registry interface over any store."""

from reconciler.library.cache import Listener
from reconciler.library.manager import RegistryManager
from reconciler.library.snapshot import version_of
from reconciler.library.writing import EntryChange, Fence

__all__ = ["EntryChange", "Fence", "Listener", "RegistryManager", "version_of"]
