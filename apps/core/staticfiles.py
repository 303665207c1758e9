"""Serve plotly.js from the installed `plotly` package, as `vendor/plotly.min.js`.

The Python package ships the matching browser bundle; pointing a finder at that
one file keeps the two versions in step without committing a 4 MB copy, and it
goes through collectstatic like any other asset (no CDN).
"""

from pathlib import Path

import plotly
from django.contrib.staticfiles.finders import BaseFinder
from django.core.files.storage import FileSystemStorage

PLOTLY_DIR = Path(plotly.__file__).parent / "package_data"
SERVED_AS = "vendor/plotly.min.js"


class PlotlyFinder(BaseFinder):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.storage = FileSystemStorage(location=str(PLOTLY_DIR))
        self.storage.prefix = "vendor"

    def check(self, **kwargs):
        return []

    def find(self, path, find_all=False, **kwargs):
        if path == SERVED_AS:
            match = str(PLOTLY_DIR / "plotly.min.js")
            return [match] if find_all else match
        return []

    def list(self, ignore_patterns):
        yield "plotly.min.js", self.storage
