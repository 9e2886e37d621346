"""Stand-in for ``fastreid.data.datasets.bases.ImageDataset``."""


class ImageDataset:
    """``train``, ``query``, ``gallery``: lists of ``(img_path, pid, camid)`` (or callables returning them,
    as newer FastReID allows). Training pids/camids are strings prefixed with the dataset name."""

    def __init__(self, train, query, gallery, transform=None, mode="train", combineall=False, verbose=True,
                 **kwargs):
        self._train, self._query, self._gallery = train, query, gallery
        self.transform, self.mode = transform, mode

    @property
    def train(self):
        return self._train() if callable(self._train) else self._train

    @property
    def query(self):
        return self._query() if callable(self._query) else self._query

    @property
    def gallery(self):
        return self._gallery() if callable(self._gallery) else self._gallery
