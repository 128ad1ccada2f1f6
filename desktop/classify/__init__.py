"""The Classify page's parts: the results table and its delegates, the explanation view, the
background work (classify, retrain, explain), export and sorting files into folders."""
