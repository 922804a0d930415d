"""Engine layer: the image service, one module per concern.

- model.py: `Image` (a record plus its config), `ContainerImage`, `ImageDetails`, reference rules;
- base.py: `ImageBase`, the state (records, reference index, layer sizes), lookup, tags, events;
- service.py: `ImageService` = the mixins below + list, inspect, history, tag;
- archive.py: load, save, import, commit;
- removal.py: rmi and prune;
- distribution.py: pull and push (registries: issue 12 lands here).
"""

from shim.engine.images.model import KIND, ContainerImage, Image, ImageDetails, chain_ids, short_id
from shim.engine.images.service import ImageService

__all__ = ["KIND", "ContainerImage", "Image", "ImageDetails", "ImageService", "chain_ids", "short_id"]
