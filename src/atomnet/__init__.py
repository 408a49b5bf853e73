"""atomnet: design tiny neural networks for microcontrollers from measured atom operators.

The method is AtomNet (AAAI 2025, "Designing Tiny Models from Operators under Extreme MCU
Constraints"): a database of measured atom operators (AtomDB) prices any architecture by kernel
additivity; a hardware-aware search picks the model with the most MACs that fits a board.
"""

__version__ = "0.1.0"
