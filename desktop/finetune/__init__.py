"""The Fine-tune page's parts: the start form, the job view with its plots, the comparison with the
base model, and the plumbing that starts the trainer process and follows its events.

The page itself is desktop.pages.finetune_page; the trainer is models.finetune, run as its own process.
"""
