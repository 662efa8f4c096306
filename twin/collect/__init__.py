"""The collection stage: dispatcher, collectors, export importers, the Ray pipeline."""
