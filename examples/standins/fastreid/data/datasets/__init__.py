"""Stand-in for ``fastreid.data.datasets``: the dataset registry."""


class Registry:
    """As fvcore's Registry: ``@REGISTRY.register()`` on a class, ``REGISTRY.get(name)``."""

    def __init__(self, name):
        self._name, self._obj_map = name, {}

    def register(self, obj=None):
        def deco(cls):
            if cls.__name__ in self._obj_map:
                raise KeyError(f"an object named {cls.__name__!r} was already registered in {self._name}")
            self._obj_map[cls.__name__] = cls
            return cls
        return deco if obj is None else deco(obj)

    def get(self, name):
        if name not in self._obj_map:
            raise KeyError(f"no object named {name!r} found in {self._name} registry")
        return self._obj_map[name]


DATASET_REGISTRY = Registry("DATASET")
