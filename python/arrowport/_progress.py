"""A tqdm bar fed by arrowport's progress events."""

from tqdm.auto import tqdm


class TqdmProgress:
    """Rows on a tqdm bar; the total once the source knows it."""

    def __init__(self):
        self._bar = tqdm(unit=" rows", unit_scale=True, desc="arrowport")

    def __call__(self, event):
        kind = event.get("event")
        if kind == "phase":
            self._bar.set_description(event["name"])
        elif kind == "total" and event.get("rows") is not None:
            self._bar.total = event["rows"]
            self._bar.refresh()
        elif kind == "batch":
            self._bar.update(event["rows"])
        elif kind == "finished":
            self._bar.close()
