"""Data generation above the calculator: packed boxes, reference labels (GFN-xTB), MD sampling, EAN ions.

Unlike ``attnff.data`` (readers -> records -> tensors), these modules run MD and calculators,
so they sit above ``attnff.calculator`` in the package's layers.
"""
