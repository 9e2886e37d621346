"""Input checks, in two modules: :mod:`~reidprune.validation.arrays` (numbers and arrays, for the
scoring and selection functions) and :mod:`~reidprune.validation.paths` (paths read from files,
and the folders a command writes; no numpy, so they run before anything heavy is imported)."""
