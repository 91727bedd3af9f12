"""The evaluation harness: natural-language datasets, their scoring rules and label checks."""

from workbench.eval.nl import NL_DATASETS, NLDataset, load_nl, nl_dataset_path

__all__ = ["NL_DATASETS", "NLDataset", "load_nl", "nl_dataset_path"]
