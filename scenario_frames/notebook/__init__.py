"""The notebook layer: the ipywidgets filter panel and the altair charts."""
