"""The Datasets page's parts: the paged table model, dialogs, charts, and the operations the
page and the CLI share (desktop.datasets.operations, no Qt)."""
