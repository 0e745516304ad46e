"""The tables layer: pages become typed polars tables; the one definition of a model's costs."""
